"""The streamable HTTP transport as current clients use it (the 2026-07-28 era): a tool call
is answered without the SDK listing every tool to check the call's `Mcp-Param-*` headers.

Plain calls never reach the SDK (the fast path answers them), so the test switches the fast
path off to see the SDK's own handling."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastmcp.server.middleware import CallNext, MiddlewareContext

from mcp_server.protocol import listing
from tests.support import answers
from tests.support.harness import RunningServer


async def test_a_modern_tool_call_does_not_list_every_tool(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    listings: list[str] = []
    original = listing.LeanListing.on_list_tools

    async def counting(
        self: listing.LeanListing, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        listings.append(context.method or "")
        return await original(self, context, call_next)

    monkeypatch.setattr(listing.LeanListing, "on_list_tools", counting)
    monkeypatch.setattr(server.application.fast_path, "_enabled", False)  # reach the SDK
    body, headers = answers.tool_call(
        "query_instant", {"datasource_id": "prom", "promql": "vector(42)"}
    )
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        response = await http.post(server.mcp_url, json=body, headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert not result.get("isError") and "42" in result["content"][0]["text"]
    assert listings == []


def test_the_schema_lookup_answers_for_every_tool_and_no_other(server: RunningServer) -> None:
    mcp = server.application.mcp
    tools = asyncio.run_coroutine_threadsafe(
        mcp.list_tools(run_middleware=False), server.loop
    ).result(timeout=10)
    lookup = mcp._mcp_server.get_tool_input_schema
    assert lookup is not None and tools
    assert all(lookup(tool.name) == tool.parameters for tool in tools)
    assert lookup("no_such_tool") is None
