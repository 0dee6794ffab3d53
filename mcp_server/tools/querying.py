"""The MCP tools: the seed's eight, with the seed's argument names and its bugs fixed.

Docstrings are what agents read in `tools/list`: say what the tool answers and when to use
it, briefly (every word costs tokens in every session).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from ..backends import catalogue, diagnosis, facts, live, parsing, prometheus
from ..core import errors, hygiene, timespec
from ..promql import checks, syntax
from ..protocol import calls
from ..results import budget, models, shaping
from ..sources import datasources
from . import arguments

READ_ONLY = {"readOnlyHint": True}
"""Read-only makes destructiveHint moot, and openWorldHint defaults to true: both are left out."""

RANGE_TARGET_POINTS = 120
"""Points per series when query_range chooses its own step."""

DatasourceId = Annotated[str, Field(description="id from list_datasources")]
TimeArg = Annotated[
    str | float | None,
    Field(description="RFC 3339, unix seconds, or now-1h"),
]
Limit = Annotated[int, Field(ge=1, le=10_000, description="maximum items to return")]


def default_step(span_seconds: float, scrape_interval_seconds: float) -> float:
    """query_range's step when none is given: about RANGE_TARGET_POINTS points, rounded,
    and never finer than the scrape interval (finer steps repeat the same samples)."""
    return max(
        timespec.auto_step(span_seconds, target_points=RANGE_TARGET_POINTS),
        timespec.auto_step(scrape_interval_seconds, target_points=1),
    )


def register(app: FastMCP, backends: live.Backends) -> None:
    """Attach every tool to `app`; they read `backends` on every call."""

    @app.tool(annotations=READ_ONLY, output_schema=None)
    @calls.guarded("list_datasources")
    async def list_datasources(
        max_tokens: budget.MaxTokens = None,
    ) -> models.DatasourceList:
        """List the Prometheus-compatible datasources you can query, with their ids, types and
        descriptions. Start here: every other tool takes a datasource_id from this list."""
        snapshot = backends.registry.current()
        visible = await backends.visible(snapshot)
        items = [
            models.DatasourceInfo(
                id=ds.id,
                name=ds.name,
                type=ds.prometheus_type.value,
                uid=ds.uid,
                description=ds.description or None,
                labels=dict(ds.labels) or None,
                source=ds.source.kind.value,
            )
            for ds in visible
        ]
        unavailable = [
            models.UnavailableDatasource(
                id=broken.id, source=broken.source.kind.value, reason=hygiene.clean(broken.reason)
            )
            for broken in await backends.unavailable(snapshot)
        ]
        return models.DatasourceList(
            datasources=items, total=len(items), unavailable=unavailable or None
        )

    @app.tool(annotations=READ_ONLY, output_schema=None)
    @calls.guarded("list_metrics")
    async def list_metrics(
        datasource_id: DatasourceId,
        limit: Limit = 500,
        start: TimeArg = None,
        end: TimeArg = None,
        max_tokens: budget.MaxTokens = None,
    ) -> models.MetricList:
        """List metric names that have data in a time window (default: the last hour).
        Prefer find_metrics_by_pattern when you know part of the name."""
        datasource, client = await backends.resolve(datasource_id)
        now = backends.clock()
        period = catalogue.window(start, end, now=now, discovery=True)
        names = await catalogue.label_values(
            client, "__name__", period, fresh=catalogue.still_open(period, now)
        )
        shown, truncated = models.cap(names, limit, "use find_metrics_by_pattern, or raise limit")
        return models.MetricList(
            datasource=datasource.id, metrics=shown, total=len(names), truncated=truncated
        )

    @app.tool(annotations=READ_ONLY, output_schema=None)
    @calls.guarded("get_metric_metadata")
    async def get_metric_metadata(
        datasource_id: DatasourceId,
        metric_name: Annotated[str, Field(description="exact metric name")],
        max_tokens: budget.MaxTokens = None,
    ) -> models.MetricMetadata:
        """Type (counter, gauge, histogram, summary), help text and unit of a metric: check it
        before choosing rate() (counters) or plain values (gauges)."""
        metric = arguments.check_metric_name(metric_name)
        datasource, client = await backends.resolve(datasource_id)
        raw = await catalogue.metadata(client, metric)
        if not raw:  # "no metadata" is a verdict: confirm it past the cache
            raw = await catalogue.metadata(client, metric, fresh=True)
        entries = [
            models.MetadataEntry(
                type=hygiene.clean(item.get("type", "unknown")),
                help=hygiene.clean(item.get("help", "")),
                unit=hygiene.clean(item["unit"]) if item.get("unit") else None,
            )
            for item in raw
        ]
        hint = None
        if not entries:
            hint = (
                "no metadata: the metric may not exist (find_metrics_by_pattern), or its "
                "exporter publishes no TYPE/HELP; infer the type from the name (_total "
                "counters, _bucket histograms)"
            )
        return models.MetricMetadata(
            datasource=datasource.id, metric=metric, metadata=entries, hint=hint
        )

    @app.tool(annotations=READ_ONLY, output_schema=None)
    @calls.guarded("query_instant")
    async def query_instant(
        datasource_id: DatasourceId,
        promql: Annotated[str, Field(description="PromQL expression")],
        time: TimeArg = None,
        limit: Limit = 200,
        max_tokens: budget.MaxTokens = None,
    ) -> dict[str, Any] | budget.Encoded:
        """Evaluate PromQL at one moment (default now): each series' value. Labels shared by
        all series are in common_labels. Over limit or budget: the highest values are kept,
        with stats of all in `values`. Use query_range for trends."""
        query = checks.check_limits(promql)
        datasource, client = await backends.resolve(datasource_id)
        at = timespec.milliseconds(
            timespec.parse_time(time, argument="time", now=backends.clock())
            if time is not None
            else backends.clock()
        )
        answer = await parsing.send(
            client, "/api/v1/query", [("query", promql), ("time", f"{at:.3f}")], promql
        )
        data: dict[str, Any] = answer.data or {}
        result_type = str(data.get("resultType", "vector"))
        raw = data.get("result")
        if result_type == "matrix":
            raise errors.InvalidQuery(
                "the query returns a range vector (a selector with [window]); use query_range "
                "for values over time, or apply a function such as rate() or avg_over_time()"
            )
        if result_type != "vector":
            scalar = None
            if isinstance(raw, list) and len(raw) == 2:
                scalar = models.number(raw[1]) if result_type == "scalar" else hygiene.clean(raw[1])
            return models.InstantResult(
                datasource=datasource.id,
                query=query,
                time=timespec.isoformat(at),
                result_type=hygiene.clean(result_type),
                scalar=scalar,
                total_series=0,
                warnings=list(_warnings(answer)) or None,
            ).model_dump(mode="json", exclude_none=True)
        request = shaping.InstantRequest(datasource.id, query, at, limit, _warnings(answer))
        shaped = shaping.shape_instant(request, shaping.vector(raw or []), budget.current.get())
        if shaped.data["total_series"]:
            return shaped
        # The hour before `at`, on the grid discovery tools and completions use: one cache entry.
        return await _explained(shaped.data, datasource, client, query, catalogue.recent(at))

    @app.tool(annotations=READ_ONLY, output_schema=None)
    @calls.guarded("query_range")
    async def query_range(
        datasource_id: DatasourceId,
        promql: Annotated[str, Field(description="PromQL expression")],
        start: TimeArg = None,
        end: TimeArg = None,
        step: Annotated[
            str | float | None,
            Field(description="30s, 5m or seconds; omitted: ~120 points, >= scrape interval"),
        ] = None,
        limit: Limit = 50,
        format: Annotated[
            shaping.RangeFormat,
            Field(description="auto degrades to summaries, then top series, to fit the budget"),
        ] = "auto",
        max_tokens: budget.MaxTokens = None,
    ) -> dict[str, Any] | budget.Encoded:
        """Evaluate PromQL over a window (default the last hour). Each series' `values[i]` is
        at start + i*step_seconds; shared labels are in common_labels. Too big for the budget:
        coarser step, then per-series summaries (min/max/mean/first/last/change), then the
        series with the highest maximum; `summarized` says what was done."""
        query = checks.check_limits(promql)
        datasource, client = await backends.resolve(datasource_id)
        start_s, end_s = catalogue.window(start, end, now=backends.clock())
        span = end_s - start_s
        if step is not None:
            step_s = timespec.milliseconds(timespec.parse_duration(step, argument="step"))
            if step_s <= 0:
                raise errors.InvalidArgument(f"step={step!r} is below Prometheus's 1ms resolution")
        else:
            interval = await facts.scrape_interval(datasource, client)
            step_s = default_step(span, interval.seconds)
        if span / step_s + 1 > timespec.MAX_POINTS_PER_SERIES:
            raise errors.InvalidArgument(
                f"step {timespec.format_duration(step_s)} over "
                f"{timespec.format_duration(span)} gives more than "
                f"{timespec.MAX_POINTS_PER_SERIES} points per series; use a step of at least "
                f"{timespec.format_duration(timespec.auto_step(span, target_points=1000))}"
            )
        answer = await parsing.send(
            client,
            "/api/v1/query_range",
            [
                ("query", promql),
                ("start", f"{start_s:.3f}"),
                ("end", f"{end_s:.3f}"),
                ("step", f"{step_s:.3f}"),  # every digit: `:g` sent 1234567 as 1.23457e+06
            ],
            promql,
        )
        data: dict[str, Any] = answer.data or {}
        count = round(span * 1000) // round(step_s * 1000) + 1  # Prometheus's own ms count
        series = shaping.matrix(data.get("result") or [], start_s, step_s, count)
        request = shaping.RangeRequest(
            datasource=datasource.id,
            query=query,
            start=start_s,
            end=end_s,
            step=step_s,
            step_chosen=step is None,
            format=format,
            limit=limit,
            result_type=hygiene.clean(data.get("resultType", "matrix")),
            warnings=_warnings(answer),
        )
        shaped = shaping.shape_range(request, series, budget.current.get())
        if series:
            return shaped
        period = catalogue.aligned((start_s, end_s))
        return await _explained(shaped.data, datasource, client, query, period)

    @app.tool(annotations=READ_ONLY, output_schema=None)
    @calls.guarded("get_metric_labels")
    async def get_metric_labels(
        datasource_id: DatasourceId,
        metric_name: Annotated[str, Field(description="exact metric name")],
        start: TimeArg = None,
        end: TimeArg = None,
        max_tokens: budget.MaxTokens = None,
    ) -> models.LabelNames:
        """Label names a metric carries (default: series of the last hour). Use before
        writing matchers or `by (...)` clauses."""
        metric = arguments.check_metric_name(metric_name)
        datasource, client = await backends.resolve(datasource_id)
        now = backends.clock()
        period = catalogue.window(start, end, now=now, discovery=True)
        names = await catalogue.label_names(
            client, period, matches=[metric], fresh=catalogue.still_open(period, now)
        )
        hint = None
        if not names:
            hint = "no series of this metric in the window: check the name or widen start"
        return models.LabelNames(
            datasource=datasource.id, metric=metric, labels=names, total=len(names), hint=hint
        )

    @app.tool(annotations=READ_ONLY, output_schema=None)
    @calls.guarded("get_label_values")
    async def get_label_values(
        datasource_id: DatasourceId,
        label_name: Annotated[str, Field(description="label name, e.g. job")],
        metric_name: Annotated[
            str | None, Field(description="only values on series of this metric")
        ] = None,
        limit: Limit = 200,
        start: TimeArg = None,
        end: TimeArg = None,
        max_tokens: budget.MaxTokens = None,
    ) -> models.LabelValues:
        """Values a label takes (default: series of the last hour), optionally only on one
        metric's series. Use to find the exact job, namespace or instance to filter on."""
        label = arguments.check_label_name(label_name)
        metric = arguments.check_metric_name(metric_name) if metric_name is not None else None
        datasource, client = await backends.resolve(datasource_id)
        now = backends.clock()
        period = catalogue.window(start, end, now=now, discovery=True)
        values = await catalogue.label_values(
            client,
            label,
            period,
            matches=[metric] if metric else [],
            fresh=catalogue.still_open(period, now),
        )
        shown, truncated = models.cap(values, limit, "pass metric_name to narrow, or raise limit")
        hint = None
        if not values:
            hint = "no values in the window: check the label with get_metric_labels or widen start"
        return models.LabelValues(
            datasource=datasource.id,
            label=label,
            metric=metric,
            values=shown,
            total=len(values),
            truncated=truncated,
            hint=hint,
        )

    @app.tool(annotations=READ_ONLY, output_schema=None)
    @calls.guarded("find_metrics_by_pattern")
    async def find_metrics_by_pattern(
        datasource_id: DatasourceId,
        pattern: Annotated[
            str, Field(description="RE2 regex searched within names, e.g. http.*duration")
        ],
        limit: Limit = 200,
        start: TimeArg = None,
        end: TimeArg = None,
        max_tokens: budget.MaxTokens = None,
    ) -> models.MetricList:
        """Metric names containing a regex match (default: series of the last hour), filtered
        by the backend. The fastest way to find the metric you need."""
        regex = arguments.check_regex(pattern)
        datasource, client = await backends.resolve(datasource_id)
        now = backends.clock()
        period = catalogue.window(start, end, now=now, discovery=True)
        matcher = "{__name__=~" + syntax.quote(f".*(?:{regex}).*") + "}"
        names = await catalogue.label_values(
            client, "__name__", period, matches=[matcher], fresh=catalogue.still_open(period, now)
        )
        shown, truncated = models.cap(names, limit, "use a more specific pattern")
        return models.MetricList(
            datasource=datasource.id, metrics=shown, total=len(names), truncated=truncated
        )


def _warnings(answer: prometheus.ApiResult) -> tuple[str, ...]:
    """Prometheus's warnings are its text (they may quote labels): cleaned like any other."""
    return tuple(hygiene.clean(w) for w in answer.warnings)


async def _explained(
    empty: dict[str, Any],
    datasource: datasources.Datasource,
    client: prometheus.PrometheusClient,
    query: str,
    window: catalogue.Period,
) -> dict[str, Any]:
    """An empty answer with its hint and "did you mean" suggestions about `window`."""
    empty["hint"], suggestions = await diagnosis.explain_empty(datasource, client, query, window)
    if suggestions:
        empty["suggestions"] = suggestions
    return empty
