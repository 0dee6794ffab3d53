"""Fleet answers that are lists: alerts, series and metric names across every datasource a
selector gives the caller, each item tagged with where it came from, one page and one
coverage block for the whole fleet (see `fanout`)."""

from __future__ import annotations

import collections
from typing import Any

from ..backends import catalogue, live
from ..core import timespec
from ..results import converting, coverage, inspection, models
from ..sources import selection
from . import fanout, reading

WHERE_SHOWN = 50
"""Metric names listed in `where` (names only some datasources have) at the most."""


def _with_coverage(
    result: dict[str, Any],
    outcomes: list[fanout.Outcome[Any]],
    with_data: set[str],
    shown: set[str],
) -> dict[str, Any]:
    result["coverage"] = coverage.block([o.reply() for o in outcomes], with_data, shown)
    return result


async def list_alerts(
    backends: live.Backends, selector: selection.Selector, state: str | None, limit: int
) -> dict[str, Any]:
    """Alerts of the fleet, firing first, each with its `datasource`."""
    period = catalogue.recent(backends.clock())
    outcomes = await fanout.across(backends, selector, period, reading.alerts_of)
    alerts: list[inspection.Alert] = []
    rules: converting.RuleIndex = {}
    notes = []
    for datasource_id, (found, their_rules, note) in fanout.answered(outcomes):
        alerts += [a.model_copy(update={"datasource": datasource_id}) for a in found]
        for key, rule in their_rules.items():
            rules.setdefault(key, rule)
        if note:
            notes.append(f"{datasource_id}: {note}")
    alerts.sort(key=reading.alert_order)
    chosen = [a for a in alerts if state is None or a.state == state]
    page = models.page(
        chosen, limit, narrow=reading.ALERTS_NARROW, empty=reading.alerts_empty(state, alerts)
    )
    result = inspection.AlertList(
        datasource=selector.describe(),
        rules=reading.rules_of(page.items, rules) or None,
        by_state=models.tally(a.state for a in alerts),
        note="; ".join(notes) or None,
        **page.fields("alerts"),
    ).model_dump(mode="json", exclude_none=True)
    with_data = {a.datasource for a in chosen if a.datasource}
    shown = {a.datasource for a in page.items if a.datasource}
    return _with_coverage(result, outcomes, with_data, shown)


async def find_series(
    backends: live.Backends,
    selector: selection.Selector,
    match: str,
    shown_match: str,
    window: tuple[str | float | None, str | float | None],
    limit: int,
) -> dict[str, Any]:
    """Series of the fleet, each label set with its `@datasource`."""
    start, end = window
    now = backends.clock()
    period = catalogue.window(start, end, now=now, discovery=True)
    outcomes = await fanout.across(
        backends, selector, period, lambda scope: reading.series_of(scope, match)
    )
    series = sorted(
        (
            {fanout.TAG: datasource_id, **labels}
            for datasource_id, found in fanout.answered(outcomes)
            for labels in found
        ),
        key=lambda labels: (labels[fanout.TAG], sorted(labels.items())),
    )
    page = models.page(series, limit, narrow=reading.SERIES_NARROW, empty=reading.SERIES_EMPTY)
    result = inspection.SeriesList(
        datasource=selector.describe(),
        match=shown_match,
        start=timespec.isoformat(period[0]),
        end=timespec.isoformat(period[1]),
        **page.fields("series"),
    ).model_dump(mode="json", exclude_none=True)
    with_data = {labels[fanout.TAG] for labels in series}
    shown = {labels[fanout.TAG] for labels in page.items}
    return _with_coverage(result, outcomes, with_data, shown)


async def find_metrics(
    backends: live.Backends,
    selector: selection.Selector,
    regex: str,
    window: tuple[str | float | None, str | float | None],
    limit: int,
) -> dict[str, Any]:
    """Metric names of the fleet, once each; `where` names the datasources of a name that
    not every answering datasource has."""
    start, end = window
    period = catalogue.window(start, end, now=backends.clock(), discovery=True)
    matcher = reading.name_matcher(regex)
    outcomes = await fanout.across(
        backends,
        selector,
        period,
        lambda scope: catalogue.label_values(
            scope.client, "__name__", scope.period, matches=[matcher], fresh=scope.fresh
        ),
    )
    answers = fanout.answered(outcomes)
    holders: dict[str, list[str]] = collections.defaultdict(list)
    for datasource_id, names in answers:
        for name in names:
            holders[name].append(datasource_id)
    page = models.page(sorted(holders), limit, narrow="use a more specific pattern")
    result: dict[str, Any] = models.MetricList(
        datasource=selector.describe(), **page.fields("metrics")
    ).model_dump(mode="json", exclude_none=True)
    partial = {n: holders[n] for n in page.items if len(holders[n]) < len(answers)}
    if partial:
        result["where"] = dict(list(partial.items())[:WHERE_SHOWN])
    with_data = {d for d, names in answers if names}
    shown = {d for n in page.items for d in holders[n]}
    return _with_coverage(result, outcomes, with_data, shown)
