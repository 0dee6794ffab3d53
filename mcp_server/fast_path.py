"""tools/call answered without the MCP SDK's per-request machinery.

In stateless JSON-response mode the SDK serves every POST by building a transport, memory
streams, a dispatcher task and a connection, and validates the message with pydantic on
the way in and out: about 40 % of a query_instant call's CPU, more than the tool itself.
A tools/call is one request in and one response out, so the common case is answered here:
the body is read once, the server's middleware `on_call_tool` hooks run in order around
the tool's own `run` (FastMCP's argument validation and the body), and the response is
written as the SDK writes it. FastMCP's `call_tool` is skipped too: its context, tracing
span and provider lookup cost more than the tool. The path stays off if any middleware
hooks more than tools/call (`__call__`, `on_message`, `on_request`): those would be
skipped here.

Only a request this path fully recognises is taken: a POST to the MCP path with JSON
content, an Accept that allows JSON, one JSON-RPC request for `tools/call` naming one of
our tools, and either a handshake-era protocol version or a 2026-07-28 envelope that the
SDK's own validation ladder accepts. Everything else (other methods, notifications,
batches, malformed bodies, unknown tools, header mismatches, bodies over the SDK's size
limit) goes to the SDK unchanged, so every protocol error stays the SDK's own answer.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastmcp import FastMCP
from fastmcp import exceptions as fastmcp_exceptions
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import Tool, ToolResult
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp.shared.inbound import (
    MCP_PARAM_HEADER_PREFIX,
    X_MCP_HEADER_KEY,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
    validate_mcp_param_headers,
)
from mcp_types import SERVER_INFO_META_KEY, CallToolRequestParams
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import calls

logger = logging.getLogger(__name__)

_JSON = [(b"content-type", b"application/json")]
_INTERNAL_ERROR = -32603
_PARAM = MCP_PARAM_HEADER_PREFIX.lower()


class ToolCallFastPath:
    """ASGI wrapper in front of FastMCP's app; see the module docstring for what it takes."""

    def __init__(self, app: ASGIApp, mcp: FastMCP, *, path: str) -> None:
        self._app = app
        self._mcp = mcp
        self._path = path
        self._tools: Mapping[str, Tool] = {}
        self._schemas: Mapping[str, dict[str, Any]] = {}
        self._hooks: tuple[Middleware, ...] = ()
        self._header_bound: set[str] = set()
        self._server_info = mcp._mcp_server.server_info_stamp

    def index(self, tools: Sequence[Tool]) -> bool:
        """Take calls for these tools from now on; False (and off) if the server has
        middleware this path cannot run faithfully."""
        wide = [m for m in self._mcp.middleware if _hooks_beyond_tool_calls(m)]
        if wide:
            logger.info("tools/call fast path off: %s hook every message", wide)
            return False
        self._hooks = tuple(m for m in self._mcp.middleware if _overrides(m, "on_call_tool"))
        self._tools = {tool.name: tool for tool in tools}
        self._schemas = {tool.name: tool.parameters for tool in tools}
        self._header_bound = {
            name for name, schema in self._schemas.items() if X_MCP_HEADER_KEY in json.dumps(schema)
        }
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self._path
            or not self._schemas
        ):
            await self._app(scope, receive, send)
            return
        headers = _headers(scope)
        if not _json_content(headers) or not _accepts_json(headers.get("accept", "")):
            await self._app(scope, receive, send)
            return
        body, complete = await _read_body(receive, headers)
        replay = _replaying(body, complete, receive)
        call = self._recognise(scope, headers, body) if complete else None
        if call is None:
            await self._app(scope, replay, send)
            return
        request_id, name, arguments, modern = call
        answer = await self._answer(request_id, name, arguments, modern=modern)
        length = (b"content-length", str(len(answer)).encode())
        await send({"type": "http.response.start", "status": 200, "headers": [*_JSON, length]})
        await send({"type": "http.response.body", "body": answer})

    def _recognise(
        self, scope: Scope, headers: Mapping[str, str], body: bytes
    ) -> tuple[int | str, str, dict[str, Any], bool] | None:
        """(id, tool, arguments, modern) for a plain tools/call; None to leave it to the SDK."""
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
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
        ):
            return None
        name = params.get("name")
        arguments = params.get("arguments", {})
        if (
            not isinstance(name, str)
            or name not in self._schemas
            or not isinstance(arguments, dict)
        ):
            return None
        version = headers.get("mcp-protocol-version")
        if version is None or version in HANDSHAKE_PROTOCOL_VERSIONS:
            if set(params) - {"name", "arguments", "_meta"}:
                return None
            return request_id, name, arguments, False
        if version not in MODERN_PROTOCOL_VERSIONS or not self._modern_ok(
            scope, headers, message, name, arguments
        ):
            return None
        return request_id, name, arguments, True

    def _modern_ok(
        self,
        scope: Scope,
        headers: Mapping[str, str],
        message: dict[str, Any],
        name: str,
        arguments: dict[str, Any],
    ) -> bool:
        """The SDK's own 2026-07-28 checks: any rejection is left for the SDK to write."""
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        if find_duplicated_routing_header(raw) is not None:
            return False
        if isinstance(classify_inbound_request(message, headers=headers), InboundLadderRejection):
            return False
        if name not in self._header_bound and not any(h.startswith(_PARAM) for h in headers):
            return True  # no argument is bound to a header: nothing to disagree
        return validate_mcp_param_headers(self._schemas[name], arguments, headers) is None

    async def _answer(
        self, request_id: int | str, name: str, arguments: dict[str, Any], *, modern: bool
    ) -> bytes:
        try:
            result = await self._run(name, arguments)
        except fastmcp_exceptions.FastMCPError as exc:  # as FastMCP's own handler answers
            return _result(request_id, _error_content(str(exc)))
        except Exception:
            logger.exception("tools/call %s failed outside the tool", name)
            error = {"code": _INTERNAL_ERROR, "message": "Internal error"}
            return _encode({"jsonrpc": "2.0", "id": request_id, "error": error})
        content = [
            block.model_dump(mode="json", by_alias=True, exclude_none=True)
            for block in result.content
        ]
        parts = [
            '{"content":',
            _text(content),
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
            parts += [',"_meta":', _text(meta)]
        parts.append("}")
        return _result(request_id, "".join(parts))

    async def _run(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        tool = self._tools[name]

        async def run(context: MiddlewareContext[CallToolRequestParams]) -> ToolResult:
            return await tool.run(context.message.arguments or {})

        chain: CallNext[CallToolRequestParams, ToolResult] = run
        for hook in reversed(self._hooks):
            chain = functools.partial(hook.on_call_tool, call_next=chain)
        message = CallToolRequestParams(name=name, arguments=arguments)
        return await chain(MiddlewareContext(message=message, method="tools/call"))


def _overrides(middleware: Middleware, hook: str) -> bool:
    return getattr(type(middleware), hook) is not getattr(Middleware, hook)


def _hooks_beyond_tool_calls(middleware: Middleware) -> bool:
    return any(_overrides(middleware, h) for h in ("__call__", "on_message", "on_request"))


def _structured(result: ToolResult) -> str:
    """The structured content's JSON; an `EncodedResult`'s text already is that JSON."""
    if isinstance(result, calls.EncodedResult):
        return result.encoded
    return _text(result.structured_content)


def _error_content(message: str) -> str:
    content = [{"type": "text", "text": message}]
    return '{"content":' + _text(content) + ',"isError":true}'


def _result(request_id: int | str, result: str) -> bytes:
    return ('{"jsonrpc":"2.0","id":' + _text(request_id) + ',"result":' + result + "}").encode()


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _encode(value: Any) -> bytes:
    return _text(value).encode()


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _json_content(headers: Mapping[str, str]) -> bool:
    return headers.get("content-type", "").lower().startswith("application/json")


def _accepts_json(accept: str) -> bool:
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(types & {"application/json", "application/*", "*/*"})


async def _read_body(receive: Receive, headers: Mapping[str, str]) -> tuple[bytes, bool]:
    """The body, and whether it is all there and within the SDK's size limit."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DEFAULT_MAX_REQUEST_BODY_SIZE:
        return b"", False
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > DEFAULT_MAX_REQUEST_BODY_SIZE:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replaying(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A receive that hands over what was already read, then the rest of the stream."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay
