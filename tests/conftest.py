"""Shared fixtures: a real Prometheus with synthetic history, and proms-mcp serving it."""

from __future__ import annotations

import json
import pathlib
from collections.abc import AsyncIterator, Iterator

import pytest
from fastmcp import Client

from tests import harness, prometheus_process

from .harness import RunningServer


@pytest.fixture(scope="session")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[prometheus_process.RunningPrometheus]:
    """Fails (never skips) when no Prometheus binary exists: CI must test for real."""
    with prometheus_process.running_prometheus(tmp_path_factory.mktemp("prometheus")) as running:
        yield running


@pytest.fixture(scope="session")
def closed_port_url() -> str:
    return f"http://127.0.0.1:{harness.free_port()}"


@pytest.fixture(scope="session")
def datasources_file(
    tmp_path_factory: pytest.TempPathFactory,
    prometheus: prometheus_process.RunningPrometheus,
    closed_port_url: str,
) -> pathlib.Path:
    path = tmp_path_factory.mktemp("provisioning") / "datasources.yaml"
    document = {
        "apiVersion": 1,
        "datasources": [
            {"name": "prom", "uid": "prom-uid", "type": "prometheus", "url": prometheus.url},
            {
                "name": "prom-get-slash",
                "type": "prometheus",
                "url": prometheus.url + "/",
                "jsonData": {"httpMethod": "GET", "prometheusType": "Prometheus"},
            },
            {"name": "down", "type": "prometheus", "url": closed_port_url},
            {"name": "logs", "type": "loki", "url": "http://127.0.0.1:3100"},
        ],
    }
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="session")
def server(datasources_file: pathlib.Path) -> Iterator[RunningServer]:
    config = harness.make_settings(sources={"datasources_path": datasources_file})
    with harness.serve_in_thread(config) as running:
        yield running


@pytest.fixture
async def mcp(server: RunningServer) -> AsyncIterator[harness.McpClient]:
    async with Client(server.mcp_url) as client:
        yield client
