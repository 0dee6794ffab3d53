"""Times and durations as agents write them: RFC 3339, unix seconds, `now-1h`, `5m`, `300`.

Everything is normalised to float unix seconds here so the rest of the code, and the
Prometheus API, only ever sees numbers.
"""

from __future__ import annotations

import datetime
import math
import re

import promql_parser

from . import errors

_RELATIVE = re.compile(r"^now\s*(?:(?P<sign>[+-])\s*(?P<offset>[0-9a-z]+))?$")
_NICE_STEPS = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_DAY = 86400
MAX_POINTS_PER_SERIES = 11_000
"""Prometheus refuses range queries with more points than this per series."""


def parse_duration(text: str | float | int, *, argument: str) -> float:
    """Seconds from `90`, `90.5`, `1m30s`, `2h`, `1d`; positive only."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        value = text.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = promql_parser.parse_duration(value).total_seconds()
            except ValueError:
                raise errors.InvalidArgument(
                    f"{argument}={text!r} is not a duration; use seconds (300) or a "
                    "Prometheus duration such as 30s, 5m, 1h30m, 1d"
                ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise errors.InvalidArgument(f"{argument}={text!r} must be a positive duration")
    return seconds


def parse_time(text: str | float | int, *, argument: str, now: float) -> float:
    """Unix seconds from RFC 3339, unix seconds, or `now` / `now-1h` / `now+5m`."""
    if isinstance(text, int | float):
        return _finite(float(text), text, argument)
    value = text.strip()
    relative = _RELATIVE.match(value.lower())
    if relative:
        if not relative.group("offset"):
            return now
        offset = parse_duration(relative.group("offset"), argument=argument)
        moved = now - offset if relative.group("sign") == "-" else now + offset
        return _finite(moved, text, argument)
    try:
        return _finite(float(value), text, argument)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(
            value.replace("Z", "+00:00").replace("z", "+00:00")
        )
    except ValueError:
        raise errors.InvalidArgument(
            f"{argument}={text!r} is not a time; use RFC 3339 (2026-01-31T12:00:00Z), unix "
            "seconds (1767182400), or a relative time (now, now-1h, now-30m)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


_LATEST = 253_402_300_799.0
"""9999-12-31T23:59:59Z: later times cannot be written in RFC 3339."""


def _finite(seconds: float, original: object, argument: str) -> float:
    if not math.isfinite(seconds) or not 0 <= seconds <= _LATEST:
        raise errors.InvalidArgument(
            f"{argument}={original!r} is not a valid unix time (0 to 9999-12-31)"
        )
    return seconds


def auto_step(range_seconds: float, *, target_points: int) -> float:
    """The smallest 'round' step that keeps a series at or under `target_points` points."""
    wanted = max(range_seconds / max(target_points, 1), 1.0)
    for step in _NICE_STEPS:
        if step >= wanted:
            return float(step)
    return float(math.ceil(wanted / _DAY) * _DAY)


def format_duration(seconds: float) -> str:
    """`300` -> `5m`, for messages and result metadata."""
    if seconds != int(seconds):
        return f"{seconds!r}s"  # every digit: `:g` would show 1234.5678 as 1234.57
    remaining = int(seconds)
    parts = []
    for unit, size in (("d", _DAY), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return "".join(parts) or "0s"


def isoformat(seconds: float) -> str:
    """RFC 3339 in UTC, with milliseconds when the time has them (Prometheus's resolution)."""
    moment = datetime.datetime.fromtimestamp(round(seconds, 3), tz=datetime.UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def milliseconds(seconds: float) -> float:
    """A time or duration on Prometheus's millisecond grid, which is where it evaluates: the
    float nearest the whole milliseconds that `f"{seconds:.3f}"` sends."""
    return round(seconds, 3)


def window(
    start: str | float | None,
    end: str | float | None,
    *,
    now: float,
    lookback: float,
) -> tuple[float, float]:
    """(start, end) in unix seconds on the millisecond grid: `end` defaults to `now`,
    `start` to `lookback` before it."""
    end_s = parse_time(end, argument="end", now=now) if end is not None else now
    start_s = (
        parse_time(start, argument="start", now=now) if start is not None else end_s - lookback
    )
    if start_s > end_s:
        raise errors.InvalidArgument("start is after end; swap them")
    return milliseconds(start_s), milliseconds(end_s)


def moment_milliseconds(text: str) -> int | None:
    """A backend's RFC 3339 timestamp (nanoseconds allowed) as whole milliseconds since the
    epoch, truncated as Prometheus truncates evaluation times; None when it is not one."""
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    delta = moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
