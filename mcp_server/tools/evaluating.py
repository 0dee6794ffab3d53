"""PromQL evaluated on one datasource, as the query tools need it: the request Prometheus
gets, and its answer read into result type, result and cleaned warnings.

Shared by the single-datasource tools and the fleet (`fanout`), so both send exactly the
same request and read exactly the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backends import catalogue, parsing, prometheus
from ..core import errors, hygiene, raw, timespec
from . import framing

RANGE_TARGET_POINTS = 120
"""Points per series when query_range chooses its own step."""


@dataclass(frozen=True, slots=True)
class Evaluated:
    result_type: str
    result: raw.Json
    warnings: tuple[str, ...]


async def instant(scope: framing.Scope, promql: str, at: float) -> Evaluated:
    """`/api/v1/query` at `at`; a range vector is refused with the way to ask for it."""
    answer = await parsing.send(
        scope.client, "/api/v1/query", [("query", promql), ("time", f"{at:.3f}")], promql
    )
    data = raw.fields(answer.data, raw.QueryData)
    result_type = str(data.get("resultType", "vector"))
    if result_type == "matrix":
        raise errors.InvalidQuery(
            "the query returns a range vector (a selector with [window]); use query_range "
            "for values over time, or apply a function such as rate() or avg_over_time()"
        )
    return Evaluated(result_type, data.get("result"), warnings(answer))


async def over_range(
    scope: framing.Scope, promql: str, start: float, end: float, step: float
) -> Evaluated:
    """`/api/v1/query_range` on the start/step grid."""
    answer = await parsing.send(
        scope.client,
        "/api/v1/query_range",
        [
            ("query", promql),
            ("start", f"{start:.3f}"),
            ("end", f"{end:.3f}"),
            ("step", f"{step:.3f}"),  # every digit: `:g` sent 1234567 as 1.23457e+06
        ],
        promql,
    )
    data = raw.fields(answer.data, raw.QueryData)
    return Evaluated(
        hygiene.clean(data.get("resultType", "matrix")), data.get("result"), warnings(answer)
    )


def default_step(span_seconds: float, scrape_interval_seconds: float) -> float:
    """query_range's step when none is given: about RANGE_TARGET_POINTS points, rounded,
    and never finer than the scrape interval (finer steps repeat the same samples)."""
    return max(
        timespec.auto_step(span_seconds, target_points=RANGE_TARGET_POINTS),
        timespec.auto_step(scrape_interval_seconds, target_points=1),
    )


def step(period: catalogue.Period, given: str | float | None, interval: float | None) -> float:
    """The step given, or the default for `interval`; refused when it gives too many points."""
    start_s, end_s = period
    span = end_s - start_s
    if given is not None:
        step_s = timespec.milliseconds(timespec.parse_duration(given, argument="step"))
        if step_s <= 0:
            raise errors.InvalidArgument(f"step={given!r} is below Prometheus's 1ms resolution")
    else:
        step_s = default_step(span, interval or 15.0)
    if span / step_s + 1 > timespec.MAX_POINTS_PER_SERIES:
        raise errors.InvalidArgument(
            f"step {timespec.format_duration(step_s)} over "
            f"{timespec.format_duration(span)} gives more than "
            f"{timespec.MAX_POINTS_PER_SERIES} points per series; use a step of at least "
            f"{timespec.format_duration(timespec.auto_step(span, target_points=1000))}"
        )
    return step_s


def points(start: float, end: float, step: float) -> int:
    """Points per series on the grid, counted in milliseconds as Prometheus counts them."""
    return round((end - start) * 1000) // round(step * 1000) + 1


def warnings(answer: prometheus.ApiResult) -> tuple[str, ...]:
    """Prometheus's warnings are its text (they may quote labels): cleaned like any other."""
    return tuple(hygiene.clean(w) for w in answer.warnings)
