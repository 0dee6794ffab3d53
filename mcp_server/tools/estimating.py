"""estimate_query_cost: what a query would cost before it runs.

It asks the backend for counts only, never for series lists (those may be huge and, on
Prometheus 2.x, cannot be limited): `count(<selector>)` at a few instants of the window,
then `count(<query>)` and a sample `topk(10, <query>) or bottomk(10, <query>)` at its end.
Token sizes come from the query tools' own encoding (`shaping`) applied to series shaped
like the sample, so the estimate follows that encoding when it changes.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Annotated

import promql_parser
from pydantic import Field

from ..backends import facts, live, parsing, prometheus
from ..core import errors, hygiene, raw, timespec
from ..promql import checks, syntax
from ..results import budget, promql_help, shaping
from . import arguments, evaluating, framing

MAX_PROBED_SELECTORS = 8
"""Selectors whose series are counted; queries with more are rare and costly to probe."""
PROBE_POINTS = 10
"""Instants of the window at which each selector's series are counted."""
SAMPLE_SERIES = 10
"""Series with the highest and as many with the lowest values are fetched to measure the
size of labels and values (the ends of the range differ most in length)."""
FAR_OVER_BUDGET = 10
"""Results this many times over the token budget lose most of their detail to shaping."""
HEAVY_SELECTOR_SERIES = 10_000
"""A selector reading more series than this is expensive for the backend."""
FEW_SERIES = 20
_UNLIMITED = 10**9


async def estimate_query_cost(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    promql: arguments.PromQL,
    start: arguments.TimeArg = None,
    end: arguments.TimeArg = None,
    step: Annotated[
        str | float | None, Field(description="as for query_range; omitted: its default")
    ] = None,
    max_tokens: arguments.MaxTokens = None,
) -> promql_help.QueryCost:
    """Before a big query: series each selector reads; series, points and tokens that
    query_instant (at end) and query_range would return, judged against the token budget
    (max_tokens as you would pass it), with advice to shrink them. Runs only counts."""
    query = checks.check_limits(promql)
    scope = await framing.scope(backends, datasource_id, start, end)
    start_s, end_s = scope.period
    step_s = timespec.parse_duration(step, argument="step") if step is not None else None
    # The counts wrap the query, which would move Prometheus's positions: parse it first.
    await parsing.backend_verdict(scope.client, promql)
    problem = checks.parse_problem(query)
    if problem is not None:
        raise errors.Unsupported(
            "the datasource parses this query but proms-mcp's parser does not "
            f"({hygiene.quoted(problem)}), so its cost cannot be estimated; query_instant "
            "and query_range run it as it is"
        )
    expr = promql_parser.parse(query)
    if step_s is None:  # query_range's default
        interval = await facts.scrape_interval(scope.datasource, scope.client)
        step_s = evaluating.default_step(end_s - start_s, interval.seconds)
    estimate = _Estimate(scope.client, query, expr, (start_s, end_s, step_s))
    return await estimate.run(scope.id)


TOOLS: tuple[framing.Tool, ...] = (estimate_query_cost,)


_Sample = list[tuple[dict[str, str], float]]


class _Estimate:
    """The counting queries of one estimate_query_cost call, and the arithmetic after."""

    def __init__(
        self,
        client: prometheus.PrometheusClient,
        query: str,
        expr: promql_parser.Expr,
        window: tuple[float, float, float],
    ) -> None:
        self.client = client
        self.query = query
        self.expr = expr
        self.start, self.end, self.step = window
        self.kind = syntax.result_type(expr)
        self.budget = budget.current.get()

    def wrap(self, before: str, after: str = ")") -> str:
        """The query inside a call; the newline ends a `# comment` the query may end with."""
        return f"{before}\n{self.query}\n{after}"

    async def instant(self, query: str) -> _Sample:
        answer = await self.client.get(
            "/api/v1/query", [("query", query), ("time", f"{self.end:.3f}")]
        )
        data = raw.fields(answer.data, raw.QueryData)
        result = data.get("result")
        if data.get("resultType") == "vector" and isinstance(result, list):
            return shaping.vector(raw.objects(result, raw.Sample))
        if isinstance(result, list) and len(result) == 2:  # a scalar or a string
            return [({}, _float(result[1]))]
        return []

    async def selector_series(self, selector: str) -> int:
        """The most series `selector` has at once, counted at PROBE_POINTS instants."""
        span = self.end - self.start
        probe_step = max(self.step, timespec.auto_step(span, target_points=PROBE_POINTS))
        first = self.end - math.floor(span / probe_step) * probe_step
        answer = await self.client.get(
            "/api/v1/query_range",
            [
                ("query", f"count(\n{selector}\n)"),
                ("start", f"{first:.3f}"),
                ("end", f"{self.end:.3f}"),
                ("step", f"{probe_step:g}"),
            ],
        )
        result = raw.objects(raw.fields(answer.data, raw.QueryData).get("result"), raw.Series)
        counts = [_float(v) for s in result for _, v in s.get("values") or ()]
        return int(max(counts, default=0))

    async def result_size(self) -> tuple[int, int, _Sample]:
        """(series, samples, a few series) of the query's result at end."""
        if self.kind == "matrix":
            counted, summed = await asyncio.gather(
                self.instant(self.wrap("count(count_over_time(", "))")),
                self.instant(self.wrap("sum(count_over_time(", "))")),
            )
            return int(_value(counted)), int(_value(summed)), []
        if self.kind != "vector":
            return 1, 1, await self.instant(self.query)
        counted, sample = await asyncio.gather(
            self.instant(self.wrap("count(")),
            self.instant(
                self.wrap(f"topk({SAMPLE_SERIES},", f") or bottomk({SAMPLE_SERIES},")
                + f"\n{self.query}\n)"
            ),
        )
        series = int(_value(counted))
        return series, series, sample

    async def run(self, datasource: str) -> promql_help.QueryCost:
        deep = syntax.depth(self.expr) > syntax.MAX_DEPTH
        found = [] if deep else syntax.selectors(self.expr)
        probed = found[:MAX_PROBED_SELECTORS]
        size, counts = await asyncio.gather(
            self.result_size(),
            asyncio.gather(*(self.selector_series(s) for s in probed)),
        )
        series, samples, sample = size
        selectors = [
            promql_help.SelectorCost(selector=s, series=n)
            for s, n in zip(probed, counts, strict=True)
        ]
        per_series = int((self.end - self.start) // self.step) + 1
        if self.kind == "matrix":
            instant = promql_help.ToolCost(
                series=series, points=samples, tokens=0, verdict="refused"
            )
            ranged = promql_help.ToolCost(series=series, points=0, tokens=0, verdict="refused")
        else:
            tokens = self.instant_tokens(datasource, series, sample)
            instant = promql_help.ToolCost(
                series=series, points=series, tokens=tokens, verdict=self.verdict(tokens)
            )
            refused = per_series > timespec.MAX_POINTS_PER_SERIES
            # A refused range has no answer to size, and sizing a grid of that many points
            # could not even be allocated (a step of 1 ms over years).
            tokens = 0 if refused else self.range_tokens(datasource, series, sample, per_series)
            ranged = promql_help.ToolCost(
                series=series,
                points=series * per_series,
                tokens=tokens,
                verdict="refused" if refused else self.verdict(tokens),
            )
        note = "series counted at end: series that come and go in the window add to query_range"
        if len(found) > len(probed):
            note += f"; the first {len(probed)} of {len(found)} selectors counted"
        return promql_help.QueryCost(
            datasource=datasource,
            start=timespec.isoformat(self.start),
            end=timespec.isoformat(self.end),
            step=timespec.format_duration(self.step),
            points_per_series=per_series,
            budget_tokens=self.budget,
            selectors=selectors or None,
            query_instant=instant,
            query_range=ranged,
            advice=self.advise(instant, ranged, selectors, sample, datasource) or None,
            note=note,
        )

    def verdict(self, tokens: int) -> str:
        if tokens <= self.budget:
            return "fine"
        return "over budget" if tokens <= FAR_OVER_BUDGET * self.budget else "far over budget"

    def instant_tokens(self, datasource: str, series: int, sample: _Sample) -> int:
        request = shaping.InstantRequest(datasource, self.query, self.end, _UNLIMITED, ())

        def measure(samples: _Sample) -> int:
            return shaping.shape_instant(request, samples, _UNLIMITED).tokens

        return _extrapolate(measure, sample, series)

    def range_tokens(self, datasource: str, series: int, sample: _Sample, points: int) -> int:
        request = shaping.RangeRequest(
            datasource=datasource,
            query=self.query,
            start=self.start,
            end=self.end,
            step=self.step,
            step_chosen=False,
            format="points",
            limit=_UNLIMITED,
            result_type="matrix",
            warnings=(),
        )

        def measure(samples: _Sample) -> int:
            grid = [shaping.Series(labels, [value] * points) for labels, value in samples]
            return shaping.shape_range(request, grid, _UNLIMITED).tokens

        return _extrapolate(measure, sample, series)

    def fitting_step(self, datasource: str, series: int, sample: _Sample) -> float | None:
        """The finest step at which query_range's result fits the budget, if one keeps at
        least shaping.MIN_POINTS points per series."""
        span = self.end - self.start
        target = int(span // self.step) + 1
        while True:
            target = int(target / 1.5)
            step = max(self.step, timespec.auto_step(span, target_points=max(target, 1)))
            points = int(span // step) + 1
            if points < shaping.MIN_POINTS:
                return None
            if self.range_tokens(datasource, series, sample, points) <= self.budget:
                return step

    def advise(
        self,
        instant: promql_help.ToolCost,
        ranged: promql_help.ToolCost,
        selectors: list[promql_help.SelectorCost],
        sample: _Sample,
        datasource: str,
    ) -> list[str]:
        span = self.end - self.start
        per_series = int(span // self.step) + 1
        advice: list[str] = []
        if self.kind == "matrix":
            advice.append(
                "a range vector is no result for query_range or query_instant: wrap it, e.g. "
                "rate(...) or avg_over_time(...)"
            )
        elif per_series > timespec.MAX_POINTS_PER_SERIES:
            wider = timespec.auto_step(span, target_points=1000)
            advice.append(
                f"{per_series} points per series is over query_range's limit of "
                f"{timespec.MAX_POINTS_PER_SERIES}; use step={timespec.format_duration(wider)}"
            )
        over = instant.verdict != "fine" or ranged.verdict not in ("fine", "refused")
        aggregated = isinstance(_unparen(self.expr), promql_parser.AggregateExpr)
        if over and instant.series > FEW_SERIES and not aggregated:
            names = [k for labels, _ in sample for k in labels if k != "__name__"]
            by = "job" if "job" in names else (hygiene.name(names[0]) if names else "<label>")
            advice.append(
                f"{instant.series} series: aggregate, e.g. sum by ({by}) (...), or keep a few "
                "with topk(10, ...); query tools keep only `limit` series"
            )
        if ranged.verdict in ("over budget", "far over budget"):
            step = self.fitting_step(datasource, ranged.series, sample)
            if step is not None:
                advice.append(
                    f"step={timespec.format_duration(step)} fits the budget "
                    f"({int(span // step) + 1} points per series)"
                )
            else:
                advice.append(
                    "even a coarse step leaves too many points: fewer series, a shorter "
                    "window, or query_range format=summary"
                )
        for selector in selectors:
            if selector.series > HEAVY_SELECTOR_SERIES:
                advice.append(
                    f"{selector.selector} reads {selector.series} series: add label matchers "
                    "to cut the backend's work"
                )
        if instant.series == 0 and not any(s.series for s in selectors):
            advice.append(
                "nothing matches in the window: check names with find_metrics_by_pattern and "
                "values with get_label_values"
            )
        return advice


def _extrapolate(measure: Callable[[_Sample], int], sample: _Sample, series: int) -> int:
    """Tokens of `series` series like `sample`: measured outright when the sample is all
    of them, else from the growth between m and 2m copies of it."""
    if series <= len(sample):
        return measure(sample[:series])
    base = (sample * 2)[: max(len(sample), 2)] or [({}, 0.0), ({}, 0.0)]
    small, large = measure(base), measure(base * 2)
    per_series = (large - small) / len(base)
    return math.ceil(small + (series - len(base)) * per_series)


def _unparen(expr: promql_parser.Expr) -> promql_parser.Expr:
    while isinstance(expr, promql_parser.ParenExpr):
        expr = expr.expr
    return expr


def _float(value: raw.Json) -> float:
    if not isinstance(value, int | float | str):
        return math.nan
    try:
        return float(value)
    except ValueError:
        return math.nan


def _value(sample: _Sample) -> float:
    value = sample[0][1] if sample else 0.0
    return value if math.isfinite(value) else 0.0
