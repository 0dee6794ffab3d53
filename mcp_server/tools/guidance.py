"""MCP beyond tools: the datasource catalogue and per-datasource facts as resources, prompts
for the common investigations, and completion of their arguments (datasource ids, metric
names, label names and values from the cached catalogues), so an agent or its user starts
from a plan and real names instead of guesses.

Prompt arguments are often values the completions offered, that is the backend's text: each
one is written as a JSON string (`hygiene.quoted`), or in selector syntax (`hygiene.selector`),
never pasted into the plan's sentences."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec

import mcp_types
from fastmcp import FastMCP
from fastmcp import exceptions as fastmcp_exceptions

from ..backends import capabilities, catalogue, facts, live
from ..core import errors, hygiene
from ..protocol import calls
from . import arguments, framing

CATALOGUE_URI = "proms://datasources"
FACTS_URI = "proms://datasource/{datasource_id*}"
METRIC_URI = "proms://metric/{metric_name}{?datasource_id}"
_COMPLETIONS = 100

P = ParamSpec("P")
Read = Callable[Concatenate[live.Backends, P], Awaitable[str]]


async def datasource_catalogue(backends: live.Backends) -> str:
    """The datasources you may query: id, name, type, description, labels."""
    visible = await backends.visible(backends.registry.current())
    entries = [
        {
            key: value
            for key, value in {
                "id": ds.id,
                "name": ds.name,
                "type": ds.type_name,
                "description": ds.description or None,
                "labels": dict(ds.labels) or None,
            }.items()
            if value is not None
        }
        for ds in visible
    ]
    return json.dumps({"datasources": entries}, separators=(",", ":"))


async def datasource_facts(backends: live.Backends, datasource_id: str) -> str:
    """Type, version, retention and scrape interval of one datasource (and where each
    figure came from), before you pick steps and rate() windows."""
    scope = await framing.scope(backends, datasource_id)
    described = await facts.describe(scope.datasource, scope.client)
    return json.dumps(described, separators=(",", ":"))


async def metric(backends: live.Backends, metric_name: str, datasource_id: str = "") -> str:
    """A metric's type, help and unit, and the label names its recent series carry
    (datasource_id may be left out when only one datasource exists)."""
    name = arguments.check_metric_name(metric_name)
    if not datasource_id:
        visible = [
            d
            for d in await backends.visible(backends.registry.current())
            if capabilities.supports(d, capabilities.Api.QUERY)
        ]
        if len(visible) != 1:
            raise errors.InvalidArgument("pass ?datasource_id=<id from list_datasources>")
        datasource_id = visible[0].id
    scope = await framing.scope(backends, datasource_id)
    entries = await catalogue.metadata(scope.client, name)
    period = catalogue.recent(scope.now)
    description: dict[str, Any] = {"datasource": scope.id, "metric": name}
    if entries:
        first = entries[0]
        given = {"type": first.get("type"), "help": first.get("help"), "unit": first.get("unit")}
        description.update({k: hygiene.clean(v) for k, v in given.items() if v})
    labels = await catalogue.label_names(scope.client, period, matches=[name])
    if not labels:  # "no recent series" is a verdict: confirm it past the cache
        labels = await catalogue.label_names(scope.client, period, matches=[name], fresh=True)
    description["labels"] = labels
    return json.dumps(description, separators=(",", ":"))


RESOURCES: tuple[tuple[str, str, Read[...]], ...] = (
    (CATALOGUE_URI, "datasources", datasource_catalogue),
    (FACTS_URI, "datasource facts", datasource_facts),
    (METRIC_URI, "metric", metric),
)
"""(URI, name, read) of every resource."""


async def complete(
    backends: live.Backends,
    ref: mcp_types.PromptReference | mcp_types.ResourceTemplateReference,
    argument: mcp_types.CompletionArgument,
    context: mcp_types.CompletionContext | None,
) -> mcp_types.Completion:
    """Datasource ids, metric names, label names and label values, by prefix."""
    known = dict(context.arguments or {}) if context and context.arguments else {}
    try:
        candidates = await _candidates(backends, argument.name, known)
    except errors.PromsMcpError:
        candidates = []
    typed = argument.value.lower()
    matching = [c for c in candidates if c.lower().startswith(typed)]
    if len(matching) < _COMPLETIONS:  # then substrings, as agents rarely know the prefix
        matching += [c for c in candidates if typed in c.lower() and c not in matching]
    return mcp_types.Completion(
        values=matching[:_COMPLETIONS],
        total=len(matching),
        has_more=len(matching) > _COMPLETIONS,
    )


async def _candidates(backends: live.Backends, name: str, known: dict[str, str]) -> list[str]:
    if name == "datasource_id":
        return [d.id for d in await backends.visible(backends.registry.current())]
    datasource_id = known.get("datasource_id")
    if not datasource_id:
        return []
    scope = await framing.scope(backends, datasource_id)
    client, period = scope.client, catalogue.recent(scope.now)
    metric = known.get("metric_name")
    matches = [arguments.check_metric_name(metric)] if metric else []
    if name == "metric_name":
        return await catalogue.label_values(client, "__name__", period)
    if name == "label_name":
        return await catalogue.label_names(client, period, matches=matches)
    if name == "label_value" and known.get("label_name"):
        label = arguments.check_label_name(known["label_name"])
        return await catalogue.label_values(client, label, period, matches=matches)
    if name == "service":
        return await catalogue.label_values(client, "job", period)
    if name == "alert_name":
        return await catalogue.label_values(
            client, "alertname", period, matches=['ALERTS{alertstate="firing"}']
        )
    return []


def investigate_firing_alert(alert_name: str, datasource_id: str) -> str:
    """Find why an alert fires: its expression, the series behind it, and their trend."""
    return _plan(
        f"Investigate why the alert {hygiene.quoted(alert_name)} fires",
        datasource_id,
        "Find the metrics in its expression with find_metrics_by_pattern.",
        "query_instant the expression without its threshold to see which series exceed it, "
        "grouped by the labels that matter (job, instance, namespace).",
        "query_range the same over the last 6h to see when it started and whether it is "
        "growing; compare with a day earlier using offset 1d.",
        "Report: the affected series, since when, how far over the threshold, and the likely "
        "cause.",
    )


def investigate_latency_regression(service: str, datasource_id: str) -> str:
    """Locate a latency regression with histogram quantiles per route and instance."""
    return _plan(
        f"Investigate a latency regression of {hygiene.quoted(service)}",
        datasource_id,
        "find_metrics_by_pattern 'duration.*bucket|latency.*bucket' and check the type with "
        "get_metric_metadata.",
        "query_range histogram_quantile(0.99, sum by (le) (rate(<bucket>[5m]))) over the last "
        "6h, then split by route or instance with sum by (le, route).",
        "Correlate with request rate and error rate over the same window.",
        "Report when p99 changed, by how much, and where (route, instance, version).",
    )


def explore_metric(
    datasource_id: str, metric_name: str, label_name: str = "", label_value: str = ""
) -> str:
    """Understand a metric: its type, its labels, and how it behaves, optionally for one
    label value."""
    series = {"__name__": metric_name}
    if label_name and label_value:
        series[label_name] = label_value
    split = f" by ({hygiene.name(label_name)})" if label_name and not label_value else ""
    return _plan(
        f"Explore the metric {hygiene.selector(series)}",
        datasource_id,
        "get_metric_metadata for its type and unit; get_metric_labels for its labels.",
        "If it is a counter, work on rate(...[5m]); a histogram, on histogram_quantile over "
        "rate(..._bucket[5m]); a gauge, on its value.",
        f"query_instant the sum{split} now, then query_range it over 6h with format=summary "
        "to see level, peaks and trend.",
        "Report what it measures, its current level, and anything unusual.",
    )


def investigate_error_spike(service: str, datasource_id: str) -> str:
    """Explain an error-rate spike: which status codes, where, and since when."""
    return _plan(
        f"Investigate an error-rate spike of {hygiene.quoted(service)}",
        datasource_id,
        "find_metrics_by_pattern 'requests_total' and get_label_values for code or status on it.",
        'query_range sum by (code) (rate(<metric>{code=~"5.."}[5m])) / '
        "sum(rate(<metric>[5m])) over the last 3h.",
        "Break the errors down by instance and route with topk(5, ...).",
        "Report the error ratio before and during the spike, its start, and where.",
    )


PROMPTS: tuple[Callable[..., str], ...] = (
    investigate_firing_alert,
    investigate_latency_regression,
    explore_metric,
    investigate_error_spike,
)


def _plan(task: str, datasource_id: str, *steps: str) -> str:
    """A prompt's text: the task on the datasource, then its numbered steps."""
    numbered = [f"{number}. {step}" for number, step in enumerate(steps, 1)]
    return "\n".join([f"{task} on datasource {hygiene.quoted(datasource_id)}.", *numbered])


def register(app: FastMCP, backends: live.Backends) -> None:
    """Attach the resources, the prompts and the completion handler to `app`."""
    for uri, name, read in RESOURCES:
        app.resource(uri, mime_type="application/json", name=name)(_readable(read, backends))
    for prompt in PROMPTS:
        app.prompt(name=prompt.__name__)(prompt)
    app.add_completion_handler(framing.bound(complete, backends))


def _readable(read: Read[P], backends: live.Backends) -> Callable[P, Awaitable[str]]:
    """`read` with the backends bound, and our errors as the resource error the client sees;
    FastMCP masks any other text."""

    @functools.wraps(read)
    async def call(*args: P.args, **kwargs: P.kwargs) -> str:
        try:
            return await read(backends, *args, **kwargs)
        except errors.PromsMcpError as exc:
            raise fastmcp_exceptions.ResourceError(f"{exc.code}: {exc.message}") from None

    return calls.without_first_parameter(call, read)
