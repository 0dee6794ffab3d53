"""Whether an alert flaps, read from Prometheus's `ALERTS{alertstate="firing"}` series.

Alertmanager keeps no history (each flap gets a new `startsAt`), but Prometheus writes the
`ALERTS` series on every evaluation that finds the alert firing. Sampled on the rule
group's evaluation interval over a window, its gaps are the times the alert resolved: a run
is a stretch of samples no more than 1.5 steps apart. It flaps when it resolved and fired
again at least twice in the window (three runs or more). Times are the sample times
Prometheus returned.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from ..core import raw, timespec
from . import converting, models

FLAPPING_RUNS = 3
MAX_GAPS = 5
_SLACK = 1.5


class Gap(models.Result):
    last_firing: str = Field(description="the last sample firing before it resolved")
    fired_again: str = Field(description="the first sample firing after")


class Run(models.Result):
    start: str = Field(description="its first sample firing")
    end: str = Field(description="its last sample firing")


class History(models.Result):
    query: str = Field(description="the ALERTS series read, as query_range takes it")
    start: str
    end: str
    step_seconds: float
    firing_runs: int = Field(description="separate stretches of firing in the window")
    flapping: bool = Field(description="fired again after resolving at least twice")
    firing_at_end: bool = Field(description="whether the latest run reaches the window's end")
    latest_run: Run | None = Field(None, description="the latest stretch of firing")
    gaps: list[Gap] | None = Field(None, description="times it resolved, latest first")


def history(query: str, raw_result: Any, start: float, end: float, step: float) -> History:
    """From the `result` of a query_range of one ALERTS series (none: it never fired)."""
    series = raw.objects(raw_result, dict)
    times = sorted(
        seconds
        for point in raw.elements(series[0].get("values") if series else [])
        if (seconds := converting.seconds(raw.elements(point)[0] if point else None)) is not None
    )
    runs = _runs(times, step)
    reaching_end = bool(runs) and runs[-1][1] >= end - step * _SLACK
    gaps = [
        Gap(last_firing=timespec.isoformat(before[1]), fired_again=timespec.isoformat(after[0]))
        for before, after in itertools.pairwise(runs)
    ]
    return History(
        query=query,
        start=timespec.isoformat(start),
        end=timespec.isoformat(end),
        step_seconds=step,
        firing_runs=len(runs),
        flapping=len(runs) >= FLAPPING_RUNS,
        firing_at_end=reaching_end,
        latest_run=Run(start=timespec.isoformat(runs[-1][0]), end=timespec.isoformat(runs[-1][1]))
        if runs
        else None,
        gaps=list(reversed(gaps))[:MAX_GAPS] or None,
    )


def _runs(times: Sequence[float], step: float) -> list[tuple[float, float]]:
    runs: list[tuple[float, float]] = []
    for moment in times:
        if runs and moment - runs[-1][1] <= step * _SLACK:
            runs[-1] = (runs[-1][0], moment)
        else:
            runs.append((moment, moment))
    return runs
