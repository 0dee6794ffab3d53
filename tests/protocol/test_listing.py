"""tools/list stays lean, and hides what no visible datasource can answer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastmcp import Client

from mcp_server.backends import capabilities
from mcp_server.protocol import listing
from tests.support import harness
from tests.support.harness import McpClient, RunningServer


def test_optional_arguments_lose_their_null_alternatives_and_defaults() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "limit": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}],
                      "default": None, "description": "d"},
            "time": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}],
                     "default": None},
            "promql": {"type": "string"},
            "n": {"type": "integer", "default": 5},
        },
        "required": ["promql"],
    }  # fmt: skip
    assert listing.lean_schema(schema) == {
        "type": "object",
        "properties": {
            "limit": {"type": "integer", "minimum": 1, "description": "d"},
            "time": {"type": ["string", "number"]},
            "promql": {"type": "string"},
            "n": {"type": "integer", "default": 5},
        },
        "required": ["promql"],
    }


async def test_no_tool_has_an_output_schema_or_null_noise(mcp: McpClient) -> None:
    tools = await mcp.list_tools()
    text = json.dumps([t.model_dump(mode="json", exclude_none=True) for t in tools])
    assert all(t.output_schema is None for t in tools)
    assert '{"type": "null"}' not in text and '"default": null' not in text


@pytest.fixture(scope="module")
def mimir_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    path = tmp_path_factory.mktemp("mimir") / "datasources.yaml"
    entry = {
        "name": "mimir",
        "type": "prometheus",
        "url": "http://127.0.0.1:9",
        "jsonData": {"prometheusType": "Mimir"},
    }
    path.write_text(json.dumps({"datasources": [entry]}))
    with harness.serve_in_thread(harness.make_settings(sources={"datasources_path": path})) as s:
        yield s


async def test_tools_no_datasource_can_answer_are_hidden_but_still_answer(
    mimir_only: RunningServer, mcp: McpClient
) -> None:
    everything = {t.name for t in await mcp.list_tools()}
    prometheus_tools = {
        name for name, apis in listing.TOOL_APIS.items() if apis != (capabilities.Api.ALERTMANAGER,)
    }
    assert prometheus_tools <= everything  # the Prometheus fixture shows them all
    assert not set(listing.TOOL_APIS) - prometheus_tools & everything  # no Alertmanager here
    async with Client(mimir_only.mcp_url) as client:
        names = {t.name for t in await client.list_tools()}
        assert "list_targets" not in names and "get_tsdb_status" not in names
        assert {"list_alerts", "list_rules", "query_range"} <= names
        result = await client.call_tool(
            "list_targets", {"datasource_id": "mimir"}, raise_on_error=False
        )
        assert result.is_error
        error = json.loads(result.content[0].text)["error"]
        assert error["code"] == "unsupported" and "Mimir" in error["message"]
