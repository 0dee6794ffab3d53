"""What a fleet answer covers: which datasources answered, failed, timed out or were cut.

An agent reading a merged answer must know what it is *not* looking at: a datasource that
timed out looks exactly like one with no matching series unless the answer says so. The
block stays small on a large fleet: counts always, every failure by name (failures are what
an agent acts on), and latencies per datasource only while there are few of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

LATENCIES_SHOWN = 20
"""Up to this many datasources, each one's latency is listed; beyond, percentiles and the
slowest few."""
SLOWEST_SHOWN = 5
TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Reply:
    """One datasource's part of a fleet call: how long it took, and its error if it failed."""

    datasource_id: str
    seconds: float
    code: str | None = None
    message: str | None = None


def block(
    replies: Sequence[Reply], with_data: Collection[str], shown: Collection[str] | None
) -> dict[str, Any]:
    """The `coverage` field. `with_data`: datasources that answered with something to show;
    `shown`: those still in the answer after limit and budget (None: not known)."""
    failed = [r for r in replies if r.code is not None]
    codes = Counter(r.code for r in failed if r.code != TIMEOUT)
    result: dict[str, Any] = {
        "matched": len(replies),
        "answered": len(replies) - len(failed),
        "failed": sum(codes.values()),
        "timed_out": len(failed) - sum(codes.values()),
    }
    if shown is not None:
        result["cut"] = len(set(with_data) - set(shown))
    if failed:
        result["errors"] = [
            {"datasource": r.datasource_id, "code": r.code, "message": r.message}
            for r in sorted(failed, key=lambda r: r.datasource_id)
        ]
    result["latency_ms"] = _latencies(replies)
    return result


def _latencies(replies: Sequence[Reply]) -> dict[str, Any]:
    def ms(seconds: float) -> float:
        return round(seconds * 1000, 1)

    if len(replies) <= LATENCIES_SHOWN:
        return {
            r.datasource_id: ms(r.seconds) for r in sorted(replies, key=lambda r: r.datasource_id)
        }
    ordered = sorted(replies, key=lambda r: r.seconds)
    return {
        "p50": ms(ordered[len(ordered) // 2].seconds),
        "p90": ms(ordered[min(len(ordered) - 1, (len(ordered) * 9) // 10)].seconds),
        "max": ms(ordered[-1].seconds),
        "slowest": {r.datasource_id: ms(r.seconds) for r in ordered[::-1][:SLOWEST_SHOWN]},
    }
