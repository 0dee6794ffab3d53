"""The MCP app on its path: FastMCP's streamable HTTP app, the tools/call fast path in
front of it, the MCP Apps sessions of 2025 clients in front of both, `/mcp` served as
`/mcp/`, and the SDK's per-call schema lookup.

Two of these reach into FastMCP and the MCP SDK (`fast_path`, and `index_tools`' schema
lookup); both are fenced to the releases they were tested against (`versions`).
"""

from __future__ import annotations

from fastmcp import FastMCP
from starlette.types import ASGIApp, Receive, Scope, Send

from . import app_sessions, fast_path, versions

MCP_PATH = "/mcp/"


class SlashlessMcpPath:
    """Serve `/mcp` as `/mcp/` in place: a redirect would drop Authorization in many clients."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == MCP_PATH.rstrip("/"):
            scope = dict(scope, path=MCP_PATH, raw_path=MCP_PATH.encode())
        await self._app(scope, receive, send)


def mcp_asgi(mcp: FastMCP, *, fast: bool = True) -> tuple[ASGIApp, fast_path.ToolCallFastPath]:
    """The MCP ASGI app, and its tools/call fast path (idle until `index_tools`; off for good
    when `fast` is False, MCP_FAST_PATH=off)."""
    starlette_app = mcp.http_app(path=MCP_PATH, stateless_http=True, json_response=True)
    shortcut = fast_path.ToolCallFastPath(starlette_app, mcp, path=MCP_PATH, enabled=fast)
    return SlashlessMcpPath(app_sessions.AppSessions(shortcut, path=MCP_PATH)), shortcut


async def index_tools(mcp: FastMCP, shortcut: fast_path.ToolCallFastPath) -> None:
    """Give the MCP SDK its per-call input-schema lookup from a table built once.

    On the 2026-07-28 transport the SDK checks each tools/call's `Mcp-Param-*` headers
    against the called tool's input schema. FastMCP 4.1 does not hand the SDK a lookup, so
    the SDK ran a complete tools/list (every middleware, `$ref` dereferencing, serialisation
    of all schemas) on every call: 85% of a call's CPU. Our tools are fixed once the app is
    built, so a name -> schema table gives the same answers (the SDK's own server answers
    from its tool table the same way, hidden tools included). It replaces a method of the
    SDK's server object, so only on the versions that were tested with it.
    The same table tells the tools/call fast path which calls it may answer itself.
    """
    tools = await mcp.list_tools(run_middleware=False)
    if versions.untested() is None:
        schemas = {t.name: t.parameters for t in tools}
        mcp._mcp_server.get_tool_input_schema = schemas.get
    shortcut.index(tools)
