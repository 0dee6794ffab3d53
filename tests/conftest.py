"""Shared fixtures: a real Prometheus with synthetic history, and proms-mcp serving it; a
real alerting stack (Prometheus sending to Alertmanager), and proms-mcp serving both.

Property tests are replayable. Every run uses one Hypothesis seed for all of them and prints
it in the header: a fixed one under CI (`CI` set; the example database off, so a run depends
on nothing but the code and the seed), a fresh one per run elsewhere, so local runs keep
exploring. `--hypothesis-seed=N` or `HYPOTHESIS_SEED=N` replays a run; an input that broke
something is then kept as an explicit `@example` next to its test.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
from collections.abc import Iterator

import hypothesis
import pytest

from tests.support import alerting, harness, prometheus_process
from tests.support.harness import RunningServer

CI_SEED = "0"
"""The seed of every CI run unless HYPOTHESIS_SEED says otherwise: CI explores the same
inputs each time, so it is red only when the code changed."""

hypothesis.settings.register_profile("ci", database=None, print_blob=True)
hypothesis.settings.register_profile("dev", print_blob=True)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Choose the profile and the seed before Hypothesis's own plugin reads its options."""
    ci = bool(os.environ.get("CI"))
    if config.getoption("hypothesis_profile") is None:
        config.option.hypothesis_profile = "ci" if ci else "dev"
    if config.getoption("hypothesis_seed") is None:
        chosen = os.environ.get("HYPOTHESIS_SEED") or (
            CI_SEED if ci else str(random.randrange(2**32))
        )
        config.option.hypothesis_seed = chosen


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.getoption("hypothesis_seed")
    profile = config.getoption("hypothesis_profile")
    return (
        f"hypothesis: profile {profile!r}, seed {seed} "
        f"(replay: make test PYTEST_ARGS='--hypothesis-seed={seed}')"
    )


@pytest.fixture(scope="session")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[prometheus_process.RunningPrometheus]:
    """Fails (never skips) when no Prometheus binary exists: CI must test for real."""
    with prometheus_process.running_prometheus(tmp_path_factory.mktemp("prometheus")) as running:
        yield running


@pytest.fixture(scope="session")
def closed_port_url() -> Iterator[str]:
    with prometheus_process.closed_port() as port:
        yield f"http://127.0.0.1:{port}"


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
    with harness.serving_file(datasources_file) as running:
        yield running


mcp = harness.client_of("server")


@pytest.fixture(scope="session")
def alerting_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[alerting.AlertingStack]:
    """Fails (never skips) when no Alertmanager binary exists, as for Prometheus."""
    with alerting.running_stack(tmp_path_factory.mktemp("alerting")) as stack:
        alerting.settle(stack)
        yield stack


ALERTING_DATASOURCES = ("prom", "am", "am-unlinked")
"""The alerting server's datasources: the stack's Prometheus, its Alertmanager linked to
it, and the same Alertmanager declared without links."""


@pytest.fixture(scope="session")
def alerting_server(
    tmp_path_factory: pytest.TempPathFactory, alerting_stack: alerting.AlertingStack
) -> Iterator[RunningServer]:
    am = {"type": "alertmanager", "url": alerting_stack.alertmanager.url}
    with harness.serving_datasources(
        tmp_path_factory.mktemp("alerting-provisioning"),
        {"name": "prom", "type": "prometheus", "url": alerting_stack.prometheus.url},
        {**am, "name": "am", "jsonData": {"implementation": "prometheus", "alertsFrom": ["prom"]}},
        {**am, "name": "am-unlinked", "jsonData": {"implementation": "prometheus"}},
    ) as running:
        yield running


alerting_mcp = harness.client_of("alerting_server")
