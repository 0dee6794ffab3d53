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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..core import hygiene, raw, timespec
from . import budget, models, summaries

RangeFormat = Literal["auto", "points", "summary", "points+summary", "text"]
MIN_POINTS = 30
"""Coarsening stops here: fewer points than this hide the shape an agent asked to see."""
_NARROW = "narrow with label matchers, aggregate (sum by ...), or topk()"


@dataclass(frozen=True, slots=True)
class Series:
    labels: dict[str, str]
    values: list[float | None]  # aligned on the query grid; None where there is no sample


def matrix(result: Sequence[raw.Series], start: float, step: float, count: int) -> list[Series]:
    """Prometheus `matrix` JSON onto the start/step grid (range results sit exactly on it)."""
    shaped = []
    for item in result:  # the hottest loop of a range call: one pass per point, nothing more
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


def vector(result: Sequence[raw.Sample]) -> list[tuple[dict[str, str], float]]:
    return [(hygiene.labels(item.get("metric")), as_float(item["value"][1])) for item in result]


def as_float(value: float | str) -> float:
    """A sample value as Prometheus sends it (a string), as a float; NaN when it is not one."""
    try:
        return float(value)
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
    chosen, truncated = list(all_series), None
    if len(all_series) > request.limit:
        chosen = sorted(all_series, key=_peak, reverse=True)[: request.limit]
        truncated = _truncated(len(chosen), len(all_series), f"{_NARROW}, or raise limit")
    shape = _Range(request, all_series, chosen)
    form = "points" if request.format == "auto" else request.format
    data = shape.build(chosen, 1, form, truncated)
    whole = budget.Encoded.of(data)
    if whole.tokens <= limit:
        return whole
    actions: list[str] = []
    if form in ("points", "points+summary") and request.step_chosen:
        fits, data = _coarser(shape, form, truncated, limit, actions, data)
        if fits:
            return _with_summarized(data, limit, whole.tokens, actions)
    if request.format == "auto" or form == "points+summary":
        form = "summary"
        actions.append("points replaced by per-series summaries")
        data = shape.build(chosen, 1, form, truncated)
        if budget.tokens(budget.encode(data)) <= limit:
            return _with_summarized(data, limit, whole.tokens, actions)
    best = _top_series(shape, form, limit)
    if best is None:
        return budget.Encoded.of(data)  # one series alone is over budget: budget.fit cuts it
    actions.append(
        f"kept the {len(best['series'])} of {len(all_series)} series with the highest maximum"
    )
    return _with_summarized(best, limit, whole.tokens, actions)


class _Range:
    """One range result being shaped: its series, the labels they share, and each series'
    summary and sparkline, computed once however often the result is rebuilt."""

    def __init__(self, request: RangeRequest, all_series: list[Series], chosen: list[Series]):
        self.request = request
        self.total = len(all_series)
        self.chosen = chosen
        self.shared = common_labels([s.labels for s in chosen])
        self._summaries: dict[int, models.SeriesSummary] = {}
        self._sparklines: dict[int, str] = {}

    def summary_of(self, s: Series) -> models.SeriesSummary:
        if id(s) not in self._summaries:
            self._summaries[id(s)] = summaries.summarize(
                s.values, self.request.start, self.request.step
            )
        return self._summaries[id(s)]

    def line_of(self, s: Series, shown: dict[str, str]) -> str:
        if id(s) not in self._sparklines:
            self._sparklines[id(s)] = summaries.sparkline(s.values)
        return summaries.text_line(self.summary_of(s), self._sparklines[id(s)], shown)

    def row(self, s: Series, stride: int, form: str) -> models.RangeSeries:
        shown = _without(s.labels, self.shared)
        if form == "text":
            return models.RangeSeries(line=self.line_of(s, shown))
        return models.RangeSeries.model_construct(  # built, not validated: made here, per point
            labels=shown,
            values=_numbers(s.values[::stride]) if form in ("points", "points+summary") else None,
            summary=self.summary_of(s) if form in ("summary", "points+summary") else None,
            line=None,
        )

    def build(
        self, series: list[Series], stride: int, form: str, cut: models.Truncated | None
    ) -> dict[str, Any]:
        request = self.request
        model = models.RangeResult(
            datasource=request.datasource,
            query=request.query,
            start=timespec.isoformat(request.start),
            end=timespec.isoformat(request.end),
            step_seconds=request.step * stride,
            result_type=request.result_type,
            format=form,
            common_labels=self.shared or None,
            series=[self.row(s, stride, form) for s in series],
            total_series=self.total,
            truncated=cut,
            warnings=list(request.warnings) or None,
        )
        return model.model_dump(mode="json", exclude_none=True)


def _coarser(
    shape: _Range,
    form: str,
    truncated: models.Truncated | None,
    limit: int,
    actions: list[str],
    data: dict[str, Any],
) -> tuple[bool, dict[str, Any]]:
    """Every k-th point, for the smallest k that fits (never below MIN_POINTS points):
    whether one fits, and it, or the last one tried (`data` when none was)."""
    step = shape.request.step
    points = len(shape.chosen[0].values) if shape.chosen else 0
    stride = 2
    while points // stride >= MIN_POINTS:
        data = shape.build(shape.chosen, stride, form, truncated)
        if budget.tokens(budget.encode(data)) <= limit:
            actions.append(
                f"step raised from {timespec.format_duration(step)} to "
                f"{timespec.format_duration(step * stride)}"
            )
            return True, data
        stride *= 2
    return False, data


def _top_series(shape: _Range, form: str, limit: int) -> dict[str, Any] | None:
    """The largest prefix of the series ranked by their maximum that fits."""
    ranked = sorted(shape.chosen, key=_peak, reverse=True)

    def top(count: int) -> dict[str, Any]:
        cut = _truncated(count, shape.total, f"{_NARROW}; or pass max_tokens")
        candidate = shape.build(ranked[:count], 1, form, cut)
        candidate["summarized"] = {}  # its room, filled by _with_summarized
        return candidate

    best = _largest_prefix(top, len(ranked), limit)
    if best is not None:
        best.pop("summarized")
    return best


def _largest_prefix(
    build: Callable[[int], dict[str, Any]], most: int, limit: int
) -> dict[str, Any] | None:
    """The result built from the most leading items (1 to `most`) that fits `limit` with
    room for the `summarized` note; None when not even one item does."""
    low, high, best = 1, most, None
    while low <= high:
        middle = (low + high) // 2
        candidate = build(middle)
        if budget.tokens(budget.encode(candidate)) + 80 <= limit:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


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
            values=summaries.value_summary(samples) if cut else None,
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
    best = _largest_prefix(lambda count: build(ranked[:count], True), len(kept) - 1, limit)
    if best is None:
        best = build(ranked[:1], True)
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
