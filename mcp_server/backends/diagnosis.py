"""Why a query came back empty, and what the agent probably meant.

An empty result is the most expensive answer an agent gets: it says nothing and invites
guessing. Here every selector of the query is checked against the backend's catalogues
(cached, so this costs a few cheap requests at most): an unknown metric, a label the metric
does not carry, a value the label never takes, a rate() window too short for the scrape
interval. Each finding names the closest real names, each one JSON-quoted (`hygiene.quoted`):
they are the backend's text, and must not be able to end or fake ours.

A finding that something does not exist is never taken from a cache alone: the catalogue
read that says so is repeated past the cache first (see `catalogue`), so a series the query
itself could see is never reported missing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import promql_parser

from ..core import errors, hygiene, timespec
from ..sources import datasources
from . import catalogue, facts, prometheus

_MAX_SELECTORS = 3
_RATE_FUNCTIONS = frozenset({"rate", "irate", "increase", "delta", "idelta", "deriv"})


@dataclass(frozen=True, slots=True)
class Selector:
    metric: str | None
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value)
    range_seconds: float | None
    function: str | None  # the function a range selector is passed to


def selectors(query: str) -> list[Selector]:
    """The vector selectors of a parsed query, with the function applied to range ones."""
    found: list[Selector] = []
    calls: list[str] = []

    def enter(node: object) -> None:
        if isinstance(node, promql_parser.Call):
            calls.append(node.func.name)
        elif isinstance(node, promql_parser.MatrixSelector):
            found.append(_selector(node.vector_selector, node.range, calls[-1] if calls else None))
        elif isinstance(node, promql_parser.VectorSelector) and not any(
            s.metric == node.name and s.range_seconds for s in found
        ):
            found.append(_selector(node, None, None))

    def leave(node: object) -> None:
        if isinstance(node, promql_parser.Call):
            calls.pop()

    promql_parser.walk(promql_parser.parse(query), pre_visit=enter, post_visit=leave)
    unique: dict[Selector, None] = dict.fromkeys(found)
    return list(unique)


def _selector(node: promql_parser.VectorSelector, window: object, function: str | None) -> Selector:
    matchers = tuple(
        (m.name, _OPERATORS.get(str(m.op), "="), m.value)
        for m in node.matchers.matchers
        if m.name != "__name__"
    )
    seconds = window.total_seconds() if hasattr(window, "total_seconds") else None
    return Selector(node.name or None, matchers, seconds, function)


_OPERATORS = {
    "MatchOp.Equal": "=",
    "MatchOp.NotEqual": "!=",
    "MatchOp.Re": "=~",
    "MatchOp.NotRe": "!~",
}


async def explain_empty(
    datasource: datasources.Datasource,
    client: prometheus.PrometheusClient,
    query: str,
    window: catalogue.Period,
) -> tuple[str, list[str]]:
    """A hint and "did you mean" suggestions for a query that matched nothing."""
    try:
        found = selectors(query)[:_MAX_SELECTORS]
    except ValueError:
        return _GENERIC, []
    suggestions: list[str] = []
    try:
        names = set(await catalogue.label_values(client, "__name__", window))
        if any(s.metric is not None and s.metric not in names for s in found):
            names = set(await catalogue.label_values(client, "__name__", window, fresh=True))
        interval = await facts.scrape_interval(datasource, client)
        for selector in found:
            suggestions += await _check(client, selector, names, window, interval.seconds)
    except errors.PromsMcpError:
        return _GENERIC, suggestions
    if suggestions:
        return "no series matched; see suggestions", suggestions
    return _FILTERED if found else _GENERIC, []


_GENERIC = (
    "no series matched: check the metric name with find_metrics_by_pattern, the label values "
    "with get_label_values, and for rate()/increase() use a window of at least 4 scrape "
    "intervals"
)
_FILTERED = (
    "every selector matches series in the window, so the expression removed them: check "
    "comparisons, and/unless, and that both sides of a binary operation share labels "
    "(on/ignoring)"
)


async def _check(
    client: prometheus.PrometheusClient,
    selector: Selector,
    names: set[str],
    period: catalogue.Period,
    scrape_seconds: float,
) -> list[str]:
    found: list[str] = []
    metric = selector.metric
    if (
        selector.range_seconds is not None
        and selector.function in _RATE_FUNCTIONS
        and selector.range_seconds < 2 * scrape_seconds
    ):
        found.append(
            f"{selector.function}() window {timespec.format_duration(selector.range_seconds)} "
            f"holds fewer than 2 samples at a {timespec.format_duration(scrape_seconds)} scrape "
            f"interval; use at least {timespec.format_duration(4 * scrape_seconds)}"
        )
    if metric is None:
        return found
    if metric not in names:
        close = difflib.get_close_matches(metric, names, n=3, cutoff=0.6)
        found.append(
            f"metric {hygiene.quoted(metric)} has no series in the window"
            + (f"; did you mean {_listed(close)}?" if close else "; try find_metrics_by_pattern")
        )
        return found
    label_names = await catalogue.label_names(client, period, matches=[metric])
    required = [label for label, operator, value in selector.matchers if operator in ("=", "=~")]
    if any(label not in label_names for label in required):
        label_names = await catalogue.label_names(client, period, matches=[metric], fresh=True)
    for label, operator, value in selector.matchers:
        if label not in label_names:
            if operator in ("=", "=~") and value:
                close = difflib.get_close_matches(label, label_names, n=3, cutoff=0.6)
                found.append(
                    f"metric {hygiene.quoted(metric)} has no label {hygiene.quoted(label)}"
                    + (f"; did you mean {_listed(close)}?" if close else "")
                    + f" (its labels: {_listed(sorted(label_names)[:15])})"
                )
            continue
        if operator != "=":
            continue
        values = await catalogue.label_values(client, label, period, matches=[metric])
        if value not in values:
            values = await catalogue.label_values(
                client, label, period, matches=[metric], fresh=True
            )
        if value not in values:
            close = difflib.get_close_matches(value, values, n=3, cutoff=0.5)
            known = f" (its values: {_listed(sorted(values))})" if len(values) <= 10 else ""
            found.append(
                f"metric {hygiene.quoted(metric)} has no series with "
                f"{hygiene.name(label)}={hygiene.quoted(value)}"
                + (f"; did you mean {_listed(close)}?" if close else known)
            )
    return found


def _listed(texts: list[str]) -> str:
    """Names or values in a sentence: each one a JSON string, so none can end our text."""
    return ", ".join(hygiene.quoted(t) for t in texts)
