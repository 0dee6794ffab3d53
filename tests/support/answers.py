"""Calling tools (over the real MCP client) and Prometheus (directly) from tests, and reading
the compact answers back into the shape Prometheus uses, to compare the two."""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Collection
from typing import Any

import httpx
from fastmcp import Client
from fastmcp.client.client import ConnectMode
from fastmcp.client.transports import StreamableHttpTransport
from hypothesis import HealthCheck, settings
from mcp.client.extension import advertise

from tests.support.harness import McpClient
from tests.support.prometheus_process import RunningPrometheus


def direct(prometheus: RunningPrometheus, path: str, **params: Any) -> Any:
    """`data` of a Prometheus HTTP API answer, asserting it succeeded."""
    response = httpx.get(prometheus.url + path, params=params, trust_env=False, timeout=10)
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


async def call(mcp: McpClient, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await mcp.call_tool(tool, arguments, raise_on_error=False)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


ERROR_FIELDS = {"line", "column", "hint"}
"""Fields an error may add to code, message and retryable (a PromQL syntax error's)."""


async def call_error(mcp: McpClient, tool: str, **arguments: Any) -> dict[str, Any]:
    """The `error` object of a tool error; also checks the whole text is that one object."""
    result = await mcp.call_tool(tool, arguments, raise_on_error=False)
    assert result.is_error, result
    text = result.content[0].text  # type: ignore[union-attr]
    body = json.loads(text)
    assert set(body) == {"error"}
    assert set(body["error"]) - ERROR_FIELDS == {"code", "message", "retryable"}, body
    error: dict[str, Any] = body["error"]
    return error


def labels_of(result: dict[str, Any], series: dict[str, Any]) -> dict[str, str]:
    """A series' full label set: the compact encoding gives shared labels once."""
    return {**result.get("common_labels", {}), **series.get("labels", {})}


def points_of(result: dict[str, Any], series: dict[str, Any]) -> list[list[float]]:
    """[t, v] pairs back from the compact grid (values[i] is at start + i*step)."""
    start = datetime.datetime.fromisoformat(result["start"].replace("Z", "+00:00")).timestamp()
    step = result["step_seconds"]
    return [[start + i * step, v] for i, v in enumerate(series["values"]) if v is not None]


MODERN = "2026-07-28"
"""The protocol era current clients speak: facts in each request's `_meta`, routing headers."""
LEGACY = "2025-06-18"
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "probe", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


APPS_EXTENSION = {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}
"""What an MCP Apps host declares under its capabilities' `extensions`."""
APPS_META = {
    **MODERN_META,
    "io.modelcontextprotocol/clientCapabilities": {"extensions": APPS_EXTENSION},
}
"""A 2026-07-28 request's `_meta` from a client that declared MCP Apps."""


def apps_client(url: str, *, mode: ConnectMode = "auto", **options: Any) -> McpClient:
    """A real MCP client that declares the MCP Apps extension, as a host that renders
    apps does."""
    [(identifier, settings_)] = APPS_EXTENSION.items()
    extension = advertise(identifier, settings_)
    return Client(StreamableHttpTransport(url, **options), mode=mode, extensions=[extension])


def tool_call(
    name: str,
    arguments: Any,
    *,
    modern: bool = False,
    request_id: Any = 7,
    meta: dict[str, Any] = MODERN_META,
) -> tuple[dict[str, Any], dict[str, str]]:
    """A raw JSON-RPC tools/call and its HTTP headers, in either protocol era (`meta`: the
    2026-07-28 request's facts)."""
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN if modern else LEGACY,
    }
    if modern:
        params["_meta"] = meta
        headers.update({"Mcp-Method": "tools/call", "Mcp-Name": name})
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    return body, headers


async def fresh_call(url: str, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    """(is_error, text) of one call on a new client: for fuzzing from a synchronous test."""
    async with Client(url) as mcp:
        result = await mcp.call_tool(tool, arguments, raise_on_error=False)
        return result.is_error, str(result.content[0].text) if result.content else ""


async def listed_lean(
    mcp: McpClient, names: Collection[str], description_under: int
) -> dict[str, Any]:
    """The listed tools named, each asserted read-only, without an output schema (compact
    results describe themselves; schemas would cost every session tokens in tools/list) and
    with a description shorter than `description_under`."""
    tools = {tool.name: tool for tool in await mcp.list_tools()}
    assert set(tools) >= set(names)
    for name in names:
        tool = tools[name]
        assert tool.annotations is not None and tool.annotations.read_only_hint is True, name
        assert tool.output_schema is None, name
        assert tool.description and len(tool.description) < description_under, name
    return {name: tools[name] for name in names}


def fuzzing(max_examples: int) -> settings:
    """Hypothesis settings for fuzzing a real server from a test that has fixtures."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


def assert_result_or_coded_error(
    url: str, tool: str, payload: dict[str, Any], codes: Collection[str]
) -> None:
    """One fuzzed call on a fresh session answers a result or a tool error with one of
    `codes` and a message, never a stack trace."""
    is_error, body = asyncio.run(fresh_call(url, tool, payload))
    assert "Traceback" not in body
    if is_error:
        error = json.loads(body)["error"]
        assert error["code"] in codes, error
        assert error["message"]


SEED_TOOLS = frozenset(
    {
        "list_datasources",
        "list_metrics",
        "get_metric_metadata",
        "query_instant",
        "query_range",
        "get_metric_labels",
        "get_label_values",
        "find_metrics_by_pattern",
    }
)
"""The seed project's eight tools, by their names and arguments unchanged."""
