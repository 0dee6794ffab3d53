"""What the Alertmanager tools answer, converted from Alertmanager's API v2 JSON.

An alert's `state` is what an on-call engineer asks first: `active` (notifying),
`silenced`, `inhibited` (silenced wins when both hold; both lists are given) or
`unprocessed` (just received). Its labels are Alertmanager's, so they carry Prometheus's
external labels. Times are RFC 3339 as Alertmanager wrote them; `starts_at` is when the
alert started firing. Matchers are written in Alertmanager's syntax (`team="db"`,
`job=~"api.*"`), exactly as `filter` and amtool read them back.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

from pydantic import Field

from ..core import hygiene, raw, timespec
from ..promql import matchers
from . import converting, models

STATES = ("active", "silenced", "inhibited", "unprocessed")
SILENCE_STATES = ("active", "pending", "expired")


class Alert(models.Result):
    name: str = Field(description="alertname")
    state: str = Field(description="active, silenced, inhibited or unprocessed")
    labels: dict[str, str] | None = Field(None, description="labels except alertname")
    annotations: dict[str, str] | None = None
    starts_at: str | None = Field(None, description="when it started firing")
    receivers: list[str] | None = Field(None, description="every receiver its routes reach")
    silenced_by: list[str] | None = Field(None, description="ids of the silences muting it")
    inhibited_by: list[str] | None = Field(None, description="fingerprints of inhibiting alerts")
    fingerprint: str


class AlertList(models.Result):
    datasource: str
    alerts: list[Alert] = Field(description="active first, then silenced, inhibited; by name")
    total: int = Field(description="alerts matching the filters")
    by_state: dict[str, int] = Field(description="matching alerts per state, before `state`")
    truncated: models.Truncation | None = None
    hint: str | None = None


class SilenceFields(models.Result):
    """What says which silence it is, in the order agents read it; the lists that show
    silences add their own fields after these."""

    id: str
    state: str = Field(description="active, pending (starts later) or expired")
    matchers: list[str]
    created_by: str
    comment: str
    starts_at: str | None = None
    ends_at: str | None = None


class Silence(SilenceFields):
    silencing: int | None = Field(None, description="alerts it silences now (omitted when 0)")


class SilenceList(models.Result):
    datasource: str
    silences: list[Silence] = Field(
        description="active (ending soonest first), pending, then expired (latest first)"
    )
    total: int = Field(description="silences shown by the filters")
    by_state: dict[str, int] = Field(description="matching silences per state, expired too")
    truncated: models.Truncation | None = None
    hint: str | None = None


class GroupedAlert(models.Result):
    name: str
    state: str
    labels: dict[str, str] | None = Field(None, description="besides the group's labels")
    starts_at: str | None = None


class AlertGroup(models.Result):
    labels: dict[str, str] = Field(description="the group_by labels of its route")
    receiver: str
    total: int
    by_state: dict[str, int]
    alerts: list[GroupedAlert]


class AlertGroupList(models.Result):
    datasource: str
    groups: list[AlertGroup] = Field(description="groups with active alerts first")
    total: int
    truncated: models.Truncation | None = None
    hint: str | None = None


def state_of(value: Any) -> str:
    """One word for an alert's status: silenced over inhibited, as muting is the decision
    someone took."""
    status = raw.fields(raw.fields(value, dict).get("status"), dict)
    if raw.elements(status.get("silencedBy")):
        return "silenced"
    if raw.elements(status.get("inhibitedBy")):
        return "inhibited"
    state = str(status.get("state", ""))
    return "active" if state == "active" else "unprocessed"


def alert(value: Any) -> Alert:
    item = raw.fields(value, dict)
    status = raw.fields(item.get("status"), dict)
    all_labels = converting.labels(item.get("labels"))
    name = all_labels.pop(matchers.ALERTNAME, "")
    receivers = [
        hygiene.clean(raw.fields(r, dict).get("name", ""))
        for r in raw.objects(item.get("receivers"), dict)
    ]
    return Alert(
        name=name,
        state=state_of(item),
        labels=all_labels or None,
        annotations=converting.labels(item.get("annotations")) or None,
        starts_at=converting.moment(item.get("startsAt")),
        receivers=receivers or None,
        silenced_by=_texts(status.get("silencedBy")) or None,
        inhibited_by=_texts(status.get("inhibitedBy")) or None,
        fingerprint=hygiene.clean(item.get("fingerprint", "")),
    )


def alert_order(shaped: Alert) -> tuple[int, str, str]:
    return STATES.index(shaped.state), shaped.name, converting.label_key(shaped.labels)


def silence(value: Any, silencing: int = 0) -> Silence:
    item = raw.fields(value, dict)
    return Silence(
        id=hygiene.clean(item.get("id", "")),
        state=silence_state(item),
        matchers=[hygiene.clean(str(m)) for m in silence_matchers(item) if m is not None],
        created_by=hygiene.clean(item.get("createdBy", "")),
        comment=hygiene.clean(item.get("comment", "")),
        starts_at=converting.moment(item.get("startsAt")),
        ends_at=converting.moment(item.get("endsAt")),
        silencing=silencing or None,
    )


def silence_state(value: Any) -> str:
    return hygiene.clean(raw.fields(raw.fields(value, dict).get("status"), dict).get("state", ""))


def silence_matchers(value: Any) -> list[matchers.Matcher | None]:
    return [
        matchers.from_api(m) for m in raw.objects(raw.fields(value, dict).get("matchers"), dict)
    ]


def silence_order(shaped: Silence) -> tuple[int, int]:
    """Active by end, pending by start, expired latest first."""
    rank = SILENCE_STATES.index(shaped.state) if shaped.state in SILENCE_STATES else 3
    moment = shaped.starts_at if shaped.state == "pending" else shaped.ends_at
    milliseconds = timespec.moment_milliseconds(moment or "") or 0
    return rank, -milliseconds if shaped.state == "expired" else milliseconds


def silenced_counts(raw_alerts: Iterable[Any]) -> collections.Counter[str]:
    """Silence id -> how many alerts it silences now."""
    counts: collections.Counter[str] = collections.Counter()
    for item in raw_alerts:
        status = raw.fields(raw.fields(item, dict).get("status"), dict)
        counts.update(_texts(status.get("silencedBy")))
    return counts


def group(value: Any, limit: int) -> AlertGroup:
    item = raw.fields(value, dict)
    group_labels = converting.labels(item.get("labels"))
    members: list[GroupedAlert] = []
    for raw_alert in raw.objects(item.get("alerts"), dict):
        shaped = alert(raw_alert)
        rest = {k: v for k, v in (shaped.labels or {}).items() if group_labels.get(k) != v}
        members.append(
            GroupedAlert(
                name=shaped.name,
                state=shaped.state,
                labels=rest or None,
                starts_at=shaped.starts_at,
            )
        )
    members.sort(key=lambda a: (STATES.index(a.state), a.name, converting.label_key(a.labels)))
    return AlertGroup(
        labels=group_labels,
        receiver=hygiene.clean(raw.fields(item.get("receiver"), dict).get("name", "")),
        total=len(members),
        by_state=models.tally(a.state for a in members),
        alerts=members[:limit],
    )


def _texts(value: Any) -> list[str]:
    return [hygiene.clean(x) for x in raw.elements(value)]
