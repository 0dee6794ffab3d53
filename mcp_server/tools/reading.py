"""What one datasource's state APIs answer, read into result models: shared by the tools
that ask one datasource (`inspecting`) and those that ask a fleet (`fleet_lists`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from ..backends import capabilities, catalogue, parsing, prometheus
from ..core import errors, raw
from ..promql import syntax
from ..results import converting, inspection
from ..sources import datasources
from . import framing

_STATE_ORDER = {"firing": 0, "pending": 1}


def fetch(
    scope: framing.Scope,
    api: capabilities.Api,
    path: str,
    params: prometheus.Params = (),
) -> Awaitable[prometheus.ApiResult]:
    """`capabilities.fetch` on the scope's datasource."""
    return capabilities.fetch(scope.datasource, scope.client, api, path, params)


async def alerting_rules(
    datasource: datasources.Datasource, client: prometheus.PrometheusClient
) -> tuple[converting.RuleIndex, str | None]:
    """The alerting rules by the label sets of their alerts; a failure only costs the rule
    details, never the alerts."""
    try:
        answer = await capabilities.fetch(
            datasource, client, capabilities.Api.RULES, "/api/v1/rules", [("type", "alert")]
        )
    except (errors.Unsupported, errors.UpstreamError) as exc:
        return {}, f"rules unavailable: {exc.message}"
    groups = raw.fields(answer.data, raw.RulesData).get("groups")
    return converting.rule_index(raw.objects(groups, raw.RuleGroup)), None


ALERTS_NARROW = "filter by state, or raise limit"


async def alerts_of(
    scope: framing.Scope,
) -> tuple[list[inspection.Alert], converting.RuleIndex, str | None]:
    """The datasource's alerts (firing first, then by name and labels), the rules behind
    them, and a note when the rules could not be read."""
    capabilities.require(scope.datasource, capabilities.Api.ALERTS)
    answer, (rules, note) = await asyncio.gather(
        fetch(scope, capabilities.Api.ALERTS, "/api/v1/alerts"),
        alerting_rules(scope.datasource, scope.client),
    )
    raw_alerts = raw.fields(answer.data, raw.AlertsData).get("alerts")
    alerts = sorted(
        (converting.alert(item, rules) for item in raw.objects(raw_alerts, raw.Alert)),
        key=alert_order,
    )
    return alerts, rules, note


def alert_order(alert: inspection.Alert) -> tuple[int, str, str, str]:
    return (
        _STATE_ORDER.get(alert.state, 2),
        alert.name,
        alert.datasource or "",
        converting.label_key(alert.labels),
    )


def alerts_empty(state: str | None, alerts: list[inspection.Alert]) -> str:
    if state and alerts:
        return f"no {state} alerts (by_state counts the others)"
    return (
        "no alerts firing or pending; list_rules shows the alerting rules and "
        "whether they evaluate (health)"
    )


def rules_of(
    shown: list[inspection.Alert], rules: converting.RuleIndex
) -> list[inspection.AlertRule]:
    """The rules behind the alerts shown, once each."""
    used = {(a.group, a.name) for a in shown}
    return [r for r in dict.fromkeys(rules.values()) if (r.group, r.name) in used]


SERIES_NARROW = "add label matchers, or raise limit"
SERIES_EMPTY = "no series in the window: check names with find_metrics_by_pattern, widen start"


async def series_of(scope: framing.Scope, match: str) -> list[dict[str, str]]:
    """The label sets `/api/v1/series` gives for `match` in the scope's window, sorted."""
    start_s, end_s = scope.period
    answer = await parsing.send(
        scope.client,
        "/api/v1/series",
        [("match[]", match), ("start", f"{start_s:.3f}"), ("end", f"{end_s:.3f}")],
        match,
        cache_seconds=catalogue.CACHE_SECONDS,
        refresh=scope.fresh,
    )
    raw_series = raw.elements(answer.data)
    return sorted((converting.labels(item) for item in raw_series), key=converting.label_key)


def name_matcher(regex: str) -> str:
    """The series selector of metric names containing a match of `regex`."""
    return "{__name__=~" + syntax.quote(f".*(?:{regex}).*") + "}"
