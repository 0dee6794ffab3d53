"""Resources and prompts over the real MCP client."""

from __future__ import annotations

import json

from mcp_server import guidance
from tests.harness import McpClient


async def test_the_datasource_catalogue_is_a_resource(mcp: McpClient) -> None:
    resources = {str(r.uri) for r in await mcp.list_resources()}
    assert guidance.CATALOGUE_URI in resources
    (content,) = await mcp.read_resource(guidance.CATALOGUE_URI)
    catalogue = json.loads(content.text)  # type: ignore[union-attr]
    assert [d["id"] for d in catalogue["datasources"]] == ["down", "prom", "prom-get-slash"]
    assert catalogue["datasources"][1]["type"] == "Prometheus"


async def test_investigation_prompts_name_the_tools_to_use(mcp: McpClient) -> None:
    prompts = {p.name for p in await mcp.list_prompts()}
    assert prompts == {
        "investigate_firing_alert",
        "investigate_latency_regression",
        "investigate_error_spike",
    }
    result = await mcp.get_prompt(
        "investigate_firing_alert", {"alert_name": "HighErrorRate", "datasource_id": "prom"}
    )
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert "HighErrorRate" in text and "query_range" in text and "'prom'" in text
