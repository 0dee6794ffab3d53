"""The statistics and pictures of query results: a series summarized over its grid, its
sparkline and one-line text form, and the statistics of an instant result's values. Every
figure is exact (`figures`); NaN and ±Inf are counted, never averaged."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..core import hygiene, timespec
from . import figures, models

_SPARK = "▁▂▃▄▅▆▇█"
_SPARK_WIDTH = 40


def summarize(values: Sequence[float | None], start: float, step: float) -> models.SeriesSummary:
    """The statistics of one series over its grid: `points` counts every sample, the rest
    is over the finite ones (NaN and ±Inf are counted in `non_finite`); min_at and max_at
    are the first point holding the extreme. Every figure is exact (see `figures`)."""
    present = [(i, v) for i, v in enumerate(values) if v is not None]
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


def text_line(summary: models.SeriesSummary, spark: str, shown: dict[str, str]) -> str:
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


def value_summary(samples: list[tuple[dict[str, str], float]]) -> models.ValueSummary:
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
