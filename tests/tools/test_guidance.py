"""Resources and prompts over the real MCP client."""

from __future__ import annotations

import json

import pytest
from mcp_types import PromptReference, ResourceTemplateReference

from mcp_server.tools import guidance
from tests.support.harness import McpClient
from tests.support.prometheus_process import RunningPrometheus, wait_until_scraped


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
        "explore_metric",
        "investigate_firing_alert",
        "investigate_latency_regression",
        "investigate_error_spike",
    }
    result = await mcp.get_prompt(
        "investigate_firing_alert", {"alert_name": "HighErrorRate", "datasource_id": "prom"}
    )
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert '"HighErrorRate"' in text and "query_range" in text and '"prom"' in text


async def test_datasource_facts_say_version_retention_and_scrape_interval(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    templates = {t.uri_template for t in await mcp.list_resource_templates()}
    assert {guidance.FACTS_URI, guidance.METRIC_URI} <= templates
    (content,) = await mcp.read_resource("proms://datasource/prom")
    facts = json.loads(content.text)  # type: ignore[union-attr]
    assert facts == {
        "id": "prom",
        "name": "prom",
        "type": "Prometheus",
        "type_source": "buildinfo",  # it answered, and no other flavour's endpoint did
        "version": prometheus.version,
        "retention": "30d",
        "scrape_interval": "1s",  # what the test Prometheus is configured with
        "scrape_interval_source": "backend",
    }


async def test_a_metric_resource_gives_type_help_and_labels(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    wait_until_scraped(prometheus)
    uri = "proms://metric/prometheus_http_requests_total?datasource_id=prom"
    (content,) = await mcp.read_resource(uri)
    metric = json.loads(content.text)  # type: ignore[union-attr]
    assert metric["type"] == "counter" and metric["help"]
    assert {"code", "handler", "instance", "job"} <= set(metric["labels"])


async def test_completion_offers_ids_metrics_labels_and_values_by_prefix(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    wait_until_scraped(prometheus)
    prompt = PromptReference(type="ref/prompt", name="explore_metric")
    ids = await mcp.complete(prompt, {"name": "datasource_id", "value": "prom"})
    assert ids.values == ["prom", "prom-get-slash"]
    context = {"datasource_id": "prom"}
    metrics = await mcp.complete(
        prompt, {"name": "metric_name", "value": "prometheus_http_req"}, context
    )
    assert "prometheus_http_requests_total" in metrics.values
    assert all("prometheus_http_req" in m for m in metrics.values)
    context["metric_name"] = "prometheus_http_requests_total"
    labels = await mcp.complete(prompt, {"name": "label_name", "value": ""}, context)
    assert {"code", "handler"} <= set(labels.values) and "__name__" not in labels.values
    context["label_name"] = "code"
    values = await mcp.complete(prompt, {"name": "label_value", "value": "20"}, context)
    assert values.values[0] == "200" and all("20" in v for v in values.values)
    template = ResourceTemplateReference(type="ref/resource", uri=guidance.METRIC_URI)
    by_template = await mcp.complete(
        template, {"name": "metric_name", "value": "up"}, {"datasource_id": "prom"}
    )
    assert by_template.values[0] == "up"


async def test_completion_of_an_unknown_datasource_is_empty_not_an_error(mcp: McpClient) -> None:
    prompt = PromptReference(type="ref/prompt", name="explore_metric")
    got = await mcp.complete(prompt, {"name": "metric_name", "value": ""}, {"datasource_id": "x"})
    assert got.values == []


async def test_an_unknown_datasource_resource_is_an_error_naming_the_fix(mcp: McpClient) -> None:
    import fastmcp.exceptions

    with pytest.raises(fastmcp.exceptions.McpError, match="list_datasources"):
        await mcp.read_resource("proms://datasource/nope")
