"""MCP Apps for 2025 clients of a stateless server: the session id remembers, for us, that
the client declared the extension.

A 2026-07-28 client repeats its capabilities in every request's `_meta`. A 2025 client
(protocols 2024-11-05 to 2025-11-25: most hosts today) declares them only in `initialize`,
and this server keeps no state between requests, so its `tools/list` could never know that
the host renders apps. Streamable HTTP gives the server one thing the client must send back
on every later request: the `Mcp-Session-Id` header of the initialize answer. So an
initialize that declares `io.modelcontextprotocol/ui` in `capabilities.extensions` is
answered with a session id that says so (`PREFIX` and 32 random hex digits), and a request
carrying such an id is served as from a client that declared the extension (`declared`,
read by `listing`). Any replica reads it: nothing is kept in memory.

Why a plain marker, not a signed one: it grants nothing. It only chooses which listing the
client sees, the one any 2026-07-28 client gets by declaring the extension in `_meta`;
`chart_series` answers every caller anyway, under the same authentication and per-datasource
access control as every tool. A client that forges the id sees links it may ignore.

Everything else passes through untouched: an initialize that declares nothing gets no
session id (its bytes are as before), and a session id of any other form is ignored. The
MCP SDK in stateless mode never checks session ids (a request carrying one is served as
any other, never 404) and answers DELETE with 405 and GET with 405, both as streamable
HTTP allows a server that keeps no sessions and offers no SSE stream.
"""

from __future__ import annotations

import contextvars
import re
import secrets
from typing import Any

import pydantic_core
from fastmcp.apps.config import UI_EXTENSION_ID
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..auth import middleware
from . import bodies

PREFIX = "proms-mcp-apps-"
"""The start of a session id that says the client declared MCP Apps at initialize."""
_ISSUED = re.compile(re.escape(PREFIX) + "[0-9a-f]{32}")
_SESSION_HEADER = b"mcp-session-id"
_VERSION_HEADER = b"mcp-protocol-version"
_INITIALIZE_LIMIT = 64 * 1024
"""Bytes of a POST read to find an initialize: one is a few hundred; a bigger body is not
inspected (and so gets no app session)."""

declared: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "proms_mcp_apps_session", default=False
)
"""True while serving a request whose session id says its client declared MCP Apps."""


def new_session_id() -> str:
    return PREFIX + secrets.token_hex(16)


def says_apps(session_id: str) -> bool:
    """Whether a session id is one `new_session_id` made."""
    return _ISSUED.fullmatch(session_id) is not None


class AppSessions(middleware.HttpMiddleware):
    """ASGI wrapper in front of the MCP app; see the module docstring."""

    def __init__(self, app: ASGIApp, *, path: str) -> None:
        super().__init__(app)
        self._path = path

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != self._path:
            await self._app(scope, receive, send)
            return
        headers = {name: value for name, value in scope["headers"]}
        session = headers.get(_SESSION_HEADER)
        if session is not None:
            await self._serve_session(session.decode("latin-1"), scope, receive, send)
            return
        version = headers.get(_VERSION_HEADER, b"").decode("latin-1")
        if scope["method"] != "POST" or version in MODERN_PROTOCOL_VERSIONS:
            await self._app(scope, receive, send)
            return
        text = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers.items()}
        body, complete, pending = await bodies.read(receive, text, _INITIALIZE_LIMIT)
        replay = bodies.replaying(body, complete, pending, receive)
        if complete and _declares_apps_at_initialize(body):
            send = _with_session_id(send, new_session_id())
        await self._app(scope, replay, send)

    async def _serve_session(
        self, session: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if not says_apps(session):
            await self._app(scope, receive, send)
            return
        mark = declared.set(True)
        try:
            await self._app(scope, receive, send)
        finally:
            declared.reset(mark)


def _declares_apps_at_initialize(body: bytes) -> bool:
    """Whether this body is an initialize request declaring MCP Apps (as FastMCP reads a
    declaration: the extension's id among `capabilities.extensions`)."""
    if b"initialize" not in body:  # the cheap test first: most POSTs are tool calls
        return False
    try:
        message: Any = pydantic_core.from_json(body)
    except ValueError:
        return False
    if not isinstance(message, dict) or message.get("method") != "initialize":
        return False
    params = message.get("params")
    capabilities = params.get("capabilities") if isinstance(params, dict) else None
    extensions = capabilities.get("extensions") if isinstance(capabilities, dict) else None
    return isinstance(extensions, dict) and UI_EXTENSION_ID in extensions


def _with_session_id(send: Send, session_id: str) -> Send:
    """`send`, adding the session id to a successful initialize answer: held back until its
    body shows a JSON-RPC result (never on an error, which starts no session)."""
    held: list[Message] = []

    async def sending(message: Message) -> None:
        if held or message["type"] == "http.response.start":
            held.append(message)
            if message["type"] != "http.response.body" or message.get("more_body", False):
                return
            start, *rest = held
            held.clear()
            body = b"".join(part.get("body", b"") for part in rest)
            if start["status"] == 200 and _is_result(body):
                headers = [*start["headers"], (_SESSION_HEADER, session_id.encode())]
                start = {**start, "headers": headers}
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        await send(message)

    return sending


def _is_result(body: bytes) -> bool:
    try:
        answer: Any = pydantic_core.from_json(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and "result" in answer
