"""Fleet answers: one question to every datasource a selector matches and the caller may
read, merged into one answer within one token budget.

Each datasource is asked with the same request a single-datasource call sends
(`evaluating`), at most FANOUT_CONCURRENCY at once (and each backend no more than its own
client allows), each within FANOUT_TIMEOUT, so a slow one never holds the others. Series are
tagged with the label `@datasource` (no Prometheus label can be named so) and shaped like any
other answer: labels shared across the fleet once, then summaries, then the top series of
the whole fleet. `coverage` says what answered; partial failure is an answer, not an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..backends import catalogue, live
from ..core import errors, hygiene, raw, timespec
from ..results import budget, coverage, shaping
from ..sources import datasources, selection
from . import evaluating, framing

TAG = "@datasource"
"""The label a fleet answer adds to each series: its datasource id."""
T = TypeVar("T")


def target(
    datasource_id: str | None,
    datasources: str | Sequence[str] | None,
    labels: str | Mapping[str, str] | None,
) -> str | selection.Selector:
    """One datasource id, or the selector of many; exactly one of the two ways."""
    if datasource_id is not None:
        if datasources is not None or labels is not None:
            raise errors.InvalidArgument(
                "pass datasource_id for one datasource, or datasources/labels for many, not both"
            )
        return datasource_id
    if datasources is None and labels is None:
        raise errors.InvalidArgument(
            "pass datasource_id (an id from list_datasources), or datasources (ids or globs "
            'such as "prod-*") or labels (such as "env=prod") to ask many at once'
        )
    selector = selection.parse(datasources, labels)
    if selector.everything:
        raise errors.InvalidArgument(
            'datasources/labels are empty: give ids, globs such as "prod-*", or labels such '
            'as "env=prod"'
        )
    return selector


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    datasource_id: str
    seconds: float
    value: T | None = None
    error: errors.PromsMcpError | None = None

    def reply(self) -> coverage.Reply:
        if self.error is None:
            return coverage.Reply(self.datasource_id, self.seconds)
        return coverage.Reply(
            self.datasource_id, self.seconds, self.error.code, hygiene.clean(self.error.message)
        )


async def choose(
    backends: live.Backends, selector: selection.Selector
) -> list[datasources.Datasource]:
    """The Prometheus datasources the selector gives the caller (an Alertmanager has no
    PromQL); none is `datasource_not_found`, the selector quoted."""
    chosen = [
        d
        for d in await backends.select(selector)
        if d.kind is datasources.DatasourceKind.PROMETHEUS
    ]
    if not chosen:
        raise errors.DatasourceNotFound(
            f"no datasource you may read matches {selector.describe()}; list_datasources "
            "with the same datasources/labels shows what does"
        )
    return chosen


async def across(
    backends: live.Backends,
    selector: selection.Selector,
    period: catalogue.Period,
    body: Callable[[framing.Scope], Awaitable[T]],
    *,
    chosen: list[datasources.Datasource] | None = None,
) -> list[Outcome[T]]:
    """`body` on every datasource the selector gives the caller, each bounded in time;
    `chosen`: those datasources when the caller already has them (`choose`)."""
    if chosen is None:
        chosen = await choose(backends, selector)
    gate = asyncio.Semaphore(backends.fanout_concurrency)
    now = backends.clock()

    async def one(datasource: datasources.Datasource) -> Outcome[T]:
        async with gate:
            scope = framing.Scope(datasource, backends.pool.client_for(datasource), now, period)
            started = time.perf_counter()
            try:
                async with asyncio.timeout(backends.fanout_timeout):
                    value = await body(scope)
            except TimeoutError:
                took = time.perf_counter() - started
                late = errors.UpstreamTimeout(
                    f"no answer within FANOUT_TIMEOUT ({backends.fanout_timeout:g} s)"
                )
                return Outcome(datasource.id, took, error=late)
            except errors.PromsMcpError as exc:
                return Outcome(datasource.id, time.perf_counter() - started, error=exc)
            return Outcome(datasource.id, time.perf_counter() - started, value)

    return list(await asyncio.gather(*(one(d) for d in chosen)))


def answered(outcomes: list[Outcome[T]]) -> list[tuple[str, T]]:
    """The answers; when none came and every datasource failed alike, that error itself
    (a query Prometheus cannot parse is wrong everywhere, not a coverage problem)."""
    good = [(o.datasource_id, o.value) for o in outcomes if o.error is None]
    errors_seen = [o.error for o in outcomes if o.error is not None]
    alike = len({e.code for e in errors_seen}) == 1
    if not good and errors_seen and alike and errors_seen[0].code != coverage.TIMEOUT:
        raise errors_seen[0]
    return [(d, v) for d, v in good if v is not None]


def _covered(
    shaped: budget.Encoded, outcomes: list[Outcome[Any]], with_data: set[str]
) -> budget.Encoded:
    """The shaped answer with its coverage block (shaping left room for it: `_reserve`)."""
    data = dict(shaped.data)
    data["coverage"] = coverage.block([o.reply() for o in outcomes], with_data, _shown(data))
    return budget.Encoded.of(data)


def _reserve(outcomes: list[Outcome[Any]]) -> int:
    """Tokens the coverage block will take (measured with every datasource shown)."""
    replies = [o.reply() for o in outcomes]
    ids = [r.datasource_id for r in replies]
    return budget.tokens(budget.encode(coverage.block(replies, ids, ids))) + 8


def _shown(data: dict[str, Any]) -> set[str] | None:
    common = (data.get("common_labels") or {}).get(TAG)
    shown: set[str] = set()
    for item in data.get("series") or ():
        if not isinstance(item, dict) or not isinstance(item.get("labels"), dict):
            return None  # the text format: lines, not labelled series
        found = item["labels"].get(TAG, common)
        if found is not None:
            shown.add(found)
    return shown


def _tagged(datasource_id: str, labels: dict[str, str]) -> dict[str, str]:
    return {TAG: datasource_id, **labels}


def _fleet_warnings(per_datasource: list[tuple[str, tuple[str, ...]]]) -> tuple[str, ...]:
    return tuple(f"{hygiene.quoted(d)}: {w}" for d, ws in per_datasource for w in ws)


async def query_instant(
    backends: live.Backends,
    selector: selection.Selector,
    promql: str,
    time_arg: str | float | None,
    limit: int,
) -> budget.Encoded:
    """query_instant across the fleet: every sample tagged with its datasource."""
    now = backends.clock()
    at = timespec.milliseconds(
        now if time_arg is None else timespec.parse_time(time_arg, argument="time", now=now)
    )
    outcomes = await across(
        backends,
        selector,
        catalogue.recent(at),
        lambda scope: evaluating.instant(scope, promql, at),
    )
    samples: list[tuple[dict[str, str], float]] = []
    notes = []
    for datasource_id, evaluated in answered(outcomes):
        notes.append((datasource_id, evaluated.warnings))
        if evaluated.result_type == "vector":
            found = shaping.vector(raw.objects(evaluated.result, raw.Sample))
        else:  # a scalar (or string) per datasource: one unlabelled sample each
            value = evaluated.result[1] if isinstance(evaluated.result, list) else None
            found = [({}, shaping.as_float(str(value)))]
        samples += [(_tagged(datasource_id, labels), value) for labels, value in found]
    reserve = _reserve(outcomes)
    request = shaping.InstantRequest(
        selector.describe(), promql.strip(), at, limit, _fleet_warnings(notes)
    )
    limit_tokens = max(budget.MIN_MAX_TOKENS, budget.current.get() - reserve)
    shaped = shaping.shape_instant(request, samples, limit_tokens)
    with_data = {labels[TAG] for labels, _ in samples}
    return _covered(_hinted(shaped, outcomes), outcomes, with_data)


@dataclass(frozen=True, slots=True)
class RangeCall:
    promql: str
    start: str | float | None
    end: str | float | None
    step: str | float | None
    limit: int
    format: shaping.RangeFormat


async def query_range(
    backends: live.Backends, selector: selection.Selector, call: RangeCall
) -> budget.Encoded:
    """query_range across the fleet, on one start/step grid for all datasources."""
    now = backends.clock()
    period = catalogue.window(call.start, call.end, now=now, discovery=False)
    start_s, end_s = period
    chosen = await choose(backends, selector)
    step_s = evaluating.step(period, call.step, _widest_interval(chosen))
    outcomes = await across(
        backends,
        selector,
        period,
        lambda scope: evaluating.over_range(scope, call.promql, start_s, end_s, step_s),
        chosen=chosen,
    )
    count = evaluating.points(start_s, end_s, step_s)
    series: list[shaping.Series] = []
    notes = []
    for datasource_id, evaluated in answered(outcomes):
        notes.append((datasource_id, evaluated.warnings))
        found = shaping.matrix(raw.objects(evaluated.result, raw.Series), start_s, step_s, count)
        series += [shaping.Series(_tagged(datasource_id, s.labels), s.values) for s in found]
    reserve = _reserve(outcomes)
    request = shaping.RangeRequest(
        datasource=selector.describe(),
        query=call.promql.strip(),
        start=start_s,
        end=end_s,
        step=step_s,
        step_chosen=call.step is None,
        format=call.format,
        limit=call.limit,
        result_type="matrix",
        warnings=_fleet_warnings(notes),
    )
    limit_tokens = max(budget.MIN_MAX_TOKENS, budget.current.get() - reserve)
    shaped = shaping.shape_range(request, series, limit_tokens)
    with_data = {s.labels[TAG] for s in series}
    return _covered(_hinted(shaped, outcomes), outcomes, with_data)


def _widest_interval(chosen: list[datasources.Datasource]) -> float:
    """The largest declared scrape interval among the chosen (15 s when none is): one
    grid must not be finer than any member's samples."""
    return max((d.scrape_interval_seconds or 15.0 for d in chosen), default=15.0)


def _hinted(shaped: budget.Encoded, outcomes: list[Outcome[Any]]) -> budget.Encoded:
    """An empty fleet answer says whether that is for lack of data or of answers."""
    if shaped.data.get("total_series"):
        return shaped
    data = dict(shaped.data)
    good = sum(1 for o in outcomes if o.error is None)
    if good:
        data["hint"] = (
            f"no series on any of the {good} datasources that answered: check the metric "
            "with find_metrics_by_pattern on one of them"
        )
    else:
        data["hint"] = "no datasource answered: see coverage.errors"
    return budget.Encoded.of(data)
