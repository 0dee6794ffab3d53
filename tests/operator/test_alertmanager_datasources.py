"""Alertmanagers declared in a cluster: a PrometheusDatasource of type Alertmanager and a
Grafana ConfigMap's `type: alertmanager` entry are served as Alertmanager datasources, the
CR is probed for its version through Alertmanager's own status, the same TLS, client
certificate and basic-auth options (from Secrets and ConfigMaps) reach an Alertmanager that
demands them, and the spec's rules hold without CEL."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import kmock
import pytest
import trustme
import yaml
from fastmcp import Client
from proms_operator import specs

from mcp_server.app import assembly
from mcp_server.core import settings
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


PASSWORD = "reader-pw"
PASSWORD_HASH = "$2b$12$Nlb2ygTvUk2CWlYmt7YJS./36RlIlYvIO50XxsyJPSg82pzmWGpbm"
"""bcrypt of PASSWORD (Alertmanager's basic_auth_users takes only bcrypt hashes)."""


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningAlertmanager, trustme.CA, trustme.LeafCert]]:
    """An Alertmanager on HTTPS (a certificate for 127.0.0.1 and alertmanager.test) that
    demands basic auth and a client certificate of the same test CA."""
    workdir = tmp_path_factory.mktemp("secured-am")
    ca = trustme.CA()
    server, client = ca.issue_cert("127.0.0.1", "alertmanager.test"), ca.issue_cert("proms-mcp")
    paths = {name: workdir / f"{name}.pem" for name in ("ca", "cert", "key", "ccert", "ckey")}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    server.private_key_pem.write_to_path(str(paths["key"]))
    client.cert_chain_pems[0].write_to_path(str(paths["ccert"]))
    client.private_key_pem.write_to_path(str(paths["ckey"]))
    web = alertmanager_process.WebSecurity(
        cert_file=paths["cert"],
        key_file=paths["key"],
        ca_file=paths["ca"],
        username="reader",
        password=PASSWORD,
        password_hash=PASSWORD_HASH,
        client_ca_file=paths["ca"],
        client_cert=(paths["ccert"], paths["ckey"]),
    )
    with alertmanager_process.running_alertmanager(workdir, web=web) as running:
        yield running, ca, client


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
    async with kube.operator_serving(_quickly_probing(emulator, tmp_path)) as application:
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


def _secured_spec(url: str, secret: str) -> dict[str, object]:
    """Every connection option that comes from the cluster: a CA from a ConfigMap, a client
    certificate and a basic-auth password from a Secret, the name to verify."""
    return {
        "url": url,
        "type": "Alertmanager",
        "auth": {
            "basicAuth": {
                "username": "reader",
                "passwordSecretKeyRef": {"name": secret, "key": "password"},
            }
        },
        "tls": {
            "ca": {"configMapKeyRef": {"name": "am-ca", "key": "ca.crt"}},
            "cert": {"secretKeyRef": {"name": "am-client", "key": "tls.crt"}},
            "key": {"secretKeyRef": {"name": "am-client", "key": "tls.key"}},
            "serverName": "alertmanager.test",
        },
    }


async def test_an_alertmanager_demanding_tls_a_client_certificate_and_basic_auth_is_read(
    emulator: kmock.KubernetesEmulator,
    tmp_path: pathlib.Path,
    secured: tuple[RunningAlertmanager, trustme.CA, trustme.LeafCert],
) -> None:
    am, ca, client = secured
    emulator.objects[kube.CONFIGMAPS, "mon", "am-ca"] = kube.configmap(
        "mon", "am-ca", {"ca.crt": ca.cert_pem.bytes().decode()}, None
    )
    emulator.objects[kube.SECRETS, "mon", "am-client"] = kube.secret(
        "mon",
        "am-client",
        **{
            "tls.crt": client.cert_chain_pems[0].bytes().decode(),
            "tls.key": client.private_key_pem.bytes().decode(),
        },
    )
    emulator.objects[kube.SECRETS, "mon", "am-auth"] = kube.secret(
        "mon", "am-auth", password=PASSWORD
    )
    emulator.objects[kube.SECRETS, "mon", "am-wrong"] = kube.secret(
        "mon", "am-wrong", password="no"
    )
    emulator.objects[kube.CRS, "mon", "am"] = kube.datasource(
        "mon", "am", **_secured_spec(am.url, "am-auth")
    )
    emulator.objects[kube.CRS, "mon", "wrong"] = kube.datasource(
        "mon", "wrong", **_secured_spec(am.url, "am-wrong")
    )
    async with kube.operator_serving(_quickly_probing(emulator, tmp_path)) as application:
        await harness.eventually(
            lambda: (
                _condition(emulator, "am", "Reachable").get("status") == "True"
                and _condition(emulator, "wrong", "Reachable").get("status") == "False"
            )
        )
        url = f"http://127.0.0.1:{application.settings.server.port}{mounting.MCP_PATH}"
        async with Client(url) as mcp:
            silences = await mcp.call_tool("list_silences", {"datasource_id": "mon/am"})
            assert silences.structured_content is not None
            refused = await mcp.call_tool(
                "list_silences", {"datasource_id": "mon/wrong"}, raise_on_error=False
            )
            assert refused.is_error
            assert PASSWORD not in str(refused.content)
    assert (
        dict(emulator.objects[kube.CRS, "mon", "am"])["status"]["prometheusVersion"] == am.version
    )
    assert PASSWORD not in str(_condition(emulator, "wrong", "Reachable"))


def _quickly_probing(emulator: kmock.KubernetesEmulator, folder: pathlib.Path) -> settings.Settings:
    """Operator settings against `emulator`, probing every 0.2 s, loopback allowed."""
    return harness.make_settings(
        operator={
            "kubeconfig": kube.kubeconfig(folder / "kubeconfig", str(emulator.url)),
            "probe_interval_seconds": 0.2,
        },
        destinations=kube.LOCAL_EGRESS,
    )
