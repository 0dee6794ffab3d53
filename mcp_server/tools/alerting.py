"""Tools that read an Alertmanager: its alerts, silences and alert groups.

Read-only, as everything here: no tool creates, edits or expires a silence, and the client
has no method that could. Each takes an Alertmanager datasource (type Alertmanager in
list_datasources); a Prometheus datasource answers `unsupported`, as the query tools do on
an Alertmanager.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from pydantic import Field

from ..backends import alertmanager, capabilities, live
from ..promql import matchers
from ..results import alerting, models
from . import arguments, framing

Match = Annotated[
    str | None,
    Field(description='label matchers, e.g. {severity="critical"}; a leading name is alertname'),
]
AlertState = Annotated[
    Literal["active", "silenced", "inhibited", "suppressed", "unprocessed"] | None,
    Field(description="only alerts in this state; suppressed: silenced or inhibited"),
]
Receiver = Annotated[str | None, Field(description="only alerts routed to this receiver")]
IncludeExpired = Annotated[bool, Field(description="also expired silences")]
GroupLimit = Annotated[int, Field(ge=1, le=1000, description="alerts shown per group")]

_SUPPRESSED = frozenset({"silenced", "inhibited"})


async def list_alertmanager_alerts(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    match: Match = None,
    state: AlertState = None,
    receiver: Receiver = None,
    limit: arguments.Limit = 100,
    max_tokens: arguments.MaxTokens = None,
) -> alerting.AlertList:
    """Alerts as an Alertmanager sees them: active, silenced or inhibited, the receivers
    they reach and what suppresses them. Use on a datasource of type Alertmanager."""
    selected = matchers.selector(match or "", argument="match")
    scope = await framing.scope(backends, datasource_id, api=capabilities.Api.ALERTMANAGER)
    raw = await alertmanager.listed(scope.datasource, scope.client, alertmanager.ALERTS, selected)
    shaped = [alerting.alert(item) for item in raw]
    if receiver is not None:
        shaped = [a for a in shaped if receiver in (a.receivers or ())]
    shaped.sort(key=alerting.alert_order)
    unmatched = "no alert matches; try without match or receiver"
    if state and shaped:
        unmatched = f"no {state} alerts (by_state counts the others)"
    page = models.page(
        [a for a in shaped if _in_state(a, state)],
        limit,
        narrow="add matchers (match), a state or a receiver, or raise limit",
        empty="this Alertmanager holds no alerts: nothing fires, or nothing sends to it",
        unmatched=unmatched,
        filtered=match or receiver or (state and shaped),
    )
    by_state = models.tally(a.state for a in shaped)
    return alerting.AlertList(datasource=scope.id, by_state=by_state, **page.fields("alerts"))


def _in_state(shaped: alerting.Alert, state: str | None) -> bool:
    if state is None or shaped.state == state:
        return True
    if state == "inhibited":
        return bool(shaped.inhibited_by)
    return state == "suppressed" and shaped.state in _SUPPRESSED


async def list_silences(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    match: Match = None,
    include_expired: IncludeExpired = False,
    limit: arguments.Limit = 100,
    max_tokens: arguments.MaxTokens = None,
) -> alerting.SilenceList:
    """Silences of an Alertmanager, active and pending (expired on request): matchers,
    creator, comment, expiry, and how many alerts each mutes now. Read-only."""
    selected = matchers.selector(match or "", argument="match")
    scope = await framing.scope(backends, datasource_id, api=capabilities.Api.ALERTMANAGER)
    raw, raw_alerts = await asyncio.gather(
        alertmanager.listed(scope.datasource, scope.client, alertmanager.SILENCES, selected),
        alertmanager.listed(scope.datasource, scope.client, alertmanager.ALERTS),
    )
    counts = alerting.silenced_counts(raw_alerts)
    shaped = [alerting.silence(item, counts[str(item.get("id", ""))]) for item in raw]
    shaped.sort(key=alerting.silence_order)
    unmatched = "no silence matches; match keeps silences whose equality matchers satisfy it"
    if shaped and not include_expired:
        unmatched = "no active or pending silence; include_expired shows the expired ones"
    page = models.page(
        [s for s in shaped if include_expired or s.state != "expired"],
        limit,
        narrow="add matchers (match), or raise limit",
        empty="this Alertmanager has no silences",
        unmatched=unmatched,
        filtered=match or (shaped and not include_expired),
    )
    by_state = models.tally(s.state for s in shaped)
    return alerting.SilenceList(datasource=scope.id, by_state=by_state, **page.fields("silences"))


async def list_alert_groups(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    match: Match = None,
    receiver: Receiver = None,
    alerts_per_group: GroupLimit = 10,
    limit: arguments.Limit = 50,
    max_tokens: arguments.MaxTokens = None,
) -> alerting.AlertGroupList:
    """Alert groups of an Alertmanager as its routes form them: the group labels, the
    receiver, counts per state and the alerts in each. Use to see what pages together."""
    selected = matchers.selector(match or "", argument="match")
    scope = await framing.scope(backends, datasource_id, api=capabilities.Api.ALERTMANAGER)
    raw = await alertmanager.listed(scope.datasource, scope.client, alertmanager.GROUPS, selected)
    groups = [alerting.group(item, alerts_per_group) for item in raw]
    if receiver is not None:
        groups = [g for g in groups if g.receiver == receiver]
    groups.sort(key=lambda g: (-g.by_state.get("active", 0), g.receiver, sorted(g.labels.items())))
    page = models.page(
        groups,
        limit,
        narrow="add matchers (match) or a receiver, or raise limit",
        empty="this Alertmanager holds no alerts, so no groups",
        unmatched="no group matches; try without match or receiver",
        filtered=match or receiver,
    )
    return alerting.AlertGroupList(datasource=scope.id, **page.fields("groups"))


TOOLS: tuple[framing.Tool, ...] = (list_alertmanager_alerts, list_silences, list_alert_groups)
