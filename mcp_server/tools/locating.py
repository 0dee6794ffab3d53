"""Finding an alert on both sides: the Alertmanager alert and the Prometheus rule behind it.

An Alertmanager reaches its Prometheus datasources through its links (`alertsFrom`: ids,
uids, or in a custom resource a bare name of its namespace), a Prometheus its Alertmanagers
through theirs; every datasource used is one the caller may query (the others are skipped
without being named). An Alertmanager alert is matched to its rule's alert by name and
labels, tolerating the external labels Prometheus adds to what it sends.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..backends import alertmanager, capabilities, live
from ..core import errors, hygiene, raw
from ..promql import matchers
from ..results import alerting, converting, investigation
from ..sources import datasources
from . import evidence

_FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")
_RULE_STATES = {"firing": 0, "pending": 1}


@dataclass(frozen=True, slots=True)
class Reference:
    fingerprint: str | None
    matchers: tuple[matchers.Matcher, ...]

    def takes(self, raw_alert: Any) -> bool:
        item = raw.fields(raw_alert, dict)
        if self.fingerprint is not None and item.get("fingerprint") == self.fingerprint:
            return True
        labels = raw.fields(item.get("labels"), dict)
        return bool(self.matchers) and matchers.matches_all(self.matchers, labels)

    @property
    def labels(self) -> dict[str, str]:
        """The labels its equality matchers name (an alert that is not firing is known by
        nothing else)."""
        return {m.name: m.value for m in self.matchers if m.op is matchers.Op.EQUAL}


@dataclass
class Found:
    """The alert on each side, and the rule behind it."""

    am_alert: dict[str, Any] | None = None
    prom: evidence.Backend | None = None
    group: dict[str, Any] = field(default_factory=dict)
    rule: dict[str, Any] | None = None
    rule_alert: dict[str, Any] | None = None
    others: list[investigation.Other] = field(default_factory=list)
    resolved: dict[str, str] | None = None
    """When nothing fires: the labels the caller named, for reading the rule's history."""

    @property
    def labels(self) -> dict[str, str]:
        """The alert's labels on Prometheus's side (no external labels), alertname too."""
        if self.rule_alert is not None:
            return converting.labels(self.rule_alert.get("labels"))
        return dict(self.resolved or {})


# --- the datasources on the other side ----------------------------------------------------


async def linked_prometheus(
    backends: live.Backends, am: datasources.Datasource, notes: list[str]
) -> list[evidence.Backend]:
    found: list[evidence.Backend] = []
    skipped = 0
    for link in am.alerts_from:
        resolved = await _resolve_link(backends, am, link)
        if resolved is None or resolved.kind is datasources.DatasourceKind.ALERTMANAGER:
            skipped += 1
            continue
        datasource, client = await backends.resolve(resolved.id)
        found.append(evidence.Backend(datasource, client))
    if skipped:
        notes.append(f"{skipped} linked datasource(s) not served, not Prometheus, or not yours")
    if not am.alerts_from:
        notes.append(
            "this Alertmanager names no Prometheus datasource (jsonData.alertsFrom, or "
            "spec.alertsFrom): the rule, its values and its history are not read"
        )
    return found


async def _resolve_link(
    backends: live.Backends, am: datasources.Datasource, link: str
) -> datasources.Datasource | None:
    """A link's datasource, if served and the caller may use it: a bare name in a custom
    resource means one in its namespace first."""
    candidates = [link]
    if am.source.kind is datasources.SourceKind.CUSTOM_RESOURCE and "/" not in link:
        candidates.insert(0, f"{am.source.location.split('/')[0]}/{link}")
    snapshot = backends.registry.current()
    for candidate in candidates:
        if snapshot.get(candidate) is None:
            continue
        try:
            return (await backends.resolve(candidate))[0]
        except (errors.DatasourceNotFound, errors.DatasourceUnavailable):
            return None
    return None


async def linked_alertmanager(
    backends: live.Backends, prom: datasources.Datasource
) -> evidence.Backend | None:
    """The first Alertmanager (by id) the caller may use that links `prom`."""
    for candidate in await backends.visible(backends.registry.current()):
        if candidate.kind is not datasources.DatasourceKind.ALERTMANAGER:
            continue
        for link in candidate.alerts_from:
            target = await _resolve_link(backends, candidate, link)
            if target is not None and target.id == prom.id:
                datasource, client = await backends.resolve(candidate.id)
                return evidence.Backend(datasource, client)
    return None


async def alertmanager_alerts(am: evidence.Backend | None, notes: list[str]) -> list[Any]:
    if am is None:
        notes.append("no Alertmanager links this Prometheus: silences and inhibitions unknown")
        return []
    return list(await alertmanager.listed(am.datasource, am.client, alertmanager.ALERTS))


Rules = list[tuple[evidence.Backend, list[Any]]]
"""Each Prometheus and its alerting rule groups."""


async def rules(proms: Sequence[evidence.Backend], notes: list[str]) -> Rules:
    async def one(prom: evidence.Backend) -> list[Any]:
        answer = await capabilities.fetch(
            prom.datasource,
            prom.client,
            capabilities.Api.RULES,
            "/api/v1/rules",
            [("type", "alert")],
        )
        return raw.objects(raw.fields(answer.data, dict).get("groups"), dict)

    answers = await asyncio.gather(*(one(p) for p in proms), return_exceptions=True)
    found: Rules = []
    for prom, answer in zip(proms, answers, strict=True):
        if isinstance(answer, errors.PromsMcpError):
            notes.append(f"rules of {hygiene.quoted(prom.datasource.id)}: {answer.message}")
        elif isinstance(answer, BaseException):
            raise answer
        else:
            found.append((prom, answer))
    return found


# --- finding the alert ----------------------------------------------------------------------


def reference(text: str) -> Reference:
    stripped = text.strip()
    if _FINGERPRINT.match(stripped):
        name = [matchers.Matcher(matchers.ALERTNAME, matchers.Op.EQUAL, stripped)]
        return Reference(stripped, tuple(name if stripped[0].isalpha() else ()))
    found = matchers.selector(stripped, argument="alert")
    if not found:
        raise errors.InvalidArgument(
            'alert is empty; pass an alert name, Name{label="value"}, or a fingerprint'
        )
    return Reference(None, found)


def locate(reference: Reference, from_am: bool, am_alerts: list[Any], rules: Rules) -> Found | None:
    """The alert the reference names, on the side it was asked on first; a rule of that name
    when none fires now (an alert that flaps is often resolved when someone looks)."""
    if from_am or (reference.fingerprint and not reference.matchers):
        chosen = sorted(
            (a for a in am_alerts if reference.takes(a)),
            key=lambda a: alerting.alert_order(alerting.alert(a)),
        )
        if not chosen:
            return _resolved(reference, rules)
        found = _rule_of(raw.fields(chosen[0].get("labels"), dict), rules)
        found.am_alert = chosen[0]
        found.others = [_other_am(a) for a in chosen[1:]]
        return found
    candidates = sorted(
        (
            (prom, group, rule, item)
            for prom, groups in rules
            for group in groups
            for rule in raw.objects(raw.fields(group, dict).get("rules"), dict)
            for item in raw.objects(raw.fields(rule, dict).get("alerts"), dict)
            if reference.takes(item)
        ),
        key=lambda c: _RULE_STATES.get(str(c[3].get("state")), 2),
    )
    if not candidates:
        return _resolved(reference, rules)
    prom, group, rule, item = candidates[0]
    found = Found(None, prom, group, rule, item, [_other_rule_alert(c[3]) for c in candidates[1:]])
    found.am_alert = _am_alert_of(raw.fields(item.get("labels"), dict), am_alerts)
    return found


def _resolved(reference: Reference, rules: Rules) -> Found | None:
    """The rule the reference names by its alertname, when no alert of it is active; its
    labels are the rule's own (on every alert it makes) and the ones the caller named."""
    wanted = reference.labels
    name = wanted.get(matchers.ALERTNAME)
    for prom, groups in rules:
        for group in groups:
            for rule in raw.objects(raw.fields(group, dict).get("rules"), dict):
                if name is not None and raw.fields(rule, dict).get("name") == name:
                    labels = {**converting.labels(raw.fields(rule, dict).get("labels")), **wanted}
                    return Found(None, prom, group, rule, resolved=labels)
    return None


def _rule_of(labels: Mapping[str, str], rules: Rules) -> Found:
    """The rule (and its alert) behind an Alertmanager alert: same name, and labels that
    are the Alertmanager alert's minus the external ones (the most such labels wins)."""
    name = labels.get(matchers.ALERTNAME)
    best: Found = Found()
    best_size = -1
    for prom, groups in rules:
        for group in groups:
            for rule in raw.objects(raw.fields(group, dict).get("rules"), dict):
                if raw.fields(rule, dict).get("name") != name:
                    continue
                if best.rule is None and _subset(raw.fields(rule, dict).get("labels"), labels):
                    best = Found(None, prom, group, rule)
                for item in raw.objects(raw.fields(rule, dict).get("alerts"), dict):
                    item_labels = raw.fields(raw.fields(item, dict).get("labels"), dict)
                    if _subset(item_labels, labels) and len(item_labels) > best_size:
                        best, best_size = Found(None, prom, group, rule, item), len(item_labels)
    return best


def _am_alert_of(labels: Mapping[str, str], am_alerts: list[Any]) -> dict[str, Any] | None:
    """The Alertmanager alert of a Prometheus alert: its labels plus the fewest others."""
    mine = [
        a for a in am_alerts if _subset(labels, raw.fields(raw.fields(a, dict).get("labels"), dict))
    ]
    return min(mine, key=lambda a: len(raw.fields(a.get("labels"), dict)), default=None)


def _subset(small: Any, large: Mapping[str, Any]) -> bool:
    return all(large.get(k) == v for k, v in raw.fields(small, dict).items())


def _other_am(value: Any) -> investigation.Other:
    shaped = alerting.alert(value)
    return investigation.Other(
        state=shaped.state, labels=shaped.labels, fingerprint=shaped.fingerprint
    )


def _other_rule_alert(value: Any) -> investigation.Other:
    item_labels = converting.labels(raw.fields(value, dict).get("labels"))
    item_labels.pop(matchers.ALERTNAME, None)
    state = hygiene.clean(raw.fields(value, dict).get("state", ""))
    return investigation.Other(state=state, labels=item_labels or None)


def not_found(
    wanted: str,
    datasource: datasources.Datasource,
    am_alerts: list[Any],
    rules: Rules,
    from_am: bool,
) -> str:
    names = {str(raw.fields(a.get("labels"), dict).get(matchers.ALERTNAME, "")) for a in am_alerts}
    if not from_am:
        names = {
            str(raw.fields(r, dict).get("name", ""))
            for _, groups in rules
            for g in groups
            for r in raw.objects(raw.fields(g, dict).get("rules"), dict)
            if raw.objects(raw.fields(r, dict).get("alerts"), dict)
        }
    close = difflib.get_close_matches(wanted.strip().split("{")[0], sorted(names), n=3)
    message = (
        f"no firing or pending alert matches alert={hygiene.quoted(wanted)} on datasource "
        f"{hygiene.quoted(datasource.id)}"
    )
    if close:
        message += "; did you mean " + ", ".join(hygiene.quoted(c) for c in close) + "?"
    lister = "list_alertmanager_alerts" if from_am else "list_alerts"
    return message + f" ({lister} shows the alerts there)"
