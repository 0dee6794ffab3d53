"""Whose parser decides whether PromQL is valid: the backend's, whenever there is one.

proms-mcp's parser (promql-parser) gives no positions and follows its own release of the
language, which is newer than some backends and older than others; the backend's parser is
the one that will run the query, and Prometheus names the line and column of what it
rejects. So a tool with a datasource lets the backend decide:

- tools that run the query send it as it is (`send`): a query our parser does not know but
  the backend does just works, and a parse error comes back with Prometheus's position;
  only when the backend cannot be asked at all is our parser's verdict given instead;
- tools that must not run it (`check_promql`, `estimate_query_cost`) ask the backend to
  parse only (`backend_verdict`): `/api/v1/format_query` (Prometheus 2.42 and later), else
  an instant query at the unix epoch, where no backend holds data, under a short timeout.
  What the backend parses and our parser does not is then valid but not explained, linted
  or estimated (those read our parser's tree).
"""

from __future__ import annotations

from ..core import errors
from ..promql import checks, syntax_errors
from . import prometheus

EPOCH_CHECK_TIMEOUT_SECONDS = 2.0
"""The server-side timeout of the epoch query: it only has to parse (milliseconds), and a
query it does run (one with an `@` timestamp) is cut off there."""


async def send(
    client: prometheus.PrometheusClient,
    path: str,
    params: prometheus.Params,
    promql: str,
    *,
    cache_seconds: float = 0.0,
    refresh: bool = False,
) -> prometheus.ApiResult:
    """`client.get` for a request that carries the agent's PromQL (`promql`, as they wrote
    it). When our parser rejects the query too, a bad_data refusal in the backend's own words
    (not a parse error it places) is a syntax error all the same, and when the backend cannot
    be asked our parser's verdict is the answer (with no position): it needs fixing anyway."""
    try:
        return await client.get(
            path, params, cache_seconds=cache_seconds, refresh=refresh, agent_promql=True
        )
    except errors.QueryRejected as exc:
        if exc.status_code != 400 or checks.parse_problem(promql) is None:
            raise
        raise syntax_errors.from_rejection(exc.text) from None
    except errors.UpstreamError as exc:
        problem = checks.parse_problem(promql)
        if problem is None:
            raise
        raise unasked(problem, exc) from None


async def backend_verdict(client: prometheus.PrometheusClient, promql: str) -> str | None:
    """Ask the backend to parse `promql` without running it. Raise InvalidQuery (with
    Prometheus's position when it gives one) if it does not parse; return the backend's own
    layout of the query when it has `format_query`, else None. Raise UpstreamError when the
    backend cannot be asked."""
    try:
        answer = await client.get("/api/v1/format_query", [("query", promql)], agent_promql=True)
    except (errors.BadUpstreamResponse, errors.UpstreamUnauthorized):
        pass  # not served (404), or refused by a proxy that only lets queries through
    except errors.QueryRejected as exc:
        raise syntax_errors.from_rejection(exc.text) from None
    else:
        return answer.data if isinstance(answer.data, str) else None
    try:
        await client.get(
            "/api/v1/query",
            [("query", promql), ("time", "0")],
            timeout=EPOCH_CHECK_TIMEOUT_SECONDS,
            agent_promql=True,
        )
    except errors.QueryRejected as exc:  # in other words than Prometheus's parser's
        raise syntax_errors.from_rejection(exc.text) from None
    return None


def unasked(problem: str, failure: errors.PromsMcpError) -> errors.InvalidQuery:
    """Our parser's verdict when the backend could not be asked (`failure`)."""
    return syntax_errors.from_parser(
        problem,
        why_no_position=f"the datasource could not be asked for its position ({failure.code})",
    )
