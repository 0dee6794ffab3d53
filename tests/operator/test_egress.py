"""Destinations of datasources declared in the cluster are policed (EGRESS_ALLOW, EGRESS_DENY).

The operator runs in-process against KMock; the datasources point at backends that record
what they receive, so "refused" means nothing ever arrived there. A URL whose host is a
denied address is refused when the CR is read (Ready=False, DestinationNotAllowed); a name
is checked where it cannot be fooled, on the addresses DNS gives when connecting.
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import kmock
import pytest
import yaml
from fastmcp import Client

from mcp_server.app import assembly
from mcp_server.protocol import mounting
from tests.support import harness, kube, recording
from tests.support.answers import call, call_error


@pytest.fixture
def emulator(kmock: kmock.KubernetesEmulator) -> kmock.KubernetesEmulator:
    kube.declare(kmock)
    return kmock


@pytest.fixture
def backend() -> Iterator[recording.Recorder]:
    with recording.recording_backend() as recorder:
        yield recorder


@contextlib.asynccontextmanager
async def serve(
    emulator: kmock.KubernetesEmulator,
    tmp_path: pathlib.Path,
    destinations: dict[str, object],
    **groups: dict[str, object],
) -> AsyncIterator[assembly.Application]:
    config = harness.make_settings(
        operator={
            "kubeconfig": kube.kubeconfig(tmp_path / "kubeconfig", str(emulator.url)),
            "probe_interval_seconds": 0.2,
        },
        destinations=destinations,
        **groups,
    )
    async with kube.operator_serving(config) as application:
        yield application


def condition(emulator: kmock.KubernetesEmulator, name: str, kind: str) -> dict[str, Any]:
    status = dict(emulator.objects[kube.CRS, "team-a", name]).get("status") or {}
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def mcp(application: assembly.Application) -> Client[Any]:
    return Client(f"http://127.0.0.1:{application.settings.server.port}{mounting.MCP_PATH}")


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://127.0.0.1:{port}", "loopback"),
        ("http://[::1]:{port}", "loopback"),
        ("http://[::ffff:127.0.0.1]:{port}", "loopback"),
        ("http://0.0.0.0:{port}", "unspecified"),
    ],
    ids=["metadata", "loopback", "loopback-v6", "v4-mapped", "unspecified"],
)
async def test_a_cr_at_a_denied_address_is_refused_and_never_contacted(
    emulator: kmock.KubernetesEmulator,
    tmp_path: pathlib.Path,
    backend: recording.Recorder,
    url: str,
    says: str,
) -> None:
    url = url.format(port=port_of(backend.url))
    emulator.objects[kube.CRS, "team-a", "sneaky"] = kube.datasource("team-a", "sneaky", url=url)
    async with serve(emulator, tmp_path, {}) as application:
        await harness.eventually(lambda: condition(emulator, "sneaky", "Ready").get("message"))
        ready = condition(emulator, "sneaky", "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "DestinationNotAllowed")
        assert says in ready["message"] and "EGRESS_ALLOW" in ready["message"]
        assert "team-a/sneaky" not in application.registry.current().datasources
        await harness.eventually(
            lambda: any(
                r.data.get("reason") == "DestinationNotAllowed"
                for r in kube.writes(emulator, kube.EVENTS)
            )
        )
    assert backend.requests == []


async def test_the_api_server_address_is_refused_even_where_loopback_is_allowed(
    emulator: kmock.KubernetesEmulator, tmp_path: pathlib.Path
) -> None:
    """KMock, the API server here, listens on 127.0.0.1; EGRESS_ALLOW=127.0.0.0/8 lifts the
    loopback denial but not the API server's, which only naming its address exactly does."""
    with recording.recording_backend(host="127.0.0.2") as elsewhere:
        objects = emulator.objects
        objects[kube.CRS, "team-a", "api"] = kube.datasource("team-a", "api", url=str(emulator.url))
        objects[kube.CRS, "team-a", "fine"] = kube.datasource("team-a", "fine", url=elsewhere.url)
        async with serve(emulator, tmp_path, {"egress_allow": ("127.0.0.0/8",)}) as application:
            await harness.eventually(lambda: condition(emulator, "api", "Ready").get("message"))
            ready = condition(emulator, "api", "Ready")
            assert ready["reason"] == "DestinationNotAllowed"
            assert "Kubernetes API server" in ready["message"]
            async with mcp(application) as client:
                await call(client, "query_instant", datasource_id="team-a/fine", promql="1")
        assert any(r.path.startswith("/api/v1/query") for r in elsewhere.requests)


async def test_a_name_that_resolves_to_loopback_is_refused_when_connecting(
    emulator: kmock.KubernetesEmulator, tmp_path: pathlib.Path, backend: recording.Recorder
) -> None:
    """`localhost` is a name: the CR is served, and every connection its client would make
    is refused, because the address DNS gives is loopback. The agent is not told which."""
    url = f"http://localhost:{port_of(backend.url)}"
    emulator.objects[kube.CRS, "team-a", "local"] = kube.datasource("team-a", "local", url=url)
    async with serve(emulator, tmp_path, {}) as application:
        await harness.eventually(
            lambda: "team-a/local" in application.registry.current().datasources
        )
        async with mcp(application) as client:
            error = await call_error(
                client, "query_instant", datasource_id="team-a/local", promql="vector(1)"
            )
        assert error["code"] == "destination_not_allowed" and error["retryable"] is False
        assert "EGRESS_ALLOW" in error["message"]
        for leak in ("127.0.0.1", "::1", "loopback", "localhost"):
            assert leak not in error["message"]
        await harness.eventually(
            lambda: (
                condition(emulator, "local", "Reachable").get("reason") == "DestinationNotAllowed"
            )
        )
    assert backend.requests == []


async def test_configmap_datasources_are_policed_and_file_datasources_are_not(
    emulator: kmock.KubernetesEmulator, tmp_path: pathlib.Path, backend: recording.Recorder
) -> None:
    document = {
        "datasources": [
            {"name": "metadata", "type": "prometheus", "url": "http://169.254.169.254"},
            {"name": "cm-local", "type": "prometheus", "url": backend.url},
        ]
    }
    emulator.objects[kube.CONFIGMAPS, "team-a", "grafana"] = kube.configmap(
        "team-a", "grafana", {"ds.yaml": yaml.safe_dump(document)}, {"grafana_datasource": "1"}
    )
    file = tmp_path / "ds.yaml"
    entry = {"name": "file-local", "type": "prometheus", "url": backend.url}
    file.write_text(yaml.safe_dump({"datasources": [entry]}))
    async with serve(emulator, tmp_path, {}, sources={"datasources_path": file}) as application:
        await harness.eventually(
            lambda: {"metadata", "cm-local"} <= set(application.registry.current().unavailable)
        )
        unavailable = application.registry.current().unavailable
        assert "link-local" in unavailable["metadata"].reason  # type: ignore[index]
        assert "loopback" in unavailable["cm-local"].reason  # type: ignore[index]
        async with mcp(application) as client:
            await call(client, "query_instant", datasource_id="file-local", promql="vector(1)")
            error = await call_error(
                client, "query_instant", datasource_id="cm-local", promql="vector(1)"
            )
        assert error["code"] == "datasource_unavailable"
        await harness.eventually(
            lambda: any(
                r.data.get("reason") == "InvalidDatasource" and "EGRESS_ALLOW" in r.data["message"]
                for r in kube.writes(emulator, kube.EVENTS)
            )
        )
    assert {r.path.split("?")[0] for r in backend.requests} == {"/api/v1/query"}  # the file's


async def test_egress_deny_refuses_names_and_ranges_egress_allow_narrows_to_its_entries(
    emulator: kmock.KubernetesEmulator, tmp_path: pathlib.Path, backend: recording.Recorder
) -> None:
    objects = emulator.objects
    for name, url in (
        ("named", "http://blocked.example.com:9090"),
        ("ranged", "http://10.1.2.3:9090"),
        ("outside", "http://192.0.2.10:9090"),
        ("inside", backend.url),
    ):
        objects[kube.CRS, "team-a", name] = kube.datasource("team-a", name, url=url)
    destinations: dict[str, object] = {
        "egress_allow": ("127.0.0.1", "10.0.0.0/8", "*.example.com"),
        "egress_deny": ("blocked.example.com", "10.1.0.0/16"),
    }
    async with serve(emulator, tmp_path, destinations) as application:
        for name, says in (
            ("named", "EGRESS_DENY"),
            ("ranged", "EGRESS_DENY"),
            ("outside", "not in EGRESS_ALLOW"),
        ):

            def refused(name: str = name) -> bool:
                return bool(condition(emulator, name, "Ready").get("message"))

            await harness.eventually(refused)
            ready = condition(emulator, name, "Ready")
            assert ready["reason"] == "DestinationNotAllowed" and says in ready["message"], name
        async with mcp(application) as client:
            await call(client, "query_instant", datasource_id="team-a/inside", promql="vector(1)")
