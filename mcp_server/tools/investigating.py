"""investigate_alert: why an alert fires, in one call an on-call engineer can check.

Given an alert (its name and labels, or its Alertmanager fingerprint) on an Alertmanager
or a Prometheus datasource, `locating` finds it on both sides (the Alertmanager alert and
the Prometheus rule behind it), `evidence` reads the condition at a few moments, the
ALERTS history and the silences, `followups` names the next queries, and this module lays
the answer out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from ..backends import capabilities, live
from ..core import errors, hygiene, raw, timespec
from ..promql import matchers
from ..results import (
    alerting,
    budget,
    converting,
    history,
    investigation,
    models,
    suppression,
)
from ..sources import datasources
from . import arguments, evidence, followups, framing, locating

AlertReference = Annotated[
    str,
    Field(description='alert name, Name{label="value"} to pick one, or its fingerprint'),
]
Window = Annotated[str | float, Field(description="history read for flapping, e.g. 1h")]

MAX_WINDOW_SECONDS = 7 * 86_400.0
_MAX_OTHERS = 10


async def investigate_alert(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    alert: AlertReference,
    window: Window = "1h",
    max_tokens: arguments.MaxTokens = None,
) -> budget.Encoded:
    """Why an alert fires: its rule, value vs threshold before/when/since it started,
    flapping, silences and inhibitions that apply or almost do, next queries. On an
    Alertmanager or a Prometheus datasource."""
    reference = locating.reference(alert)
    span = min(timespec.parse_duration(window, argument="window"), MAX_WINDOW_SECONDS)
    datasource, client = await backends.resolve(datasource_id)
    origin = evidence.Backend(datasource, client)
    notes: list[str] = []
    am: evidence.Backend | None
    if datasource.kind is datasources.DatasourceKind.ALERTMANAGER:
        am, proms = origin, await locating.linked_prometheus(backends, datasource, notes)
    else:
        capabilities.require(datasource, capabilities.Api.RULES)
        am, proms = await locating.linked_alertmanager(backends, datasource), [origin]
    am_alerts, rules = await asyncio.gather(
        locating.alertmanager_alerts(am, notes), locating.rules(proms, notes)
    )
    found = locating.locate(reference, origin is am, am_alerts, rules)
    if found is None:
        raise errors.InvalidArgument(
            locating.not_found(alert, datasource, am_alerts, rules, origin is am)
        )
    answer = await _investigate(found, am, am_alerts, span, backends.clock(), notes)
    return investigation.fitted(answer, budget.current.get())


async def _investigate(
    found: locating.Found,
    am: evidence.Backend | None,
    am_alerts: list[Any],
    span: float,
    now: float,
    notes: list[str],
) -> investigation.Investigation:
    prom_labels = found.labels
    interval = converting.seconds(found.group.get("interval"))
    history_read, suppression_read = await asyncio.gather(
        _history(found, prom_labels, span, interval or 1.0, now),
        _suppression(found, am, am_alerts, span, now),
    )
    past, history_note = history_read
    silences, inhibitions, suppression_notes = suppression_read
    notes += [n for n in (history_note, *suppression_notes) if n]
    conditions: list[investigation.Condition] = []
    if found.prom is not None and found.rule is not None:
        moments = _moments(found, interval, past, now)
        owner = evidence.Series(
            prom_labels or _am_labels(found),
            frozenset(raw.fields(found.rule.get("labels"), dict)),
        )
        expression = str(found.rule.get("query", ""))
        conditions, evaluation_notes = await evidence.evaluate(
            found.prom, expression, owner, moments
        )
        notes += evaluation_notes
    shaped = _alert(found, prom_labels)
    return investigation.Investigation(
        alert=shaped,
        alertmanager=am.datasource.id if am is not None else None,
        prometheus=found.prom.datasource.id if found.prom is not None else None,
        rule=_rule(found),
        conditions=conditions or None,
        history=past,
        silences=silences,
        inhibitions=inhibitions,
        next=followups.next_queries(found, shaped, conditions, past, am, span) or None,
        others=found.others[:_MAX_OTHERS] or None,
        notes=[hygiene.clean(n) for n in notes] or None,
    )


def _am_labels(found: locating.Found) -> dict[str, str]:
    return converting.labels(raw.fields(found.am_alert, dict).get("labels"))


async def _history(
    found: locating.Found, prom_labels: Mapping[str, str], span: float, interval: float, now: float
) -> tuple[history.History | None, str | None]:
    if found.prom is None or not prom_labels:
        return None, None if found.prom is None else "history needs the rule's own alert"
    return await evidence.read_history(found.prom, prom_labels, span, interval, now)


async def _suppression(
    found: locating.Found,
    am: evidence.Backend | None,
    am_alerts: list[Any],
    span: float,
    now: float,
) -> tuple[suppression.Silences | None, suppression.Inhibitions | None, list[str]]:
    if am is None or found.am_alert is None:
        return None, None, ["Alertmanager has no such alert"] if am is not None else []
    expired_after = int((now - span) * 1000)
    return await evidence.read_suppression(am, found.am_alert, am_alerts, expired_after)


def _moments(
    found: locating.Found, interval: float | None, past: history.History | None, now: float
) -> list[evidence.Moment]:
    """before, pending, firing, now: each a time Prometheus evaluated (or will have), in
    whole milliseconds, in order and without repeats. Firing is Alertmanager's start, else
    the start of the latest firing run in the history (an alert resolved now)."""
    rule_alert = found.rule_alert or {}
    active = timespec.moment_milliseconds(str(rule_alert.get("activeAt", "")))
    am_start = raw.fields(found.am_alert, dict).get("startsAt")
    firing = timespec.moment_milliseconds(str(am_start)) if am_start else None
    waits = converting.seconds(raw.fields(found.rule, dict).get("duration")) or 0.0
    if firing is None and past is not None and past.latest_run is not None:
        firing = timespec.moment_milliseconds(past.latest_run.start)
    anchor = active if active is not None else firing
    moments: list[evidence.Moment] = []
    if anchor is not None and interval:
        moments.append(("before", anchor - round(interval * 1000)))
    if active is not None and waits:
        moments.append(("pending", active))
    if firing is not None:
        moments.append(("firing", firing))
    moments.append(("now", round(timespec.milliseconds(now) * 1000)))
    ordered: list[evidence.Moment] = []
    for moment in sorted(moments, key=lambda m: m[1]):
        if not ordered or ordered[-1][1] != moment[1]:
            ordered.append(moment)
    return ordered


def _alert(found: locating.Found, prom_labels: Mapping[str, str]) -> investigation.Alert:
    rule_alert = found.rule_alert or {}
    value = rule_alert.get("value")
    if found.am_alert is not None:
        shaped = alerting.alert(found.am_alert)
        external = {k: v for k, v in (shaped.labels or {}).items() if k not in prom_labels}
        return investigation.Alert(
            name=shaped.name,
            state=shaped.state,
            labels=shaped.labels,
            external_labels=external or None if prom_labels else None,
            annotations=shaped.annotations,
            starts_at=shaped.starts_at,
            active_at=converting.moment(rule_alert.get("activeAt")),
            value=models.number(value) if value is not None else None,
            receivers=shaped.receivers,
            fingerprint=shaped.fingerprint,
        )
    labels = dict(prom_labels)
    name = labels.pop(matchers.ALERTNAME, "")
    return investigation.Alert(
        name=name,
        state=hygiene.clean(rule_alert.get("state", "inactive")),
        labels=labels or None,
        annotations=converting.labels(rule_alert.get("annotations")) or None,
        active_at=converting.moment(rule_alert.get("activeAt")),
        value=models.number(value) if value is not None else None,
    )


def _rule(found: locating.Found) -> investigation.Rule | None:
    if found.rule is None:
        return None
    rule = found.rule
    templates = converting.labels(rule.get("annotations"))
    shown = converting.labels(
        raw.fields(found.am_alert or found.rule_alert, dict).get("annotations")
    )
    error = rule.get("lastError")
    return investigation.Rule(
        group=hygiene.clean(found.group.get("name", "")),
        name=hygiene.clean(rule.get("name", "")),
        expression=hygiene.clean(rule.get("query", "")),
        for_duration=converting.duration(rule.get("duration")),
        interval_seconds=converting.seconds(found.group.get("interval")),
        labels=converting.labels(rule.get("labels")) or None,
        annotations=templates if templates and templates != shown else None,
        health=converting.text(rule.get("health")),
        last_error=converting.redact_text(hygiene.clean(error)) if error else None,
    )


TOOLS: tuple[framing.Tool, ...] = (investigate_alert,)
