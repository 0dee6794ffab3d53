"""Hot reload of the provisioning file: edits apply without restart, broken edits keep the
last good configuration and say so."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastmcp import Client

from tests.support import harness
from tests.support.prometheus_process import RunningPrometheus


def write(path: pathlib.Path, *entries: dict[str, Any]) -> None:
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps({"apiVersion": 1, "datasources": list(entries)}))
    staged.replace(path)  # atomic, as an editor or a ConfigMap mount would do


def prom(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "prometheus", "url": url, **extra}


@pytest.fixture
def config_file(tmp_path: pathlib.Path, prometheus: RunningPrometheus) -> pathlib.Path:
    path = tmp_path / "datasources.yaml"
    write(path, prom("alpha", prometheus.url))
    return path


@pytest.fixture
def running(config_file: pathlib.Path) -> Iterator[harness.RunningServer]:
    with harness.serving_file(config_file) as server:
        yield server


def served_ids(server: harness.RunningServer) -> set[str]:
    return set(server.application.registry.current().datasources)


def ready(server: harness.RunningServer) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(server.health_url + "/ready", timeout=5).json()
    return body


async def test_an_added_datasource_is_served_without_restart(
    running: harness.RunningServer, config_file: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    write(config_file, prom("alpha", prometheus.url), prom("beta", prometheus.url))
    harness.poll(lambda: served_ids(running) == {"alpha", "beta"})
    async with Client(running.mcp_url) as mcp:
        result = await mcp.call_tool(
            "query_instant", {"datasource_id": "beta", "promql": "vector(7)"}
        )
    assert result.structured_content is not None
    assert result.structured_content["series"] == [{"labels": {}, "value": 7}]


async def test_a_removed_datasource_stops_being_served(
    running: harness.RunningServer, config_file: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    write(config_file, prom("beta", prometheus.url))
    harness.poll(lambda: served_ids(running) == {"beta"})
    async with Client(running.mcp_url) as mcp:
        result = await mcp.call_tool(
            "query_instant", {"datasource_id": "alpha", "promql": "up"}, raise_on_error=False
        )
    assert result.is_error
    assert "datasource_not_found" in str(result.content[0])


def test_a_broken_edit_keeps_the_last_good_configuration_and_says_so(
    running: harness.RunningServer, config_file: pathlib.Path
) -> None:
    assert ready(running)["ready"] is True
    config_file.write_text("datasources: [ {name: alpha, url: ")  # unparseable YAML
    harness.poll(lambda: ready(running)["sources"]["file"]["last_error"] is not None)
    body = ready(running)
    assert served_ids(running) == {"alpha"}
    assert "kept the last good configuration" in body["sources"]["file"]["last_error"]
    assert body["problems"], "the parse problem is listed"
    assert body["ready"] is True  # still serving the last good set


def test_fixing_a_broken_edit_clears_the_error(
    running: harness.RunningServer, config_file: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    config_file.write_text("datasources: [ {name: alpha, url: ")
    harness.poll(lambda: ready(running)["sources"]["file"]["last_error"] is not None)
    write(config_file, prom("gamma", prometheus.url))
    harness.poll(lambda: served_ids(running) == {"gamma"})
    body = ready(running)
    assert body["sources"]["file"]["last_error"] is None and body["problems"] == []


def test_a_bad_entry_is_skipped_and_reported_while_the_others_load(
    running: harness.RunningServer, config_file: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    write(
        config_file,
        prom("alpha", prometheus.url),
        prom("broken", "ftp://example.invalid"),
        prom("delta", prometheus.url),
    )
    harness.poll(lambda: served_ids(running) == {"alpha", "delta"})
    problems = ready(running)["problems"]
    assert len(problems) == 1
    assert "broken" in problems[0] and "url" in problems[0]


def test_a_missing_file_at_start_refuses_the_start_naming_the_variable(
    tmp_path: pathlib.Path,
) -> None:
    config = harness.make_settings(sources={"datasources_path": tmp_path / "absent.yaml"})
    with (
        pytest.raises(RuntimeError, match=r"GRAFANA_DATASOURCES_PATH \S+absent.yaml does not"),
        harness.serve_in_thread(config),
    ):
        pass


def test_a_file_that_goes_away_keeps_the_last_good_configuration_and_says_why(
    running: harness.RunningServer, config_file: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    config_file.unlink()
    harness.poll(
        lambda: "datasources.yaml" in (ready(running)["sources"]["file"]["last_error"] or "")
    )
    assert served_ids(running) == {"alpha"}
    write(config_file, prom("alpha", prometheus.url), prom("beta", prometheus.url))
    harness.poll(lambda: served_ids(running) == {"alpha", "beta"})
    assert ready(running)["sources"]["file"]["last_error"] is None


def test_reloads_are_counted_in_metrics(
    running: harness.RunningServer, config_file: pathlib.Path
) -> None:
    def failures() -> float:
        text = httpx.get(running.health_url + "/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith('proms_mcp_config_reloads_total{outcome="failure",source="file"}'):
                return float(line.split()[-1])
        return 0.0

    before = failures()
    config_file.write_text(": not yaml : [")
    harness.poll(lambda: failures() > before)
