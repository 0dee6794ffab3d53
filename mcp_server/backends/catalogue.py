"""The backend's catalogues (metric names, label names, label values, metric metadata),
cached per datasource.

Discovery tools, "did you mean" diagnosis and argument completion all read them through
here, over a window aligned to CACHE_SECONDS, so their requests coincide and hit one cache
entry instead of each costing the backend a scan.

A cache must never make a series a query sees invisible to discovery. So a window's end is
aligned up, never down (the window covers now), and a cached answer about a window that is
still open (it ends less than CACHE_SECONDS ago, or later) may lack what was scraped since
it was read: the discovery tools then read afresh (`still_open`), and whoever concludes from
a cached answer that something does not exist ("no series", "no label", "no such value")
confirms it with a fresh read (`fresh=True`) before saying so. Only completions take a
cached answer as it is: they are suggestions, at most CACHE_SECONDS old.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core import hygiene, raw, timespec
from . import prometheus

CACHE_SECONDS = 15.0
"""Metric names, label names and values are cached this long per datasource and window."""
LOOKBACK_SECONDS = 3600.0
"""Catalogues cover the last hour unless told otherwise: all-time scans are slow."""

Period = tuple[float, float]


def _down(moment: float) -> float:
    return moment - moment % CACHE_SECONDS


def _up(moment: float) -> float:
    return moment if moment % CACHE_SECONDS == 0 else _down(moment) + CACHE_SECONDS


def recent(now: float) -> Period:
    """The last hour, on the cache grid, up to and including now."""
    end = _up(now)
    return end - LOOKBACK_SECONDS, end


def window(
    start: str | float | None, end: str | float | None, *, now: float, discovery: bool = False
) -> Period:
    """A tool's time window: `end` defaults to now, `start` to LOOKBACK_SECONDS before it.
    Discovery moves `now` up to the cache grid so repeated calls share one cache entry (and
    still see the latest scrape); queries use whole seconds so start and end print exactly
    in RFC 3339."""
    now = _up(now) if discovery else float(int(now))
    return timespec.window(start, end, now=now, lookback=LOOKBACK_SECONDS)


def aligned(period: Period) -> Period:
    """The smallest window on the cache grid that covers `period`."""
    start, end = period
    return _down(start), _up(end)


def still_open(period: Period, now: float) -> bool:
    """Whether series may still appear in `period`: it ends less than CACHE_SECONDS before
    `now` (or later). A cached answer read after such a window ended, and at most
    CACHE_SECONDS old, can only be about a window that ended before it was read: final."""
    return period[1] > now - CACHE_SECONDS


def _params(period: Period, matches: Sequence[str]) -> list[tuple[str, str]]:
    params = [("match[]", m) for m in matches]
    return [*params, ("start", f"{period[0]:.3f}"), ("end", f"{period[1]:.3f}")]


async def label_values(
    client: prometheus.PrometheusClient,
    label: str,
    period: Period,
    *,
    matches: Sequence[str] = (),
    fresh: bool = False,
) -> list[str]:
    """Sorted values of `label` (`__name__` gives metric names) on series matching `matches`;
    `fresh` reads past the cache (see the module docstring)."""
    answer = await client.get(
        f"/api/v1/label/{label}/values",
        _params(period, matches),
        cache_seconds=CACHE_SECONDS,
        refresh=fresh,
    )
    return sorted(hygiene.clean(v) for v in raw.elements(answer.data))


async def label_names(
    client: prometheus.PrometheusClient,
    period: Period,
    *,
    matches: Sequence[str] = (),
    fresh: bool = False,
) -> list[str]:
    answer = await client.get(
        "/api/v1/labels", _params(period, matches), cache_seconds=CACHE_SECONDS, refresh=fresh
    )
    return sorted(hygiene.clean(n) for n in raw.elements(answer.data) if n != "__name__")


async def metadata(
    client: prometheus.PrometheusClient, metric: str, *, fresh: bool = False
) -> list[raw.MetadataEntry]:
    """The metric's /api/v1/metadata entries (type, help, unit); none when it publishes none."""
    answer = await client.get(
        "/api/v1/metadata", [("metric", metric)], cache_seconds=CACHE_SECONDS, refresh=fresh
    )
    entries = answer.data.get(metric) if isinstance(answer.data, dict) else None
    return [raw.fields(e, raw.MetadataEntry) for e in raw.elements(entries) if isinstance(e, dict)]
