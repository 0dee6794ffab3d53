"""Tools that read a backend's own state: alerts, rules, targets, series, TSDB status,
build and runtime information, exemplars.

APIs some flavours lack go through `capabilities.fetch`, so an agent gets `unsupported`
instead of a 404. Every backend string is cleaned; URLs in target addresses and errors
lose their credentials (userinfo, and query parameters whose names look secret).
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal

import promql_parser
from pydantic import Field

from ..backends import capabilities, facts, live, prometheus
from ..core import errors, hygiene, raw, timespec
from ..promql import checks
from ..results import converting, inspection, models
from ..sources import datasources, selection
from . import arguments, fanout, fleet_lists, framing, reading

AlertState = Annotated[
    Literal["firing", "pending"] | None, Field(description="only alerts in this state")
]
RuleType = Annotated[
    Literal["alert", "record"] | None, Field(description="only alerting or recording rules")
]
NamePattern = Annotated[str | None, Field(description="regex searched within rule names")]
TargetState = Annotated[Literal["up", "down"] | None, Field(description="only this health")]
Job = Annotated[str | None, Field(description="only targets of this job")]
Selector = Annotated[str, Field(description='series selector, e.g. up{job="api"}')]
TopN = Annotated[int, Field(ge=1, le=1000, description="entries per list")]

_HEALTH_ORDER = {"down": 0, "unknown": 1, "up": 2}


async def list_alerts(
    backends: live.Backends,
    datasource_id: arguments.OneDatasource = None,
    state: AlertState = None,
    limit: arguments.Limit = 100,
    datasources: arguments.Datasources = None,
    labels: arguments.Labels = None,
    namespace: arguments.Namespace = None,
    max_tokens: arguments.MaxTokens = None,
) -> inspection.AlertList | dict[str, Any]:
    """Alerts firing or pending now, with labels, annotations, value and the rule behind
    each (group, query, for). Start here when asked what is wrong."""
    target = fanout.target(datasource_id, datasources, labels)
    if isinstance(target, selection.Selector):
        return await fleet_lists.list_alerts(backends, target, state, limit)
    scope = await framing.scope(backends, target)
    alerts, rules, note = await reading.alerts_of(scope)
    chosen = [a for a in alerts if state is None or a.state == state]
    page = models.page(
        chosen, limit, narrow=reading.ALERTS_NARROW, empty=reading.alerts_empty(state, alerts)
    )
    return inspection.AlertList(
        datasource=scope.id,
        rules=reading.rules_of(page.items, rules) or None,
        by_state=models.tally(a.state for a in alerts),
        note=note,
        **page.fields("alerts"),
    )


async def list_rules(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    type: RuleType = None,
    name_pattern: NamePattern = None,
    limit: arguments.Limit = 100,
    namespace: arguments.Namespace = None,
    max_tokens: arguments.MaxTokens = None,
) -> inspection.RuleList:
    """Alerting and recording rules with query, health and last error; alerting rules
    also with state and how many alerts they fire. Use to find broken rules."""
    pattern = _compile(name_pattern) if name_pattern is not None else None
    scope = await framing.scope(backends, datasource_id)
    params = [("type", type)] if type is not None else []
    answer = await reading.fetch(scope, capabilities.Api.RULES, "/api/v1/rules", params)
    rules: list[inspection.Rule] = []
    groups: dict[str, inspection.RuleGroup] = {}
    for raw_group in raw.objects(
        raw.fields(answer.data, raw.RulesData).get("groups"), raw.RuleGroup
    ):
        group = converting.rule_group(raw_group)
        for raw_rule in raw.objects(raw_group.get("rules"), raw.Rule):
            rule = converting.rule(raw_rule, group.name)
            if (type is None or rule.type == type) and (
                pattern is None or pattern.search(rule.name)
            ):
                rules.append(rule)
                groups.setdefault(group.name, group)
    rules.sort(key=lambda r: r.health != "err")  # stable: backend order otherwise
    page = models.page(
        rules,
        limit,
        narrow="filter by type or name_pattern",
        empty="this backend evaluates no rules (none are loaded)",
        unmatched="no rule matches the filters; try without them",
        filtered=type or pattern,
    )
    shown = [groups[name] for name in dict.fromkeys(r.group for r in page.items)]
    by_health = models.tally(r.health for r in rules)
    return inspection.RuleList(
        datasource=scope.id, groups=shown, by_health=by_health, **page.fields("rules")
    )


async def list_targets(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    state: TargetState = None,
    job: Job = None,
    limit: arguments.Limit = 100,
    max_tokens: arguments.MaxTokens = None,
) -> inspection.TargetList:
    """Scrape targets with health, last error and last scrape, down ones first;
    credentials in URLs are redacted. Use when data is missing or up is 0."""
    scope = await framing.scope(backends, datasource_id)
    capabilities.require(scope.datasource, capabilities.Api.TARGETS)
    answer, (dropped, note) = await asyncio.gather(
        reading.fetch(scope, capabilities.Api.TARGETS, "/api/v1/targets", [("state", "active")]),
        _dropped_count(scope.datasource, scope.client, job),
    )
    raw_targets = raw.fields(answer.data, raw.TargetsData).get("activeTargets")
    targets = [converting.target(item) for item in raw.objects(raw_targets, raw.Target)]
    if job is not None:
        targets = [t for t in targets if t.job == job]
    targets.sort(key=lambda t: (_HEALTH_ORDER.get(t.health, 1), t.job, t.instance))
    page = models.page(
        [t for t in targets if state is None or t.health == state],
        limit,
        narrow="filter by job or state, or raise limit",
        empty="no active targets: this backend scrapes nothing itself",
        unmatched="no target matches; try without job/state (jobs are the `job` label values)",
        filtered=job or state,
    )
    by_health = models.tally(t.health for t in targets)
    return inspection.TargetList(
        datasource=scope.id,
        by_health=by_health,
        dropped=dropped,
        note=note,
        **page.fields("targets"),
    )


async def find_series(
    backends: live.Backends,
    datasource_id: arguments.OneDatasource = None,
    *,
    match: Selector,
    start: arguments.TimeArg = None,
    end: arguments.TimeArg = None,
    limit: arguments.Limit = 100,
    datasources: arguments.Datasources = None,
    labels: arguments.Labels = None,
    namespace: arguments.Namespace = None,
    max_tokens: arguments.MaxTokens = None,
) -> inspection.SeriesList | dict[str, Any]:
    """Label sets of the series matching a selector (default: the last hour). Use to
    see which series and label combinations exist before querying."""
    selector = _check_selector(match)
    target = fanout.target(datasource_id, datasources, labels)
    if isinstance(target, selection.Selector):
        window = (start, end)
        return await fleet_lists.find_series(backends, target, match, selector, window, limit)
    scope = await framing.scope(backends, target, start, end, discovery=True)
    series = await reading.series_of(scope, match)
    page = models.page(series, limit, narrow=reading.SERIES_NARROW, empty=reading.SERIES_EMPTY)
    return inspection.SeriesList(
        datasource=scope.id,
        match=selector,
        start=timespec.isoformat(scope.period[0]),
        end=timespec.isoformat(scope.period[1]),
        **page.fields("series"),
    )


async def get_tsdb_status(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    limit: TopN = 10,
    max_tokens: arguments.MaxTokens = None,
) -> inspection.TsdbStatus:
    """Head block statistics and the metrics, labels and label pairs with the most series
    or memory: cardinality hot spots."""
    scope = await framing.scope(backends, datasource_id)
    params = [("limit", str(limit))]  # Prometheus < 2.45 ignores it: capped here too
    if scope.datasource.prometheus_type is datasources.PrometheusType.VICTORIAMETRICS:
        params = [("topN", str(limit))]
    answer = await reading.fetch(scope, capabilities.Api.TSDB_STATUS, "/api/v1/status/tsdb", params)
    data: dict[str, object] = dict(raw.fields(answer.data, raw.TsdbStatus))
    head = converting.head_stats(data.get("headStats"))
    lists = {
        ours: converting.top(data[theirs], limit)
        for theirs, ours in converting.TSDB_LISTS
        if theirs in data
    }
    return inspection.TsdbStatus(
        datasource=scope.id,
        head=head,
        hint=None if head or lists else "the backend sent no TSDB statistics",
        **lists,
    )


async def get_build_info(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    max_tokens: arguments.MaxTokens = None,
) -> inspection.BuildInfo:
    """Backend version and build, and when available its runtime: start time, retention,
    whether the last config reload succeeded."""
    scope = await framing.scope(backends, datasource_id)
    build = await facts.build_info(scope.client)
    runtime = raw.RuntimeInfo()
    note = None
    try:
        answer = await reading.fetch(
            scope, capabilities.Api.RUNTIME_INFO, "/api/v1/status/runtimeinfo"
        )
        runtime = raw.fields(answer.data, raw.RuntimeInfo)
        if not runtime:
            note = "no runtime information: the backend sent none"
    except (errors.Unsupported, errors.UpstreamError) as exc:
        note = f"no runtime information: {exc.message}"
    return converting.build_info(scope.id, build, runtime, note)


async def query_exemplars(
    backends: live.Backends,
    datasource_id: arguments.DatasourceId,
    promql: arguments.PromQL,
    start: arguments.TimeArg = None,
    end: arguments.TimeArg = None,
    limit: arguments.Limit = 100,
    max_tokens: arguments.MaxTokens = None,
) -> inspection.ExemplarList:
    """Exemplars (trace ids attached to samples) of the series a query selects, in a
    window (default the last hour), newest first. Use to go from a spike to traces."""
    query = checks.check_limits(promql)
    scope = await framing.scope(backends, datasource_id, start, end)
    start_s, end_s = scope.period
    answer = await capabilities.fetch(
        scope.datasource,
        scope.client,
        capabilities.Api.EXEMPLARS,
        "/api/v1/query_exemplars",
        [("query", promql), ("start", f"{start_s:.3f}"), ("end", f"{end_s:.3f}")],
        promql=promql,
    )
    raw_series = raw.objects(answer.data, raw.ExemplarSeries)
    series, total = converting.exemplar_series(raw_series, limit)
    truncated = None
    if total > limit:
        truncated = models.Truncation(
            returned=limit, total=total, hint="narrow the query or the window"
        )
    hint = None
    if not total:
        hint = (
            "no exemplars: they exist only where exemplar storage is enabled and targets "
            "expose them (OpenMetrics), mostly on _bucket and _total series; try one of "
            "those or a wider window"
        )
    return inspection.ExemplarList(
        datasource=scope.id,
        query=query,
        start=timespec.isoformat(start_s),
        end=timespec.isoformat(end_s),
        series=series,
        total=total,
        truncated=truncated,
        hint=hint,
    )


TOOLS: tuple[framing.Tool, ...] = (
    list_alerts,
    list_rules,
    list_targets,
    find_series,
    get_tsdb_status,
    get_build_info,
    query_exemplars,
)


# --- fetching -------------------------------------------------------------------------------


async def _dropped_count(
    datasource: datasources.Datasource, client: prometheus.PrometheusClient, job: str | None
) -> tuple[int | None, str | None]:
    """Dropped targets are a separate, often large list: counted, never returned, and a
    failure to get them only costs the count."""
    try:
        answer = await capabilities.fetch(
            datasource, client, capabilities.Api.TARGETS, "/api/v1/targets", [("state", "dropped")]
        )
    except (errors.Unsupported, errors.UpstreamError) as exc:
        return None, f"dropped count unavailable: {exc.message}"
    return converting.dropped_count(raw.fields(answer.data, raw.TargetsData), job), None


# --- argument checks ------------------------------------------------------------------------


def _check_selector(match: str) -> str:
    """A selector our parser reads must be a plain one; one it cannot read goes to the
    backend, whose parser decides (and names the position of an error)."""
    selector = checks.check_limits(match)
    try:
        expr = promql_parser.parse(selector)
    except ValueError:
        return selector
    if not isinstance(expr, promql_parser.VectorSelector):
        raise errors.InvalidArgument(
            f"match={hygiene.quoted(match)} is not a series selector; pass a metric name "
            'and/or label matchers such as up{job="api"}, without functions or ranges'
        )
    return selector


def _compile(pattern: str) -> re.Pattern[str]:
    text = arguments.check_regex(pattern, argument="name_pattern")
    try:
        return re.compile(text)
    except re.error as exc:
        raise errors.InvalidArgument(
            f"name_pattern={hygiene.quoted(pattern)} is not a regex: {exc}"
        ) from None
