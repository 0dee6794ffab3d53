"""The operations surface: the two ports, /mcp without a redirect, metrics, structured logs."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastmcp import Client

from mcp_server.core import logs
from tests.support import harness
from tests.support.harness import RunningServer

INITIALIZE = harness.INITIALIZE
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Authorization": "Bearer abc"}


def test_health_is_alive_on_the_health_port(server: RunningServer) -> None:
    response = httpx.get(server.health_url + "/health", timeout=5)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_lists_datasources_and_sources(server: RunningServer) -> None:
    body = httpx.get(server.health_url + "/ready", timeout=5).json()
    assert body["ready"] is True
    assert set(body["datasources"]) == {"prom", "prom-get-slash", "down"}
    assert body["sources"]["file"]["synced"] is True
    assert body["problems"] == []


def test_the_mcp_port_does_not_serve_health_or_metrics(server: RunningServer) -> None:
    mcp_base = server.mcp_url.removesuffix("/mcp/")
    assert httpx.get(mcp_base + "/metrics", timeout=5).status_code == 404


@pytest.mark.parametrize("path", ["/mcp", "/mcp/"])
def test_mcp_is_served_at_both_paths_without_a_redirect(server: RunningServer, path: str) -> None:
    url = server.mcp_url.removesuffix("/mcp/") + path
    response = httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["result"]["serverInfo"]["name"] == "proms-mcp"


async def test_tool_calls_are_counted_by_tool_and_outcome(server: RunningServer) -> None:
    def counter(tool: str, outcome: str) -> float:
        text = httpx.get(server.health_url + "/metrics", timeout=5).text
        wanted = f'proms_mcp_tool_calls_total{{outcome="{outcome}",tool="{tool}"}}'
        for line in text.splitlines():
            if line.startswith(wanted):
                return float(line.split()[-1])
        return 0.0

    ok_before = counter("query_instant", "success")
    bad_before = counter("query_instant", "invalid_query")
    async with Client(server.mcp_url) as mcp:
        await mcp.call_tool("query_instant", {"datasource_id": "prom", "promql": "vector(1)"})
        await mcp.call_tool(
            "query_instant", {"datasource_id": "prom", "promql": "sum("}, raise_on_error=False
        )
    assert counter("query_instant", "success") == ok_before + 1
    assert counter("query_instant", "invalid_query") == bad_before + 1
    text = httpx.get(server.health_url + "/metrics", timeout=5).text
    assert (
        'proms_mcp_upstream_requests_total{datasource="prom",path="/api/v1/query",status="200"}'
        in text
    )
    assert "proms_mcp_tool_duration_seconds_bucket" in text
    assert "proms_mcp_datasources 3.0" in text


def test_log_records_are_single_line_json_with_utc_time_and_extra_fields() -> None:
    record = logging.LogRecord(
        "proms_mcp.calls", logging.INFO, __file__, 1, "tool %s", ("x",), None
    )
    record.tool = "query_instant"
    line = logs.JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "tool x" and entry["level"] == "info"
    assert entry["tool"] == "query_instant"
    assert entry["time"].endswith("Z") and "\n" not in line


async def test_tool_calls_and_access_lines_are_logged(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with Client(server.mcp_url) as mcp:
        await mcp.call_tool("query_instant", {"datasource_id": "prom", "promql": "vector(42)"})
    calls = [r for r in caplog.records if r.name == "proms_mcp.calls"]
    assert any(
        getattr(r, "promql", None) == "vector(42)" and getattr(r, "outcome", None) == "success"
        for r in calls
    )
    assert any(r.name == "uvicorn.access" for r in caplog.records)
