"""Tools that read a backend's own state: alerts, rules, targets, series, TSDB status,
build and runtime information, exemplars.

APIs some flavours lack go through `capabilities.fetch`, so an agent gets `unsupported`
instead of a 404. Every backend string is cleaned; URLs in target addresses and errors
lose their credentials (userinfo, and query parameters whose names look secret).
"""

from __future__ import annotations

import asyncio
import collections
import re
from typing import Annotated, Any, Literal

import promql_parser
from fastmcp import FastMCP
from pydantic import Field

from ..backends import capabilities, catalogue, live, parsing, prometheus
from ..core import errors, hygiene, timespec
from ..promql import checks
from ..protocol import calls
from ..results import budget, models
from ..results import inspection as out
from ..sources import datasources
from . import arguments, querying

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

_STATE_ORDER = {"firing": 0, "pending": 1}
_HEALTH_ORDER = {"down": 0, "unknown": 1, "up": 2}


def register(app: FastMCP, backends: live.Backends) -> None:
    """Attach the inspection tools to `app`."""

    @app.tool(annotations=querying.READ_ONLY, output_schema=None)
    @calls.guarded("list_alerts")
    async def list_alerts(
        datasource_id: querying.DatasourceId,
        state: AlertState = None,
        limit: querying.Limit = 100,
        max_tokens: budget.MaxTokens = None,
    ) -> out.AlertList:
        """Alerts firing or pending now, with labels, annotations, value and the rule behind
        each (group, query, for). Start here when asked what is wrong."""
        datasource, client = await backends.resolve(datasource_id)
        capabilities.require(datasource, capabilities.Api.ALERTS)
        answer, (rules, note) = await asyncio.gather(
            capabilities.fetch(datasource, client, capabilities.Api.ALERTS, "/api/v1/alerts"),
            _alerting_rules(datasource, client),
        )
        raw_alerts = out.items(out.mapping(answer.data).get("alerts"))
        alerts = [out.alert(raw, rules) for raw in raw_alerts]
        alerts.sort(key=lambda a: (_STATE_ORDER.get(a.state, 2), a.name, out.label_key(a.labels)))
        by_state = dict(collections.Counter(a.state for a in alerts))
        chosen = [a for a in alerts if state is None or a.state == state]
        shown, truncated = models.cap(chosen, limit, "filter by state, or raise limit")
        used = {(a.group, a.name) for a in shown}
        rule_list = [r for r in dict.fromkeys(rules.values()) if (r.group, r.name) in used]
        hint = None
        if not chosen:
            hint = (
                f"no {state} alerts (by_state counts the others)"
                if state and alerts
                else "no alerts firing or pending; list_rules shows the alerting rules and "
                "whether they evaluate (health)"
            )
        return out.AlertList(
            datasource=datasource.id,
            alerts=shown,
            rules=rule_list or None,
            total=len(chosen),
            by_state=by_state,
            truncated=truncated,
            note=note,
            hint=hint,
        )

    @app.tool(annotations=querying.READ_ONLY, output_schema=None)
    @calls.guarded("list_rules")
    async def list_rules(
        datasource_id: querying.DatasourceId,
        type: RuleType = None,
        name_pattern: NamePattern = None,
        limit: querying.Limit = 100,
        max_tokens: budget.MaxTokens = None,
    ) -> out.RuleList:
        """Alerting and recording rules with query, health and last error; alerting rules
        also with state and how many alerts they fire. Use to find broken rules."""
        pattern = _compile(name_pattern) if name_pattern is not None else None
        datasource, client = await backends.resolve(datasource_id)
        params = [("type", type)] if type is not None else []
        answer = await capabilities.fetch(
            datasource, client, capabilities.Api.RULES, "/api/v1/rules", params
        )
        rules: list[out.Rule] = []
        groups: dict[str, out.RuleGroup] = {}
        for raw_group in out.items(out.mapping(answer.data).get("groups")):
            group = out.rule_group(raw_group)
            for raw in out.items(out.mapping(raw_group).get("rules")):
                rule = out.rule(raw, group.name)
                if type is not None and rule.type != type:
                    continue
                if pattern is not None and not pattern.search(rule.name):
                    continue
                rules.append(rule)
                groups.setdefault(group.name, group)
        rules.sort(key=lambda r: r.health != "err")  # stable: backend order otherwise
        shown, truncated = models.cap(rules, limit, "filter by type or name_pattern")
        hint = None
        if not rules:
            hint = (
                "no rule matches the filters; try without them"
                if type or pattern
                else "this backend evaluates no rules (none are loaded)"
            )
        return out.RuleList(
            datasource=datasource.id,
            rules=shown,
            groups=[groups[name] for name in dict.fromkeys(r.group for r in shown)],
            total=len(rules),
            by_health=dict(collections.Counter(r.health for r in rules)),
            truncated=truncated,
            hint=hint,
        )

    @app.tool(annotations=querying.READ_ONLY, output_schema=None)
    @calls.guarded("list_targets")
    async def list_targets(
        datasource_id: querying.DatasourceId,
        state: TargetState = None,
        job: Job = None,
        limit: querying.Limit = 100,
        max_tokens: budget.MaxTokens = None,
    ) -> out.TargetList:
        """Scrape targets with health, last error and last scrape, down ones first;
        credentials in URLs are redacted. Use when data is missing or up is 0."""
        datasource, client = await backends.resolve(datasource_id)
        capabilities.require(datasource, capabilities.Api.TARGETS)
        answer, (dropped, note) = await asyncio.gather(
            capabilities.fetch(
                datasource,
                client,
                capabilities.Api.TARGETS,
                "/api/v1/targets",
                [("state", "active")],
            ),
            _dropped_count(datasource, client, job),
        )
        raw_targets = out.items(out.mapping(answer.data).get("activeTargets"))
        targets = [out.target(raw) for raw in raw_targets]
        if job is not None:
            targets = [t for t in targets if t.job == job]
        targets.sort(key=lambda t: (_HEALTH_ORDER.get(t.health, 1), t.job, t.instance))
        chosen = [t for t in targets if state is None or t.health == state]
        shown, truncated = models.cap(chosen, limit, "filter by job or state, or raise limit")
        hint = None
        if not chosen:
            hint = (
                "no target matches; try without job/state (jobs are the `job` label values)"
                if job or state
                else "no active targets: this backend scrapes nothing itself"
            )
        return out.TargetList(
            datasource=datasource.id,
            targets=shown,
            total=len(chosen),
            by_health=dict(collections.Counter(t.health for t in targets)),
            dropped=dropped,
            truncated=truncated,
            note=note,
            hint=hint,
        )

    @app.tool(annotations=querying.READ_ONLY, output_schema=None)
    @calls.guarded("find_series")
    async def find_series(
        datasource_id: querying.DatasourceId,
        match: Selector,
        start: querying.TimeArg = None,
        end: querying.TimeArg = None,
        limit: querying.Limit = 100,
        max_tokens: budget.MaxTokens = None,
    ) -> out.SeriesList:
        """Label sets of the series matching a selector (default: the last hour). Use to
        see which series and label combinations exist before querying."""
        selector = _check_selector(match)
        datasource, client = await backends.resolve(datasource_id)
        now = backends.clock()
        start_s, end_s = catalogue.window(start, end, now=now, discovery=True)
        answer = await parsing.send(
            client,
            "/api/v1/series",
            [("match[]", match), ("start", f"{start_s:.3f}"), ("end", f"{end_s:.3f}")],
            match,
            cache_seconds=catalogue.CACHE_SECONDS,
            refresh=catalogue.still_open((start_s, end_s), now),
        )
        series = sorted((out.labels(raw) for raw in out.items(answer.data)), key=out.label_key)
        shown, truncated = models.cap(series, limit, "add label matchers, or raise limit")
        hint = None
        if not series:
            hint = "no series in the window: check names with find_metrics_by_pattern, widen start"
        return out.SeriesList(
            datasource=datasource.id,
            match=selector,
            start=timespec.isoformat(start_s),
            end=timespec.isoformat(end_s),
            series=shown,
            total=len(series),
            truncated=truncated,
            hint=hint,
        )

    @app.tool(annotations=querying.READ_ONLY, output_schema=None)
    @calls.guarded("get_tsdb_status")
    async def get_tsdb_status(
        datasource_id: querying.DatasourceId,
        limit: TopN = 10,
        max_tokens: budget.MaxTokens = None,
    ) -> out.TsdbStatus:
        """Head block statistics and the metrics, labels and label pairs with the most series
        or memory: cardinality hot spots."""
        datasource, client = await backends.resolve(datasource_id)
        params = [("limit", str(limit))]  # Prometheus < 2.45 ignores it: capped here too
        if datasource.prometheus_type is datasources.PrometheusType.VICTORIAMETRICS:
            params = [("topN", str(limit))]
        answer = await capabilities.fetch(
            datasource, client, capabilities.Api.TSDB_STATUS, "/api/v1/status/tsdb", params
        )
        data = out.mapping(answer.data)
        head = out.head_stats(data.get("headStats"))
        lists = {
            ours: out.top(data[theirs], limit) for theirs, ours in out.TSDB_LISTS if theirs in data
        }
        return out.TsdbStatus(
            datasource=datasource.id,
            head=head,
            hint=None if head or lists else "the backend sent no TSDB statistics",
            **lists,
        )

    @app.tool(annotations=querying.READ_ONLY, output_schema=None)
    @calls.guarded("get_build_info")
    async def get_build_info(
        datasource_id: querying.DatasourceId,
        max_tokens: budget.MaxTokens = None,
    ) -> out.BuildInfo:
        """Backend version and build, and when available its runtime: start time, retention,
        whether the last config reload succeeded."""
        datasource, client = await backends.resolve(datasource_id)
        build = await client.get("/api/v1/status/buildinfo")
        runtime: Any = None
        note = None
        try:
            answer = await capabilities.fetch(
                datasource, client, capabilities.Api.RUNTIME_INFO, "/api/v1/status/runtimeinfo"
            )
            runtime = answer.data
            if not out.mapping(runtime):
                note = "no runtime information: the backend sent none"
        except (errors.Unsupported, errors.UpstreamError) as exc:
            note = f"no runtime information: {exc.message}"
        return out.build_info(datasource.id, build.data, runtime, note)

    @app.tool(annotations=querying.READ_ONLY, output_schema=None)
    @calls.guarded("query_exemplars")
    async def query_exemplars(
        datasource_id: querying.DatasourceId,
        promql: Annotated[str, Field(description="PromQL expression")],
        start: querying.TimeArg = None,
        end: querying.TimeArg = None,
        limit: querying.Limit = 100,
        max_tokens: budget.MaxTokens = None,
    ) -> out.ExemplarList:
        """Exemplars (trace ids attached to samples) of the series a query selects, in a
        window (default the last hour), newest first. Use to go from a spike to traces."""
        query = checks.check_limits(promql)
        datasource, client = await backends.resolve(datasource_id)
        start_s, end_s = catalogue.window(start, end, now=backends.clock())
        answer = await capabilities.fetch(
            datasource,
            client,
            capabilities.Api.EXEMPLARS,
            "/api/v1/query_exemplars",
            [("query", promql), ("start", f"{start_s:.3f}"), ("end", f"{end_s:.3f}")],
            promql=promql,
        )
        series, total = out.exemplar_series(answer.data, limit)
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
        return out.ExemplarList(
            datasource=datasource.id,
            query=query,
            start=timespec.isoformat(start_s),
            end=timespec.isoformat(end_s),
            series=series,
            total=total,
            truncated=truncated,
            hint=hint,
        )


# --- fetching -------------------------------------------------------------------------------


async def _alerting_rules(
    datasource: datasources.Datasource, client: prometheus.PrometheusClient
) -> tuple[out.RuleIndex, str | None]:
    """The alerting rules by the label sets of their alerts; a failure only costs the rule
    details, never the alerts."""
    try:
        answer = await capabilities.fetch(
            datasource, client, capabilities.Api.RULES, "/api/v1/rules", [("type", "alert")]
        )
    except (errors.Unsupported, errors.UpstreamError) as exc:
        return {}, f"rules unavailable: {exc.message}"
    return out.rule_index(out.mapping(answer.data).get("groups")), None


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
    return out.dropped_count(out.mapping(answer.data), job), None


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
