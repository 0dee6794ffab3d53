"""check_promql: PromQL checked, explained and linted without running it.

A query that does not parse is answered with `valid: false`, the parser's message, its
`line` and `column` and a `hint` (the fields an `invalid_query` tool error carries), not
with a tool error: "is this valid?" is the question asked, so "no, because ..." is its
answer, read in the same place as the lint findings. Tool errors stay for calls that cannot
be answered (an unknown datasource). With a datasource its backend's parser decides
(`backends.parsing`); without one proms-mcp's parser does, and names no position.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import promql_parser
from pydantic import Field

from ..backends import catalogue, facts, live, parsing, prometheus
from ..core import errors, hygiene, timespec
from ..promql import checks, explaining, linting, syntax
from ..results import promql_help
from . import arguments, framing

MAX_METADATA_LOOKUPS = 16
"""/api/v1/metadata calls (one per name, cached) a check makes; further names are typed by
their suffix. One unfiltered call would instead return every metric's help text."""
_UNTYPED = ("unknown", "None")
"""Metadata types that say nothing: the name decides then."""


async def check_promql(
    backends: live.Backends,
    promql: arguments.PromQL,
    datasource_id: Annotated[
        str | None, Field(description="lint with its metric metadata and scrape interval")
    ] = None,
    max_tokens: arguments.MaxTokens = None,
) -> promql_help.PromqlCheck:
    """Check PromQL without running it: `valid` or the parse error (with datasource_id:
    its Prometheus's line and column), the steps it computes, and `findings` with fixes
    (rate of a gauge, raw counters, histogram_quantile without le, short windows)."""
    try:
        query = (checks.check_query if datasource_id is None else checks.check_limits)(promql)
    except errors.InvalidQuery as exc:
        return _invalid(exc)
    if datasource_id is None:
        interval = facts.ScrapeInterval(facts.DEFAULT_SCRAPE_INTERVAL_SECONDS, "assumed")
        typed_by = "no datasource_id: types from metric names"
        expr = promql_parser.parse(query)
        return _check(expr, query, _explain(expr), {}, interval, typed_by)
    problem = checks.parse_problem(query)
    scope = await framing.scope(backends, datasource_id)
    try:
        formatted = await parsing.backend_verdict(scope.client, promql)
    except errors.InvalidQuery as exc:
        return _invalid(exc)
    except errors.UpstreamError as exc:
        if problem is not None:
            return _invalid(parsing.unasked(problem, exc))
        # proms-mcp's parser accepts it; the basis says the metadata was unavailable too
    else:
        if problem is not None:
            return promql_help.PromqlCheck(
                valid=True,
                prettified=formatted if formatted not in (None, query) else None,
                findings=[],
                basis="the datasource parses it, proms-mcp's parser does not "
                f"({hygiene.quoted(problem)}): not explained or linted",
            )
    expr = promql_parser.parse(query)
    explanation = _explain(expr)
    metrics = list(explanation.metrics) if explanation is not None else []
    (types, typed_by), interval = await asyncio.gather(
        _metadata(scope.client, metrics), facts.scrape_interval(scope.datasource, scope.client)
    )
    return _check(expr, query, explanation, types, interval, typed_by)


TOOLS: tuple[framing.Tool, ...] = (check_promql,)


def _invalid(error: errors.InvalidQuery) -> promql_help.PromqlCheck:
    return promql_help.PromqlCheck(
        valid=False, error=error.message, line=error.line, column=error.column, hint=error.hint
    )


def _explain(expr: promql_parser.Expr) -> explaining.Explanation | None:
    """None for expressions too deep to walk."""
    if syntax.depth(expr) > syntax.MAX_DEPTH:
        return None
    return explaining.explain(expr)


def _check(
    expr: promql_parser.Expr,
    query: str,
    explanation: explaining.Explanation | None,
    types: dict[str, str],
    interval: facts.ScrapeInterval,
    typed_by: str,
) -> promql_help.PromqlCheck:
    """The answer for a query that parses: what it computes and what looks wrong."""
    pretty = expr.prettify()
    shown = pretty if pretty != query else None
    if explanation is None:
        return promql_help.PromqlCheck(
            valid=True,
            prettified=shown,
            findings=[],
            basis=f"nested deeper than {syntax.MAX_DEPTH}: not explained or linted",
        )
    findings = linting.lint(
        expr,
        types=types,
        scrape_interval=interval.seconds,
        interval_assumed=interval.source == "assumed",
    )
    metrics = {m: str(syntax.metric_type(m, types)) for m in explanation.metrics}
    return promql_help.PromqlCheck(
        valid=True,
        prettified=shown,
        result_type=explanation.result_type,
        steps=list(explanation.steps),
        metrics=metrics or None,
        windows=list(explanation.windows) or None,
        findings=[
            promql_help.LintFinding(
                severity=f.severity, rule=f.rule, message=f.message, inferred=f.inferred or None
            )
            for f in findings
        ],
        basis=f"{typed_by}; scrape interval "
        f"{timespec.format_duration(interval.seconds)} ({interval.source})",
    )


async def _metadata(
    client: prometheus.PrometheusClient, metrics: list[str]
) -> tuple[dict[str, str], str]:
    """Metric types from /api/v1/metadata, and a phrase saying where types came from."""
    wanted = syntax.metadata_names(metrics)
    asked = wanted[:MAX_METADATA_LOOKUPS]
    answers = await asyncio.gather(
        *(catalogue.metadata(client, name) for name in asked), return_exceptions=True
    )
    types: dict[str, str] = {}
    failed = 0
    for name, entries in zip(asked, answers, strict=True):
        if isinstance(entries, errors.PromsMcpError):
            failed += 1
            continue
        if isinstance(entries, BaseException):
            raise entries
        known = [str(e.get("type")) for e in entries if str(e.get("type")) not in _UNTYPED]
        if known:
            types[name] = known[0]
    if asked and failed == len(asked):
        return types, "metadata unavailable: types from metric names"
    typed_by = "types from metadata, else from metric names"
    if len(wanted) > len(asked):
        typed_by += f" (metadata of the first {len(asked)} names only)"
    return types, typed_by
