"""The backend's catalogues (metric names, label names, label values, metric metadata),
cached per datasource.

Discovery tools, "did you mean" diagnosis and argument completion all read them through
here, over a window aligned to CACHE_SECONDS, so their requests coincide and hit one cache
entry instead of each costing the backend a scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import prometheus, results, timespec

CACHE_SECONDS = 15.0
"""Metric names, label names and values are cached this long per datasource and window."""
LOOKBACK_SECONDS = 3600.0
"""Catalogues cover the last hour unless told otherwise: all-time scans are slow."""

Period = tuple[float, float]


def recent(now: float) -> Period:
    """The last hour, on the cache grid."""
    end = now - now % CACHE_SECONDS
    return end - LOOKBACK_SECONDS, end


def window(
    start: str | float | None, end: str | float | None, *, now: float, discovery: bool = False
) -> Period:
    """A tool's time window: `end` defaults to now, `start` to LOOKBACK_SECONDS before it.
    Discovery snaps `now` to the cache grid so repeated calls share one cache entry; queries
    use whole seconds so start and end print exactly in RFC 3339."""
    now = now - now % CACHE_SECONDS if discovery else float(int(now))
    return timespec.window(start, end, now=now, lookback=LOOKBACK_SECONDS)


def aligned(period: Period) -> Period:
    start, end = period
    return start - start % CACHE_SECONDS, end - end % CACHE_SECONDS


def _params(period: Period, matches: Sequence[str]) -> list[tuple[str, str]]:
    params = [("match[]", m) for m in matches]
    return [*params, ("start", f"{period[0]:.3f}"), ("end", f"{period[1]:.3f}")]


async def label_values(
    client: prometheus.PrometheusClient,
    label: str,
    period: Period,
    *,
    matches: Sequence[str] = (),
) -> list[str]:
    """Sorted values of `label` (`__name__` gives metric names) on series matching `matches`."""
    answer = await client.get(
        f"/api/v1/label/{label}/values", _params(period, matches), cache_seconds=CACHE_SECONDS
    )
    return sorted(results.clean(v) for v in answer.data or ())


async def label_names(
    client: prometheus.PrometheusClient, period: Period, *, matches: Sequence[str] = ()
) -> list[str]:
    answer = await client.get(
        "/api/v1/labels", _params(period, matches), cache_seconds=CACHE_SECONDS
    )
    return sorted(results.clean(n) for n in answer.data or () if n != "__name__")


async def metadata(client: prometheus.PrometheusClient, metric: str) -> list[dict[str, Any]]:
    """The metric's /api/v1/metadata entries (type, help, unit); none when it publishes none."""
    answer = await client.get("/api/v1/metadata", [("metric", metric)], cache_seconds=CACHE_SECONDS)
    data = answer.data if isinstance(answer.data, dict) else {}
    return [entry for entry in data.get(metric) or () if isinstance(entry, dict)]
