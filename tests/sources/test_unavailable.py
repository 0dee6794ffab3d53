"""A broken datasource says why: one that is declared but not served answers with the reason
and its fix (the text `/ready` shows), `list_datasources` lists it as unavailable, and
`/ready` keeps every current problem and is not ready before a first good configuration."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastmcp import Client

from tests.support import harness
from tests.support.answers import call, call_error
from tests.support.prometheus_process import RunningPrometheus

THANOS = {
    "name": "thanos",
    "type": "prometheus",
    "url": "http://thanos-query.example.invalid:9090",
    "jsonData": {"httpHeaderName1": "Authorization"},
    "secureJsonData": {"httpHeaderValue1": "Bearer ${THANOS_TOKEN}"},
}


def write(path: pathlib.Path, *entries: dict[str, Any]) -> None:
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps({"apiVersion": 1, "datasources": list(entries)}))
    staged.replace(path)


def write_broken(path: pathlib.Path) -> None:
    path.write_text("datasources: [ {name: prom, url: ")  # unparseable YAML


def ready(server: harness.RunningServer) -> httpx.Response:
    return httpx.get(server.health_url + "/ready", timeout=5)


@pytest.fixture
def config_file(
    tmp_path: pathlib.Path, prometheus: RunningPrometheus, monkeypatch: pytest.MonkeyPatch
) -> pathlib.Path:
    monkeypatch.delenv("THANOS_TOKEN", raising=False)
    path = tmp_path / "datasources.yaml"
    write(path, {"name": "prom", "type": "prometheus", "url": prometheus.url}, THANOS)
    return path


@pytest.fixture
def running(config_file: pathlib.Path) -> Iterator[harness.RunningServer]:
    with harness.serving_file(config_file) as server:
        yield server


def thanos_problem(server: harness.RunningServer) -> str:
    found = [p for p in ready(server).json()["problems"] if "THANOS_TOKEN" in p]
    assert len(found) == 1, found
    return str(found[0])


async def test_a_declared_datasource_that_is_not_served_answers_why_and_how_to_fix_it(
    running: harness.RunningServer,
) -> None:
    async with Client(running.mcp_url) as mcp:
        error = await call_error(mcp, "query_instant", datasource_id="thanos", promql="up")
    assert error["code"] == "datasource_unavailable"
    assert error["message"] == (
        f'datasource "thanos" is declared but not served: {thanos_problem(running)}'
    )
    assert "$THANOS_TOKEN, which is not set in the environment; set it" in error["message"]


async def test_list_datasources_lists_an_unavailable_datasource_with_its_reason(
    running: harness.RunningServer,
) -> None:
    async with Client(running.mcp_url) as mcp:
        listed = await call(mcp, "list_datasources")
    assert [d["id"] for d in listed["datasources"]] == ["prom"] and listed["total"] == 1
    assert listed["unavailable"] == [
        {"id": "thanos", "source": "file", "reason": thanos_problem(running)}
    ]


async def test_an_unknown_datasource_is_still_not_found(running: harness.RunningServer) -> None:
    async with Client(running.mcp_url) as mcp:
        error = await call_error(mcp, "query_instant", datasource_id="thanos-2", promql="up")
    assert error["code"] == "datasource_not_found"


async def test_setting_the_variable_and_reloading_serves_it(
    running: harness.RunningServer, config_file: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    fixed = {**THANOS, "url": prometheus.url, "secureJsonData": {"httpHeaderValue1": "x"}}
    write(config_file, {"name": "prom", "type": "prometheus", "url": prometheus.url}, fixed)
    harness.poll(lambda: "thanos" in running.application.registry.current().datasources)
    async with Client(running.mcp_url) as mcp:
        listed = await call(mcp, "list_datasources")
        answer = await call(mcp, "query_instant", datasource_id="thanos", promql="vector(1)")
    assert "unavailable" not in listed and answer["series"][0]["value"] == 1


async def test_a_broken_reload_keeps_the_problems_of_the_configuration_still_served(
    running: harness.RunningServer, config_file: pathlib.Path
) -> None:
    before = thanos_problem(running)
    write_broken(config_file)
    harness.poll(lambda: ready(running).json()["sources"]["file"]["last_error"] is not None)
    problems = ready(running).json()["problems"]
    assert before in problems and any("is not valid YAML" in p for p in problems), problems
    async with Client(running.mcp_url) as mcp:
        error = await call_error(mcp, "query_instant", datasource_id="thanos", promql="up")
        served = await call(mcp, "query_instant", datasource_id="prom", promql="vector(1)")
    assert error["code"] == "datasource_unavailable" and served["series"]


def test_a_cold_start_whose_only_file_is_invalid_is_not_ready(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "datasources.yaml"
    write_broken(path)
    config = harness.make_settings(sources={"datasources_path": path})
    with harness.serve_in_thread(config) as server:
        response = ready(server)
        body = response.json()
        assert response.status_code == 503 and body["ready"] is False, body
        state = body["sources"]["file"]
        assert state["synced"] is False and state["last_success"] is None
        assert "no valid configuration yet" in state["last_error"]
        assert any("is not valid YAML" in p for p in body["problems"])
        write(path)  # a valid document that declares nothing
        harness.poll(lambda: ready(server).status_code == 200)
        assert ready(server).json()["problems"] == []
