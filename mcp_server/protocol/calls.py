"""The one place where a tool call is timed, counted, logged and its errors made tool errors.

Our errors become MCP tool results with `isError: true` and a JSON text body
`{"error": {"code": ..., "message": ..., "retryable": ...}}`, plus the error's own `fields`
(a PromQL syntax error's `line`, `column` and `hint`), so an agent can branch on the code.
Argument validation failures caught by FastMCP itself get the same shape through
`ArgumentErrors`. Anything else is a bug: it is logged with its traceback and the agent
sees only a generic `internal` error.

`CallerLimit` caps the tool calls one caller has in flight. These are FastMCP middleware
`on_call_tool` hooks, which the tools/call fast path runs exactly as the SDK path does.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import mcp_types
import pydantic
from fastmcp import exceptions as fastmcp_exceptions
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import ToolResult

from ..auth import identity
from ..backends import tenancy
from ..core import errors, observability
from ..results import budget

logger = logging.getLogger("proms_mcp.calls")

P = ParamSpec("P")
R = TypeVar("R")
B = TypeVar("B")

_LOGGED_ARGUMENTS = (
    "datasource_id",
    "promql",
    "metric_name",
    "label_name",
    "pattern",
    "match",
    "name_pattern",
    "job",
)


def error_result(
    code: str,
    message: str,
    *,
    retryable: bool = False,
    fields: dict[str, str | int] | None = None,
) -> ToolResult:
    body = {"error": {"code": code, "message": message, **(fields or {}), "retryable": retryable}}
    text = budget.encode(body)
    return ToolResult(content=[mcp_types.TextContent(type="text", text=text)], is_error=True)


class EncodedResult(ToolResult):
    """A result whose one text block is its structured content's JSON, encoded once: the
    fast path sends that text again as `structuredContent` instead of encoding it twice."""

    _encoded: tuple[dict[str, Any], str] | None = pydantic.PrivateAttr(default=None)

    @classmethod
    def of(cls, data: dict[str, Any], text: str) -> EncodedResult:
        """Built without ToolResult's own conversion, which walks the whole answer once
        more to make it JSON-ready: `text` is `data` encoded, so `data` is plain JSON."""
        content: list[mcp_types.ContentBlock] = [mcp_types.TextContent(type="text", text=text)]
        result = cls.model_construct(
            content=content, structured_content=data, meta=None, is_error=False
        )
        result._encoded = (data, text)
        return result

    @property
    def encoded(self) -> str | None:
        """The structured content's JSON text; None once something replaced that content."""
        if self._encoded is None or self._encoded[0] is not self.structured_content:
            return None
        return self._encoded[1]


def _compact(result: R, limit: int) -> R:
    """Results without their empty fields (`"truncated": null` and friends cost every agent
    tokens and say nothing), cut to the call's token budget."""
    if isinstance(result, budget.Encoded):
        fitted = budget.fit_encoded(result.data, limit, text=result.text)
    elif isinstance(result, pydantic.BaseModel):
        fitted = budget.fit_encoded(result.model_dump(mode="json", exclude_none=True), limit)
    elif isinstance(result, dict):
        fitted = budget.fit_encoded(result, limit)
    else:
        return result
    return EncodedResult.of(*fitted)  # type: ignore[return-value]


def guarded(
    body: Callable[Concatenate[B, P], Awaitable[R]], bound: B, *, own_budget: int | None = None
) -> Callable[P, Awaitable[R]]:
    """A tool body as FastMCP registers it: `bound` (the live backends) passed as its first
    argument, and left out of the signature FastMCP derives the input schema from; the call
    timed, counted, logged, its errors made tool errors and its result cut to the budget:
    the caller's (`max_tokens`, MAX_RESULT_TOKENS), or `own_budget` for a tool whose answer
    no model reads (the MCP App's chart data)."""
    tool_name = body.__name__

    @functools.wraps(body)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        outcome = "success"
        requested = kwargs.get("max_tokens")
        limit = own_budget or budget.for_call(requested if isinstance(requested, int) else None)
        budget_token = budget.current.set(limit)
        namespace = kwargs.get("namespace")  # the tenancy profile reads it (OpenShift)
        namespace_token = tenancy.requested_namespace.set(
            namespace if isinstance(namespace, str) else None
        )
        try:
            return _compact(await body(bound, *args, **kwargs), limit)
        except errors.PromsMcpError as exc:
            outcome = exc.code
            return error_result(  # type: ignore[return-value]
                exc.code, exc.message, retryable=exc.retryable, fields=exc.fields()
            )
        except Exception:
            outcome = "internal"
            logger.exception("tool %s failed unexpectedly", tool_name)
            return error_result(  # type: ignore[return-value]
                "internal", "internal error in proms-mcp; the server log has the details"
            )
        finally:
            budget.current.reset(budget_token)
            tenancy.requested_namespace.reset(namespace_token)
            elapsed = time.perf_counter() - started
            observability.TOOL_CALLS.labels(tool_name, outcome).inc()
            observability.TOOL_LATENCY.labels(tool_name).observe(elapsed)
            _log_call(tool_name, kwargs, outcome, elapsed)

    return without_first_parameter(call, body)


def without_first_parameter(
    wrapper: Callable[P, Awaitable[R]], body: Callable[..., Any]
) -> Callable[P, Awaitable[R]]:
    """`wrapper` described as `body` without its first parameter, which the wrapper passes
    itself: FastMCP derives schemas (tools) and URI parameters (resources) from this."""
    signature = inspect.signature(body, eval_str=True)
    parameters = list(signature.parameters.values())[1:]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    wrapper.__annotations__["return"] = signature.return_annotation
    return wrapper


def _log_call(tool: str, arguments: dict[str, Any], outcome: str, elapsed: float) -> None:
    who = identity.current.get()
    fields: dict[str, Any] = {
        "user": who.username if who is not None else None,
        "tool": tool,
        "outcome": outcome,
        "duration_ms": round(elapsed * 1000, 2),
    }
    for name in _LOGGED_ARGUMENTS:
        if arguments.get(name) is not None:
            fields[name] = arguments[name]
    level = logging.INFO if outcome == "success" else logging.WARNING
    logger.log(level, "tool call", extra=fields)


class ArgumentErrors(Middleware):
    """Gives FastMCP's own argument-validation failures our error shape and counts them."""

    async def on_call_tool(
        self,
        context: MiddlewareContext[mcp_types.CallToolRequestParams],
        call_next: CallNext[mcp_types.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        try:
            return await call_next(context)
        except fastmcp_exceptions.ValidationError as exc:
            tool = context.message.name
            observability.TOOL_CALLS.labels(tool, errors.InvalidArgument.code).inc()
            message = _summarise_validation(exc)
            logger.warning("tool call", extra={"tool": tool, "outcome": "invalid_argument"})
            return error_result(errors.InvalidArgument.code, message)


def _summarise_validation(exc: Exception) -> str:
    cause = exc.__cause__
    errors_method = getattr(cause, "errors", None)
    if not callable(errors_method):
        return "invalid arguments; check the tool's input schema"
    parts = []
    for item in errors_method(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "call") or "arguments"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "invalid arguments: " + "; ".join(parts)


class ServerLimit(Middleware):
    """Makes MAX_RESULT_TOKENS the default budget of every tool call of this server."""

    def __init__(self, max_tokens: int) -> None:
        self._max_tokens = max_tokens

    async def on_call_tool(
        self,
        context: MiddlewareContext[mcp_types.CallToolRequestParams],
        call_next: CallNext[mcp_types.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        token = budget.server_limit.set(self._max_tokens)
        try:
            return await call_next(context)
        finally:
            budget.server_limit.reset(token)


class CallerLimit(Middleware):
    """At most `limit` tool calls in flight per caller (`identity.caller`: the token's user,
    else the client's address); one more is answered at once with a retryable
    `too_many_calls` naming the limit, never queued.

    Without it one agent firing 64 slow queries at a datasource took all 32 of that
    backend's connections (`backends.prometheus.MAX_CONCURRENT_PER_DATASOURCE`), and every
    other caller's call waited behind them. The table holds only callers with a call in
    flight, so it never grows past the calls being served.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._in_flight: dict[str, int] = {}

    async def on_call_tool(
        self,
        context: MiddlewareContext[mcp_types.CallToolRequestParams],
        call_next: CallNext[mcp_types.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        who = identity.caller()
        running = self._in_flight.get(who, 0)
        if running >= self._limit:
            refusal = errors.TooManyCalls(self._limit)
            tool = context.message.name
            observability.TOOL_CALLS.labels(tool, refusal.code).inc()
            _log_call(tool, context.message.arguments or {}, refusal.code, 0.0)
            return error_result(
                refusal.code, refusal.message, retryable=refusal.retryable, fields=refusal.fields()
            )
        self._in_flight[who] = running + 1
        try:
            return await call_next(context)
        finally:
            left = self._in_flight[who] - 1
            if left:
                self._in_flight[who] = left
            else:
                del self._in_flight[who]
