"""The MCP App is listed only to clients that declared the extension: they see the chart
resource, the `_meta.ui` links and the app-only tool; every other client sees exactly the
listing it saw before the app existed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastmcp import Client

from mcp_server.tools import charting
from tests.support.answers import APPS_META, MODERN, MODERN_META, apps_client, call
from tests.support.harness import McpClient, RunningServer

LINKED = {"query_instant", "query_range", "investigate_alert"}
UI_MIME = "text/html;profile=mcp-app"


async def test_a_client_without_the_extension_sees_no_app(mcp: McpClient) -> None:
    tools = await mcp.list_tools()
    assert "chart_series" not in {t.name for t in tools}
    assert all("ui" not in (t.meta or {}) for t in tools)
    resources = await mcp.list_resources()
    assert charting.RESOURCE_URI not in {str(r.uri) for r in resources}


async def test_a_client_declaring_the_extension_sees_the_links_the_tool_and_the_resource(
    server: RunningServer,
) -> None:
    async with apps_client(server.mcp_url) as client:
        tools = {t.name: t for t in await client.list_tools()}
        resources = {str(r.uri): r for r in await client.list_resources()}
        read = await client.read_resource(charting.RESOURCE_URI)
    linked = {name for name, t in tools.items() if "ui" in (t.meta or {})}
    assert linked == LINKED | {"chart_series"}
    for name in LINKED:
        assert (tools[name].meta or {})["ui"] == {"resourceUri": charting.RESOURCE_URI}
    assert (tools["chart_series"].meta or {})["ui"] == {
        "resourceUri": charting.RESOURCE_URI,
        "visibility": ["app"],
    }
    resource = resources[charting.RESOURCE_URI]
    assert resource.mime_type == UI_MIME
    csp: dict[str, list[str]] = {"connectDomains": [], "resourceDomains": []}
    assert resource.meta == {"ui": {"csp": csp}, "fastmcp": {"tags": []}}
    [content] = read
    assert content.mime_type == UI_MIME
    assert content.meta is not None and content.meta["ui"] == {"csp": csp}


@pytest.mark.parametrize("mode", ["auto", "legacy"], ids=[MODERN, "2025-11-25"])
async def test_a_client_declaring_the_extension_can_read_the_app_and_call_its_tool(
    server: RunningServer, mode: str
) -> None:
    """Both eras: a 2026-07-28 client in each request's `_meta`, a 2025 one at initialize
    (its session id carries the declaration to every later request)."""
    async with apps_client(server.mcp_url, mode=mode) as client:
        assert client.protocol_version == (MODERN if mode == "auto" else "2025-11-25")
        names = {t.name for t in await client.list_tools()}
        uris = {str(r.uri) for r in await client.list_resources()}
        [content] = await client.read_resource(charting.RESOURCE_URI)
        answer = await call(
            client, "chart_series", datasource_id="prom", promql="up", start=0, end=600, width=60
        )
    assert {"chart_series", "query_range"} <= names
    assert charting.RESOURCE_URI in uris
    assert content.mime_type == UI_MIME and "<html" in getattr(content, "text", "").lower()
    assert answer["format"] == "points" and answer["step_seconds"] == 10


async def test_a_2025_client_without_the_extension_sees_no_app(server: RunningServer) -> None:
    async with Client(server.mcp_url, mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        assert client.transport.get_session_id() is None
        tools = await client.list_tools()
        uris = {str(r.uri) for r in await client.list_resources()}
    assert "chart_series" not in {t.name for t in tools}
    assert all("ui" not in (t.meta or {}) for t in tools)
    assert charting.RESOURCE_URI not in uris


def _listed(server: RunningServer, method: str, meta: dict[str, Any]) -> bytes:
    """The raw `result` bytes of a 2026-07-28 list request with this `_meta`."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"_meta": meta}}
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
    }
    response = httpx.post(server.mcp_url, json=body, headers=headers, trust_env=False, timeout=30)
    response.raise_for_status()
    result = response.json()["result"]
    result["_meta"].pop("io.modelcontextprotocol/serverInfo", None)  # the same stamp in both
    return json.dumps(result, separators=(",", ":")).encode()


@pytest.mark.parametrize("method", ["tools/list", "resources/list"])
def test_without_the_extension_the_listing_is_the_apps_listing_minus_the_app(
    server: RunningServer, method: str
) -> None:
    """0 bytes more for other clients: their listing is exactly the app client's with the
    app taken out (the tool, the resource and every `_meta.ui`)."""
    plain = json.loads(_listed(server, method, MODERN_META))
    with_app = json.loads(_listed(server, method, APPS_META))
    key = "tools" if method == "tools/list" else "resources"
    kept = []
    for item in with_app[key]:
        if item.get("name") == "chart_series" or item.get("uri") == charting.RESOURCE_URI:
            continue
        item.get("_meta", {}).pop("ui", None)
        kept.append(item)
    assert plain == {**with_app, key: kept}
    assert len(plain[key]) < len(with_app[key])


def test_the_app_grows_tools_list_by_less_than_2_kb(server: RunningServer) -> None:
    plain = _listed(server, "tools/list", MODERN_META)
    with_app = _listed(server, "tools/list", APPS_META)
    growth = len(with_app) - len(plain)
    print(f"tools/list: {len(plain)} bytes plain, {len(with_app)} with the app (+{growth})")
    assert 0 < growth < 2048
