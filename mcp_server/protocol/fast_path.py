"""tools/call answered without the MCP SDK's per-request machinery.

In stateless JSON-response mode the SDK serves every POST by building a transport, memory
streams, a dispatcher task and a connection, and validates the message with pydantic on
the way in and out: about 40 % of a query_instant call's CPU, more than the tool itself.
A tools/call is one request in and one response out, so the common case is answered here:
the body is read once, the server's middleware `on_call_tool` hooks run in order around
the tool's own `run` (FastMCP's argument validation and the body), and the response is
written as the SDK writes it. FastMCP's `call_tool` is skipped too: its context, tracing
span and provider lookup cost more than the tool.

Only a request this path fully recognises is taken: a POST to the MCP path with exactly
one Content-Type (JSON) and Accept (allowing JSON), one JSON-RPC request for `tools/call`
naming one of our tools, with params the SDK's own validation accepts for the protocol
version, and for 2026-07-28 an envelope that passes the SDK's own checks. Everything else
(other methods, notifications, batches, malformed bodies, unknown tools, repeated or
mismatched headers, multi-round-trip continuations, bodies over the SDK's size limit) goes
to the SDK unchanged, so every protocol error stays the SDK's own answer.

The path stays off when it could not do what the normal path does: FastMCP's Host/Origin
guard on, a FastMCP auth provider or extension, strict input validation, a tool that is not
a plain function tool or has its own auth, or middleware that hooks more than tools/call
(`__call__`, `on_message`, `on_request`). Middleware added after `index` turns it off too.

It is a shim over FastMCP's and the SDK's internals (their private server object, request
handler table and inbound checks), fenced three ways: it stays off unless the installed
FastMCP and MCP SDK are a pair in `versions.TESTED_WITH` (tests/protocol/test_fast_path.py
compares its answer with the SDK's for every tool on both protocol eras), MCP_FAST_PATH=off
turns it off, and `status` says whether it is on and why not (logged at start-up, and on
/ready).
Upgrading FastMCP or the SDK: run that test on the new pair, then add the pair to
`versions.TESTED_WITH` (docs/architecture.md#upgrading-fastmcp).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fastmcp
import pydantic
import pydantic_core
from fastmcp import FastMCP
from fastmcp import exceptions as fastmcp_exceptions
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import Tool, ToolResult
from fastmcp.tools.function_tool import FunctionTool
from mcp_types import (
    DEFAULT_NEGOTIATED_VERSION,
    SERVER_INFO_META_KEY,
    CallToolRequestParams,
    TextContent,
)
from mcp_types import methods as mcp_methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ..results import budget
from . import bodies, calls, versions

try:  # the SDK's internals this path reproduces: another SDK may not have them
    from mcp.server.streamable_http import check_accept_headers
    from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
    from mcp.shared.inbound import (
        MCP_PARAM_HEADER_PREFIX,
        InboundLadderRejection,
        classify_inbound_request,
        validate_mcp_param_headers,
        x_mcp_header_map,
    )
except ImportError as exc:  # pragma: no cover - only on an SDK this path was not written for
    _MISSING: str | None = f"the MCP SDK has no {exc.name or exc}"
else:
    _MISSING = None

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Status:
    """Whether the fast path takes tools/call requests, and if not, why not."""

    on: bool
    reason: str | None = None


_JSON = [(b"content-type", b"application/json")]
_SINGLE_HEADERS = frozenset({"content-type", "accept", "content-length"})
"""Read here and by the SDK; when repeated, which copy counts is the SDK's call to make."""
_CONTINUATION_KEYS = frozenset({"requestState", "inputResponses"})
"""Multi-round-trip continuations (2026-07-28): sealed state only the SDK's boundary opens."""


class ToolCallFastPath:
    """ASGI wrapper in front of FastMCP's app; see the module docstring for what it takes."""

    def __init__(self, app: ASGIApp, mcp: FastMCP, *, path: str, enabled: bool = True) -> None:
        self._app = app
        self._mcp = mcp
        self._path = path
        self._allowed = enabled
        self._enabled = False
        self._reason: str | None = "not started yet"
        self._tools: Mapping[str, Tool] = {}
        self._chain: CallNext[CallToolRequestParams, ToolResult] = self._invoke
        self._middleware_count = 0
        self._header_bound: frozenset[str] = frozenset()
        self._server_info: object = None
        self._params_type: type[pydantic.BaseModel] | None = None

    @property
    def status(self) -> Status:
        if self._enabled and len(self._mcp.middleware) != self._middleware_count:
            return Status(False, "middleware was added after the tools were indexed")
        return Status(self._enabled, None if self._enabled else self._reason)

    def index(self, tools: Sequence[Tool]) -> bool:
        """Take calls for these tools from now on; False (and off) if this server has
        anything this path cannot run faithfully (see the module docstring)."""
        reason = self._refusal(tools)
        self._reason = reason
        if reason is not None:
            logger.info("tools/call fast path off: %s", reason)
            self._enabled = False
            return False
        self._server_info = self._mcp._mcp_server.server_info_stamp
        handler = self._mcp._mcp_server.get_request_handler("tools/call")
        self._params_type = handler.params_type if handler is not None else None
        self._chain = self._invoke
        for hook in reversed(self._mcp.middleware):
            if _overrides(hook, "on_call_tool"):
                self._chain = functools.partial(hook.on_call_tool, call_next=self._chain)
        self._middleware_count = len(self._mcp.middleware)
        self._tools = {tool.name: tool for tool in tools}
        self._header_bound = frozenset(
            tool.name for tool in tools if x_mcp_header_map(tool.parameters)
        )
        self._enabled = True
        fastmcp_version, mcp_version = versions.installed()
        extra = {"fastmcp": fastmcp_version, "mcp": mcp_version}
        logger.info("tools/call fast path on", extra=extra)
        return True

    def _refusal(self, tools: Sequence[Tool]) -> str | None:
        """Why this path must stay off, or None."""
        if not self._allowed:
            return "MCP_FAST_PATH=off"
        if _MISSING is not None:
            return _MISSING
        return versions.untested() or self._unsupported(tools)

    def _unsupported(self, tools: Sequence[Tool]) -> str | None:
        mcp = self._mcp
        if fastmcp.settings.http_host_origin_protection is not False:
            return "the Host/Origin guard must see every request"
        if mcp.auth is not None or mcp._extensions:
            return "a FastMCP auth provider or extension is configured"
        if mcp.strict_input_validation:
            return "strict input validation is on"
        wide = [type(m).__name__ for m in mcp.middleware if _hooks_beyond_tool_calls(m)]
        if wide:
            return f"middleware {wide} hooks every message"
        special = [t.name for t in tools if type(t) is not FunctionTool or t.auth is not None]
        if special:
            return f"tools {special} are not plain function tools"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self._path
            or not self._enabled
            or len(self._mcp.middleware) != self._middleware_count
        ):
            await self._app(scope, receive, send)
            return
        headers = _headers(scope)
        if (
            headers is None
            or not _json_content(headers)
            or not check_accept_headers(Request(scope))[0]  # the SDK's own Accept check
        ):
            await self._app(scope, receive, send)
            return
        body, complete, pending = await bodies.read(receive, headers, DEFAULT_MAX_REQUEST_BODY_SIZE)
        call = self._recognise(headers, body) if complete else None
        if call is None:
            await self._app(scope, bodies.replaying(body, complete, pending, receive), send)
            return
        request_id, name, arguments, modern = call
        answer = await self._answer(request_id, name, arguments, modern=modern)
        length = (b"content-length", str(len(answer)).encode())
        await send({"type": "http.response.start", "status": 200, "headers": [*_JSON, length]})
        await send({"type": "http.response.body", "body": answer})

    def _recognise(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[int | str, str, dict[str, Any], bool] | None:
        """(id, tool, arguments, modern) for a plain tools/call; None to leave it to the SDK."""
        try:  # the SDK's parser: stricter than json (UTF-8 only, no lone surrogates)
            message = pydantic_core.from_json(body)
        except ValueError:
            return None
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return None
        request_id = message.get("id")
        params = message.get("params")
        if (
            message.get("method") != "tools/call"
            or isinstance(request_id, bool)
            or not isinstance(request_id, int | str)
            or not isinstance(params, dict)
            or set(message) - {"jsonrpc", "id", "method", "params"}
            or _CONTINUATION_KEYS & set(params)
        ):
            return None
        name = params.get("name")
        arguments = params.get("arguments") or {}
        if not isinstance(name, str) or name not in self._tools or not isinstance(arguments, dict):
            return None
        version = headers.get("mcp-protocol-version")
        modern = version in MODERN_PROTOCOL_VERSIONS
        if not modern and version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            return None
        if modern and not self._modern_ok(headers, message, name, arguments):
            return None
        try:  # the SDK's two checks: the params for this protocol version, then its handler's
            mcp_methods.validate_client_request(
                "tools/call", version or DEFAULT_NEGOTIATED_VERSION, params
            )
            if self._params_type is not None:
                self._params_type.model_validate(params, by_name=False)
        except (ValueError, KeyError, pydantic.ValidationError):
            return None
        return request_id, name, arguments, modern

    def _modern_ok(
        self,
        headers: Mapping[str, str],
        message: dict[str, Any],
        name: str,
        arguments: dict[str, Any],
    ) -> bool:
        """The SDK's own 2026-07-28 checks: any rejection is left for the SDK to write."""
        if isinstance(classify_inbound_request(message, headers=headers), InboundLadderRejection):
            return False
        prefix = MCP_PARAM_HEADER_PREFIX.lower()
        if name not in self._header_bound and not any(h.startswith(prefix) for h in headers):
            return True  # no argument is bound to a header: nothing to disagree
        schema = self._tools[name].parameters
        return validate_mcp_param_headers(schema, arguments, headers) is None

    async def _answer(
        self, request_id: int | str, name: str, arguments: dict[str, Any], *, modern: bool
    ) -> bytes:
        try:
            result = await self._run(name, arguments)
        except fastmcp_exceptions.FastMCPError as exc:  # as FastMCP's own handler answers
            result = _error(str(exc))
        except Exception:  # as FastMCP answers with mask_error_details
            logger.exception("tools/call %s failed outside the tool", name)
            result = _error(f"Error calling tool {name!r}")
        content = [
            block.model_dump(mode="json", by_alias=True, exclude_none=True)
            for block in result.content
        ]
        parts = [
            '{"content":',
            budget.encode(content),
            ',"isError":',
            "true" if result.is_error else "false",
        ]
        if modern:
            parts.append(',"resultType":"complete"')
        if result.structured_content is not None:
            parts += [',"structuredContent":', _structured(result)]
        meta = dict(result.meta or {})
        if modern and meta.get(SERVER_INFO_META_KEY) is None:  # the SDK stamps 2026-era results
            meta[SERVER_INFO_META_KEY] = self._server_info
        if meta:
            parts += [',"_meta":', budget.encode(meta)]
        text = (
            '{"jsonrpc":"2.0","id":'
            + budget.encode(request_id)
            + ',"result":'
            + "".join(parts)
            + "}}"
        )
        try:
            return text.encode()
        except UnicodeEncodeError:  # a lone surrogate from a backend: escape it instead
            return json.dumps(json.loads(text), separators=(",", ":")).encode()

    async def _run(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        message = CallToolRequestParams(name=name, arguments=arguments)
        return await self._chain(MiddlewareContext(message=message, method="tools/call"))

    async def _invoke(self, context: MiddlewareContext[CallToolRequestParams]) -> ToolResult:
        """The end of the middleware chain (built once, in `index`): the tool itself."""
        message = context.message
        return await self._tools[message.name].run(message.arguments or {})


def _error(message: str) -> ToolResult:
    return ToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _overrides(middleware: Middleware, hook: str) -> bool:
    return getattr(type(middleware), hook) is not getattr(Middleware, hook)


def _hooks_beyond_tool_calls(middleware: Middleware) -> bool:
    return any(_overrides(middleware, h) for h in ("__call__", "on_message", "on_request"))


def _structured(result: ToolResult) -> str:
    """The structured content's JSON; an `EncodedResult`'s text already is that JSON."""
    encoded = result.encoded if isinstance(result, calls.EncodedResult) else None
    return encoded if encoded is not None else budget.encode(result.structured_content)


def _headers(scope: Scope) -> dict[str, str] | None:
    """The request headers; None when one this path reads, or a routing header, repeats."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name in headers and (name in _SINGLE_HEADERS or name.startswith("mcp-")):
            return None
        headers[name] = raw_value.decode("latin-1")
    return headers


def _json_content(headers: Mapping[str, str]) -> bool:
    """Both of the SDK's Content-Type checks (its security layer's and its transport's)."""
    value = headers.get("content-type", "")
    parts = [part.strip() for part in value.split(";")[0].split(",")]
    return value.lower().startswith("application/json") and "application/json" in parts
