"""Alertmanagers declared in a cluster: a PrometheusDatasource of type Alertmanager and a
Grafana ConfigMap's `type: alertmanager` entry are served as Alertmanager datasources, the
CR is probed for its version through Alertmanager's own status, and the spec's rules hold
without CEL."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import kmock
import pytest
import yaml
from fastmcp import Client
from proms_operator import runtime, specs

from mcp_server.app import assembly
from mcp_server.protocol import mounting
from mcp_server.sources import datasources
from tests.support import alertmanager_process, harness, kube
from tests.support.alertmanager_process import RunningAlertmanager
from tests.support.prometheus_process import RunningPrometheus

AM = datasources.DatasourceKind.ALERTMANAGER


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAlertmanager]:
    with alertmanager_process.running_alertmanager(tmp_path_factory.mktemp("am")) as running:
        yield running


@pytest.fixture
def emulator(kmock: kmock.KubernetesEmulator) -> kmock.KubernetesEmulator:
    kube.declare(kmock)
    return kmock


def _condition(emulator: kmock.KubernetesEmulator, name: str, kind: str) -> dict[str, str]:
    status = dict(emulator.objects[kube.CRS, "mon", name]).get("status") or {}
    for item in status.get("conditions", []):
        if item["type"] == kind:
            return dict(item)
    return {}


async def test_an_alertmanager_cr_and_configmap_entry_are_served_probed_and_queryable(
    emulator: kmock.KubernetesEmulator,
    tmp_path: pathlib.Path,
    alertmanager: RunningAlertmanager,
    prometheus: RunningPrometheus,
) -> None:
    emulator.objects[kube.CRS, "mon", "prom"] = kube.datasource("mon", "prom", url=prometheus.url)
    emulator.objects[kube.CRS, "mon", "am"] = kube.datasource(
        "mon", "am", url=alertmanager.url, type="Alertmanager", alertsFrom=["prom"]
    )
    entry = {
        "name": "cm-am",
        "type": "alertmanager",
        "url": alertmanager.url,
        "jsonData": {"implementation": "prometheus", "alertsFrom": ["mon/prom"]},
    }
    emulator.objects[kube.CONFIGMAPS, "mon", "grafana"] = kube.configmap(
        "mon",
        "grafana",
        {"ds.yaml": yaml.safe_dump({"datasources": [entry]})},
        {"grafana_datasource": "1"},
    )
    config = harness.make_settings(
        operator={
            "kubeconfig": kube.kubeconfig(tmp_path / "kubeconfig", str(emulator.url)),
            "probe_interval_seconds": 0.2,
        },
    )
    async with harness.serving(
        config, extensions=[runtime.KubernetesSources(config)]
    ) as application:
        await harness.eventually(
            lambda: _condition(emulator, "am", "Reachable").get("status") == "True"
        )
        served = application.registry.current().datasources
        assert served[datasources.DatasourceId("mon/am")].kind is AM
        assert served[datasources.DatasourceId("mon/am")].alerts_from == ("prom",)
        assert served[datasources.DatasourceId("cm-am")].kind is AM
        assert (
            served[datasources.DatasourceId("mon/prom")].kind
            is datasources.DatasourceKind.PROMETHEUS
        )
        await _listed_and_read(application)
    status = dict(emulator.objects[kube.CRS, "mon", "am"])["status"]
    assert status["prometheusVersion"] == alertmanager.version
    assert _condition(emulator, "am", "Reachable")["reason"] == "ProbeSucceeded"


async def _listed_and_read(application: assembly.Application) -> None:
    url = f"http://127.0.0.1:{application.settings.server.port}{mounting.MCP_PATH}"
    async with Client(url) as mcp:
        listed = await mcp.call_tool("list_datasources", {})
        assert listed.structured_content is not None
        types = {d["id"]: d["type"] for d in listed.structured_content["datasources"]}
        assert types == {
            "mon/am": "Alertmanager",
            "cm-am": "Alertmanager",
            "mon/prom": "Prometheus",
        }
        for datasource_id in ("mon/am", "cm-am"):
            silences = await mcp.call_tool("list_silences", {"datasource_id": datasource_id})
            assert silences.structured_content is not None
            assert silences.structured_content["datasource"] == datasource_id


def test_links_on_a_prometheus_spec_are_refused_as_cel_would_refuse_them() -> None:
    with pytest.raises(specs.SpecError, match="alertsFrom is for type Alertmanager only"):
        specs.parse_spec({"url": "http://p:9090", "alertsFrom": ["prom"]})
    spec = specs.parse_spec(
        {"url": "http://am:9093", "type": "Alertmanager", "alertsFrom": [" other/prom "]}
    )
    datasource = specs.to_datasource("mon", "am", spec, lambda ref: "")
    assert datasource.kind is AM
    assert datasource.alerts_from == ("other/prom",)
    assert datasource.type_name == "Alertmanager"
