"""Query results shaped to fit a token budget, in documented steps.

query_range, format `auto` (each step only when the previous one did not fit):
  1. compact encoding, always: labels every series shares are given once
     (`common_labels`), and each series is a plain value array on one start/step grid;
  2. a coarser step, when the caller let proms-mcp choose it: every k-th point, which is
     exactly what Prometheus answers for step*k (never fewer than MIN_POINTS points);
  3. per-series summaries (first, last, min, max and when, mean, change) instead of points;
  4. the series with the highest maximum only, as many as fit.
`points` skips step 3, `summary` starts at it, `text` is one sparkline line per series.
query_instant: compact encoding, then the series with the highest values, with statistics
over all of them in `values`. What was done is listed in `summarized` and `truncated`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..core import hygiene, timespec
from . import budget, figures, models

RangeFormat = Literal["auto", "points", "summary", "points+summary", "text"]
MIN_POINTS = 30
"""Coarsening stops here: fewer points than this hide the shape an agent asked to see."""
_SPARK = "▁▂▃▄▅▆▇█"
_SPARK_WIDTH = 40
_NARROW = "narrow with label matchers, aggregate (sum by ...), or topk()"


@dataclass(frozen=True, slots=True)
class Series:
    labels: dict[str, str]
    values: list[float | None]  # aligned on the query grid; None where there is no sample


def matrix(raw: Sequence[dict[str, Any]], start: float, step: float, count: int) -> list[Series]:
    """Prometheus `matrix` JSON onto the start/step grid (range results sit exactly on it)."""
    shaped = []
    for item in raw:  # the hottest loop of a range call: one pass per point, nothing more
        grid: list[float | None] = [None] * count
        for t, v in item.get("values") or ():
            index = round((float(t) - start) / step)
            if 0 <= index < count:
                try:
                    grid[index] = float(v)
                except (TypeError, ValueError):
                    grid[index] = math.nan
        shaped.append(Series(hygiene.labels(item.get("metric")), grid))
    return shaped


def _numbers(values: Sequence[float | None]) -> list[models.Number | None]:
    """Grid values as JSON numbers (`models.number` for floats already parsed)."""
    shown: list[models.Number | None] = []
    for v in values:
        if v is None:
            shown.append(None)
        elif type(v) is not float or v - v != 0:  # NaN, ±Inf, or not a float at all
            shown.append(models.number(v))
        elif v.is_integer() and -(2**53) < v < 2**53:
            shown.append(int(v))
        else:
            shown.append(v)
    return shown


def vector(raw: Sequence[dict[str, Any]]) -> list[tuple[dict[str, str], float]]:
    return [(hygiene.labels(item.get("metric")), _float(item["value"][1])) for item in raw]


def _float(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def common_labels(label_sets: Sequence[dict[str, str]]) -> dict[str, str]:
    """Labels with one value on every series; none for a single series (nothing to save)."""
    if len(label_sets) < 2:
        return {}
    shared = dict(label_sets[0])
    for labels in label_sets[1:]:
        shared = {k: v for k, v in shared.items() if labels.get(k) == v}
    return shared


def _without(labels: dict[str, str], shared: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k not in shared}


def _peak(series: Series) -> float:
    finite = [v for v in series.values if v is not None and math.isfinite(v)]
    return max(finite) if finite else -math.inf


def summarize(series: Series, start: float, step: float) -> models.SeriesSummary:
    """The statistics of one series over its grid: `points` counts every sample, the rest
    is over the finite ones (NaN and ±Inf are counted in `non_finite`); min_at and max_at
    are the first point holding the extreme. Every figure is exact (see `figures`)."""
    present = [(i, v) for i, v in enumerate(series.values) if v is not None]
    finite = [(i, v) for i, v in present if math.isfinite(v)]
    non_finite = len(present) - len(finite) or None
    if not finite:
        return models.SeriesSummary(points=len(present), non_finite=non_finite)
    low = min(finite, key=lambda p: p[1])
    high = max(finite, key=lambda p: p[1])
    first, last = finite[0][1], finite[-1][1]
    return models.SeriesSummary(
        points=len(present),
        first=models.number(first),
        last=models.number(last),
        min=models.number(low[1]),
        min_at=timespec.isoformat(start + low[0] * step),
        max=models.number(high[1]),
        max_at=timespec.isoformat(start + high[0] * step),
        mean=models.number(figures.mean(v for _, v in finite)),
        change=models.number(last - first),  # IEEE: correctly rounded, ±Inf beyond range
        non_finite=non_finite,
    )


def sparkline(values: Sequence[float | None], width: int = _SPARK_WIDTH) -> str:
    """One character per bucket of points (its mean), scaled between the series' min and max;
    a space where a bucket has no finite sample."""
    if not values:
        return ""
    buckets = min(width, len(values))
    means: list[float | None] = []
    for b in range(buckets):
        chunk = values[b * len(values) // buckets : (b + 1) * len(values) // buckets]
        finite = [v for v in chunk if v is not None and math.isfinite(v)]
        means.append(figures.mean(finite) if finite else None)
    known = [m for m in means if m is not None]
    if not known:
        return " " * buckets
    low, high = min(known), max(known)
    spread = high / 2 - low / 2  # halves: the spread of finite values may exceed float64
    return "".join(
        " "
        if m is None
        else _SPARK[0 if spread == 0 else min(7, int((m / 2 - low / 2) / spread * len(_SPARK)))]
        for m in means
    )


def _text_line(summary: models.SeriesSummary, spark: str, shown: dict[str, str]) -> str:
    shown_figures = " ".join(
        f"{name}={value}"
        for name, value in (
            ("first", summary.first),
            ("last", summary.last),
            ("min", summary.min),
            ("max", summary.max),
        )
        if value is not None
    )
    return f"{hygiene.selector(shown)} {spark} {shown_figures}".strip()


@dataclass(frozen=True, slots=True)
class RangeRequest:
    datasource: str
    query: str
    start: float
    end: float
    step: float
    step_chosen: bool  # proms-mcp chose the step, so it may coarsen it
    format: RangeFormat
    limit: int
    result_type: str
    warnings: tuple[str, ...]


def shape_range(request: RangeRequest, all_series: list[Series], limit: int) -> budget.Encoded:
    """The range result as JSON-ready data within `limit` tokens (see the module docstring)."""
    ranked = sorted(all_series, key=_peak, reverse=True)
    chosen, truncated = list(all_series), None
    if len(all_series) > request.limit:
        chosen = ranked[: request.limit]
        truncated = _truncated(len(chosen), len(all_series), f"{_NARROW}, or raise limit")
    shared = common_labels([s.labels for s in chosen])
    actions: list[str] = []
    summaries: dict[int, models.SeriesSummary] = {}
    sparklines: dict[int, str] = {}

    def summary_of(s: Series) -> models.SeriesSummary:  # once per series, not per build
        if id(s) not in summaries:
            summaries[id(s)] = summarize(s, request.start, request.step)
        return summaries[id(s)]

    def line_of(s: Series, shown: dict[str, str]) -> str:
        if id(s) not in sparklines:
            sparklines[id(s)] = sparkline(s.values)
        return _text_line(summary_of(s), sparklines[id(s)], shown)

    def build(
        series: list[Series], stride: int, form: str, cut: models.Truncated | None
    ) -> dict[str, Any]:
        step = request.step * stride
        rows = []
        for s in series:
            points = s.values[::stride]
            shown = _without(s.labels, shared)
            if form == "text":
                rows.append(models.RangeSeries(line=line_of(s, shown)))
                continue
            rows.append(  # built, not validated: every value was made here, per point
                models.RangeSeries.model_construct(
                    labels=shown,
                    values=_numbers(points) if form in ("points", "points+summary") else None,
                    summary=summary_of(s) if form in ("summary", "points+summary") else None,
                    line=None,
                )
            )
        model = models.RangeResult(
            datasource=request.datasource,
            query=request.query,
            start=timespec.isoformat(request.start),
            end=timespec.isoformat(request.end),
            step_seconds=step,
            result_type=request.result_type,
            format=form,
            common_labels=shared or None,
            series=rows,
            total_series=len(all_series),
            truncated=cut,
            warnings=list(request.warnings) or None,
        )
        return model.model_dump(mode="json", exclude_none=True)

    form = "points" if request.format == "auto" else request.format
    data = build(chosen, 1, form, truncated)
    whole = budget.Encoded.of(data)
    full_tokens = whole.tokens
    if full_tokens <= limit:
        return whole
    if form in ("points", "points+summary") and request.step_chosen:
        points = len(chosen[0].values) if chosen else 0
        stride = 2
        while points // stride >= MIN_POINTS:
            data = build(chosen, stride, form, truncated)
            if budget.tokens(budget.encode(data)) <= limit:
                actions.append(
                    f"step raised from {timespec.format_duration(request.step)} to "
                    f"{timespec.format_duration(request.step * stride)}"
                )
                return _with_summarized(data, limit, full_tokens, actions)
            stride *= 2
    if request.format == "auto" or form == "points+summary":
        form = "summary"
        actions.append("points replaced by per-series summaries")
        data = build(chosen, 1, form, truncated)
        if budget.tokens(budget.encode(data)) <= limit:
            return _with_summarized(data, limit, full_tokens, actions)
    # Top series: the largest prefix of the ranked list that fits.
    ranked_chosen = sorted(chosen, key=_peak, reverse=True)
    low, high, best = 1, len(ranked_chosen), None
    while low <= high:
        middle = (low + high) // 2
        cut = _truncated(middle, len(all_series), f"{_NARROW}; or pass max_tokens")
        candidate = build(ranked_chosen[:middle], 1, form, cut)
        candidate["summarized"] = {}  # its room, filled below
        if budget.tokens(budget.encode(candidate)) + 80 <= limit:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    if best is None:
        return budget.Encoded.of(data)  # one series alone is over budget: budget.fit cuts it
    best.pop("summarized")
    actions.append(
        f"kept the {len(best['series'])} of {len(all_series)} series with the highest maximum"
    )
    return _with_summarized(best, limit, full_tokens, actions)


def _truncated(returned: int, total: int, hint: str) -> models.Truncated:
    return models.Truncated(
        returned=returned, total=total, criterion="highest maximum first", hint=hint
    )


def _with_summarized(
    data: dict[str, Any], limit: int, full_tokens: int, actions: list[str]
) -> budget.Encoded:
    data["summarized"] = models.Summarized(
        budget_tokens=limit,
        full_tokens=full_tokens,
        actions=actions,
        hint="for full detail: a shorter window, a larger step, fewer series (sum by, topk) "
        "or a larger max_tokens",
    ).model_dump(mode="json")
    return budget.Encoded.of(data)


@dataclass(frozen=True, slots=True)
class InstantRequest:
    datasource: str
    query: str
    time: float
    limit: int
    warnings: tuple[str, ...]


def shape_instant(
    request: InstantRequest, samples: list[tuple[dict[str, str], float]], limit: int
) -> budget.Encoded:
    """A vector result within `limit` tokens: all of it, or the highest values and the
    statistics of all of them."""
    ranked = sorted(samples, key=lambda s: s[1] if math.isfinite(s[1]) else -math.inf)[::-1]

    def build(kept: list[tuple[dict[str, str], float]], cut: bool) -> dict[str, Any]:
        shared = common_labels([labels for labels, _ in kept])
        model = models.InstantResult(
            datasource=request.datasource,
            query=request.query,
            time=timespec.isoformat(request.time),
            result_type="vector",
            common_labels=shared or None,
            series=[
                models.Sample(labels=_without(labels, shared), value=models.number(value))
                for labels, value in kept
            ],
            total_series=len(samples),
            values=_value_summary(samples) if cut else None,
            truncated=_highest(len(kept), len(samples)) if cut else None,
            warnings=list(request.warnings) or None,
        )
        return model.model_dump(mode="json", exclude_none=True)

    kept = samples if len(samples) <= request.limit else ranked[: request.limit]
    data = build(kept, len(kept) < len(samples))
    whole = budget.Encoded.of(data)
    full_tokens = whole.tokens
    if full_tokens <= limit:
        return whole
    low, high, best = 1, len(kept) - 1, build(ranked[:1], True)
    while low <= high:
        middle = (low + high) // 2
        candidate = build(ranked[:middle], True)
        if budget.tokens(budget.encode(candidate)) + 80 <= limit:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return _with_summarized(
        best, limit, full_tokens, [f"kept the {len(best['series'])} highest values"]
    )


def _highest(returned: int, total: int) -> models.Truncated:
    return models.Truncated(
        returned=returned,
        total=total,
        criterion="highest value first",
        hint=f"`values` covers all {total}; {_NARROW}",
    )


def _value_summary(samples: list[tuple[dict[str, str], float]]) -> models.ValueSummary:
    """`count` is every series; min, max, mean and sum are over the finite values, exact
    (see `figures`); NaN and ±Inf are counted in `non_finite`."""
    finite = [v for _, v in samples if math.isfinite(v)]
    non_finite = len(samples) - len(finite) or None
    if not finite:
        return models.ValueSummary(count=len(samples), non_finite=non_finite)
    total, mean = figures.total_and_mean(finite)
    return models.ValueSummary(
        count=len(samples),
        min=models.number(min(finite)),
        max=models.number(max(finite)),
        mean=models.number(mean),
        sum=models.number(total),
        non_finite=non_finite,
    )
