"""The MCP tools: the seed's eight, with the seed's argument names and its bugs fixed.

Docstrings are what agents read in `tools/list`: say what the tool answers and when to use
it, briefly (every word costs tokens in every session).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ..backends import catalogue, diagnosis, facts, live
from ..core import hygiene, raw, timespec
from ..promql import checks
from ..results import budget, models, shaping
from ..sources import selection
from . import arguments, directory, evaluating, fanout, fleet_lists, framing, reading

Step = Annotated[
    str | float | None,
    Field(description="30s, 5m or seconds; omitted: ~120 points, >= scrape interval"),
]
RangeFormat = Annotated[
    shaping.RangeFormat,
    Field(description="auto degrades to summaries, then top series, to fit the budget"),
]


async def list_metrics(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    limit: arguments.Limit = 500,
    start: arguments.TimeArg = None,
    end: arguments.TimeArg = None,
    namespace: arguments.Namespace = None,
    max_tokens: arguments.MaxTokens = None,
) -> models.MetricList:
    """List metric names that have data in a time window (default: the last hour).
    Prefer find_metrics_by_pattern when you know part of the name."""
    scope = await framing.scope(backends, datasource_id, start, end, discovery=True)
    names = await catalogue.label_values(scope.client, "__name__", scope.period, fresh=scope.fresh)
    page = models.page(names, limit, narrow="use find_metrics_by_pattern, or raise limit")
    return models.MetricList(datasource=scope.id, **page.fields("metrics"))


async def get_metric_metadata(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    metric_name: arguments.MetricName,
    max_tokens: arguments.MaxTokens = None,
) -> models.MetricMetadata:
    """Type (counter, gauge, histogram, summary), help text and unit of a metric: check it
    before choosing rate() (counters) or plain values (gauges)."""
    metric = arguments.check_metric_name(metric_name)
    scope = await framing.scope(backends, datasource_id)
    raw = await catalogue.metadata(scope.client, metric)
    if not raw:  # "no metadata" is a verdict: confirm it past the cache
        raw = await catalogue.metadata(scope.client, metric, fresh=True)
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
    return models.MetricMetadata(datasource=scope.id, metric=metric, metadata=entries, hint=hint)


async def query_instant(
    backends: live.Backends,
    datasource_id: arguments.OneDatasource = None,
    *,
    promql: arguments.PromQL,
    time: arguments.TimeArg = None,
    limit: arguments.Limit = 200,
    datasources: arguments.Datasources = None,
    labels: arguments.Labels = None,
    namespace: arguments.Namespace = None,
    max_tokens: arguments.MaxTokens = None,
) -> dict[str, Any] | budget.Encoded:
    """Evaluate PromQL at one moment (default now): each series' value. Labels shared by
    all series are in common_labels. Over limit or budget: the highest values are kept,
    with stats of all in `values`. datasources/labels instead of datasource_id: many."""
    query = checks.check_limits(promql)
    target = fanout.target(datasource_id, datasources, labels)
    if isinstance(target, selection.Selector):
        return await fanout.query_instant(backends, target, promql, time, limit)
    scope = await framing.scope(backends, target)
    moment = (
        scope.now if time is None else timespec.parse_time(time, argument="time", now=scope.now)
    )
    at = timespec.milliseconds(moment)
    evaluated = await evaluating.instant(scope, promql, at)
    if evaluated.result_type != "vector":
        return _plain(scope, query, at, evaluated)
    request = shaping.InstantRequest(scope.id, query, at, limit, evaluated.warnings)
    samples = shaping.vector(raw.objects(evaluated.result, raw.Sample))
    shaped = shaping.shape_instant(request, samples, budget.current.get())
    if shaped.data["total_series"]:
        return shaped
    # The hour before `at`, on the grid discovery tools and completions use: one cache entry.
    return await _explained(shaped.data, scope, query, catalogue.recent(at))


def _plain(
    scope: framing.Scope, query: str, at: float, evaluated: evaluating.Evaluated
) -> dict[str, Any]:
    """A scalar or string result."""
    result_type, result, warnings = evaluated.result_type, evaluated.result, evaluated.warnings
    scalar = None
    if isinstance(result, list) and len(result) == 2:
        value = result[1]
        scalar = models.number(value) if result_type == "scalar" else hygiene.clean(value)
    return models.InstantResult(
        datasource=scope.id,
        query=query,
        time=timespec.isoformat(at),
        result_type=hygiene.clean(result_type),
        scalar=scalar,
        total_series=0,
        warnings=list(warnings) or None,
    ).model_dump(mode="json", exclude_none=True)


async def query_range(
    backends: live.Backends,
    datasource_id: arguments.OneDatasource = None,
    *,
    promql: arguments.PromQL,
    start: arguments.TimeArg = None,
    end: arguments.TimeArg = None,
    step: Step = None,
    limit: arguments.Limit = 50,
    format: RangeFormat = "auto",
    datasources: arguments.Datasources = None,
    labels: arguments.Labels = None,
    namespace: arguments.Namespace = None,
    max_tokens: arguments.MaxTokens = None,
) -> dict[str, Any] | budget.Encoded:
    """Evaluate PromQL over a window (default the last hour). Each series' `values[i]` is
    at start + i*step_seconds; shared labels are in common_labels. Too big for the budget:
    coarser step, then per-series summaries (min/max/mean/first/last/change), then the
    series with the highest maximum; `summarized` says what was done."""
    query = checks.check_limits(promql)
    target = fanout.target(datasource_id, datasources, labels)
    if isinstance(target, selection.Selector):
        fleet_call = fanout.RangeCall(promql, start, end, step, limit, format)
        return await fanout.query_range(backends, target, fleet_call)
    scope = await framing.scope(backends, target, start, end)
    start_s, end_s = scope.period
    step_s = await _step(scope, step)
    evaluated = await evaluating.over_range(scope, promql, start_s, end_s, step_s)
    count = evaluating.points(start_s, end_s, step_s)
    series = shaping.matrix(raw.objects(evaluated.result, raw.Series), start_s, step_s, count)
    request = shaping.RangeRequest(
        datasource=scope.id,
        query=query,
        start=start_s,
        end=end_s,
        step=step_s,
        step_chosen=step is None,
        format=format,
        limit=limit,
        result_type=evaluated.result_type,
        warnings=evaluated.warnings,
    )
    shaped = shaping.shape_range(request, series, budget.current.get())
    if series:
        return shaped
    return await _explained(shaped.data, scope, query, catalogue.aligned(scope.period))


async def _step(scope: framing.Scope, step: str | float | None) -> float:
    """The step given, or query_range's default from the datasource's scrape interval."""
    interval = None
    if step is None:
        interval = (await facts.scrape_interval(scope.datasource, scope.client)).seconds
    return evaluating.step(scope.period, step, interval)


async def get_metric_labels(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    metric_name: arguments.MetricName,
    start: arguments.TimeArg = None,
    end: arguments.TimeArg = None,
    namespace: arguments.Namespace = None,
    max_tokens: arguments.MaxTokens = None,
) -> models.LabelNames:
    """Label names a metric carries (default: series of the last hour). Use before
    writing matchers or `by (...)` clauses."""
    metric = arguments.check_metric_name(metric_name)
    scope = await framing.scope(backends, datasource_id, start, end, discovery=True)
    names = await catalogue.label_names(
        scope.client, scope.period, matches=[metric], fresh=scope.fresh
    )
    hint = None
    if not names:
        hint = "no series of this metric in the window: check the name or widen start"
    return models.LabelNames(
        datasource=scope.id, metric=metric, labels=names, total=len(names), hint=hint
    )


async def get_label_values(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    label_name: Annotated[str, Field(description="label name, e.g. job")],
    metric_name: Annotated[
        str | None, Field(description="only values on series of this metric")
    ] = None,
    limit: arguments.Limit = 200,
    start: arguments.TimeArg = None,
    end: arguments.TimeArg = None,
    namespace: arguments.Namespace = None,
    max_tokens: arguments.MaxTokens = None,
) -> models.LabelValues:
    """Values a label takes (default: series of the last hour), optionally only on one
    metric's series. Use to find the exact job, namespace or instance to filter on."""
    label = arguments.check_label_name(label_name)
    metric = arguments.check_metric_name(metric_name) if metric_name is not None else None
    scope = await framing.scope(backends, datasource_id, start, end, discovery=True)
    values = await catalogue.label_values(
        scope.client, label, scope.period, matches=[metric] if metric else [], fresh=scope.fresh
    )
    page = models.page(
        values,
        limit,
        narrow="pass metric_name to narrow, or raise limit",
        empty="no values in the window: check the label with get_metric_labels or widen start",
    )
    return models.LabelValues(
        datasource=scope.id, label=label, metric=metric, **page.fields("values")
    )


async def find_metrics_by_pattern(
    backends: live.Backends,
    datasource_id: arguments.OneDatasource = None,
    *,
    pattern: Annotated[
        str, Field(description="RE2 regex searched within names, e.g. http.*duration")
    ],
    limit: arguments.Limit = 200,
    start: arguments.TimeArg = None,
    end: arguments.TimeArg = None,
    datasources: arguments.Datasources = None,
    labels: arguments.Labels = None,
    namespace: arguments.Namespace = None,
    max_tokens: arguments.MaxTokens = None,
) -> models.MetricList | dict[str, Any]:
    """Metric names containing a regex match (default: series of the last hour), filtered
    by the backend. The fastest way to find the metric you need."""
    regex = arguments.check_regex(pattern)
    target = fanout.target(datasource_id, datasources, labels)
    if isinstance(target, selection.Selector):
        return await fleet_lists.find_metrics(backends, target, regex, (start, end), limit)
    scope = await framing.scope(backends, target, start, end, discovery=True)
    names = await catalogue.label_values(
        scope.client,
        "__name__",
        scope.period,
        matches=[reading.name_matcher(regex)],
        fresh=scope.fresh,
    )
    page = models.page(names, limit, narrow="use a more specific pattern")
    return models.MetricList(datasource=scope.id, **page.fields("metrics"))


TOOLS: tuple[framing.Tool, ...] = (
    directory.list_datasources,
    list_metrics,
    get_metric_metadata,
    query_instant,
    query_range,
    get_metric_labels,
    get_label_values,
    find_metrics_by_pattern,
)


async def _explained(
    empty: dict[str, Any], scope: framing.Scope, query: str, window: catalogue.Period
) -> dict[str, Any]:
    """An empty answer with its hint and "did you mean" suggestions about `window`."""
    empty["hint"], suggestions = await diagnosis.explain_empty(
        scope.datasource, scope.client, query, window
    )
    if suggestions:
        empty["suggestions"] = suggestions
    return empty
