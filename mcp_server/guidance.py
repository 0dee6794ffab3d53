"""MCP beyond tools: the datasource catalogue as a resource, and prompts for the common
investigations, so an agent starts from a plan instead of guessing queries."""

from __future__ import annotations

import json

from fastmcp import FastMCP

from . import backends

CATALOGUE_URI = "proms://datasources"


def register(app: FastMCP, live: backends.Backends) -> None:
    @app.resource(CATALOGUE_URI, mime_type="application/json", name="datasources")
    async def catalogue() -> str:
        """The datasources you may query: id, name, type, description, labels."""
        visible = await live.visible(live.registry.current())
        entries = [
            {
                key: value
                for key, value in {
                    "id": ds.id,
                    "name": ds.name,
                    "type": ds.prometheus_type.value,
                    "description": ds.description or None,
                    "labels": dict(ds.labels) or None,
                }.items()
                if value is not None
            }
            for ds in visible
        ]
        return json.dumps({"datasources": entries}, separators=(",", ":"))

    @app.prompt(name="investigate_firing_alert")
    def investigate_firing_alert(alert_name: str, datasource_id: str) -> str:
        """Find why an alert fires: its expression, the series behind it, and their trend."""
        return (
            f"Investigate why the alert {alert_name!r} fires on datasource {datasource_id!r}.\n"
            "1. Find the metrics in its expression with find_metrics_by_pattern.\n"
            "2. query_instant the expression without its threshold to see which series "
            "exceed it, grouped by the labels that matter (job, instance, namespace).\n"
            "3. query_range the same over the last 6h to see when it started and whether it "
            "is growing; compare with a day earlier using offset 1d.\n"
            "4. Report: the affected series, since when, how far over the threshold, and "
            "the likely cause."
        )

    @app.prompt(name="investigate_latency_regression")
    def investigate_latency_regression(service: str, datasource_id: str) -> str:
        """Locate a latency regression with histogram quantiles per route and instance."""
        return (
            f"Investigate a latency regression of {service!r} on datasource {datasource_id!r}.\n"
            "1. find_metrics_by_pattern 'duration.*bucket|latency.*bucket' and check the "
            "type with get_metric_metadata.\n"
            "2. query_range histogram_quantile(0.99, sum by (le) (rate(<bucket>[5m]))) over "
            "the last 6h, then split by route or instance with sum by (le, route).\n"
            "3. Correlate with request rate and error rate over the same window.\n"
            "4. Report when p99 changed, by how much, and where (route, instance, version)."
        )

    @app.prompt(name="investigate_error_spike")
    def investigate_error_spike(service: str, datasource_id: str) -> str:
        """Explain an error-rate spike: which status codes, where, and since when."""
        return (
            f"Investigate an error-rate spike of {service!r} on datasource {datasource_id!r}.\n"
            "1. find_metrics_by_pattern 'requests_total' and get_label_values for code or "
            "status on it.\n"
            '2. query_range sum by (code) (rate(<metric>{code=~"5.."}[5m])) / '
            "sum(rate(<metric>[5m])) over the last 3h.\n"
            "3. Break the errors down by instance and route with topk(5, ...).\n"
            "4. Report the error ratio before and during the spike, its start, and where."
        )
