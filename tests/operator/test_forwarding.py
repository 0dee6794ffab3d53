"""A caller's token goes only where an administrator allowed it (FORWARD_TOKEN_ALLOWED_URLS).

The operator runs in-process against KMock with AUTH_MODE=active (KMock answers the token
and access reviews), and every datasource points at a backend of its own that records what
it receives: the tests read there what was sent, and what never was.
"""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import kmock
import pytest
import yaml
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from mcp_server.app import assembly
from mcp_server.protocol import mounting
from tests.support import harness, kube, recording
from tests.support.answers import call, call_error

pytestmark = pytest.mark.kmock(cls=kube.ReviewingEmulator)

TOKEN = "alice-token-forwarded-0123456789"
FORWARD = {"forwardCallerToken": True}
SERVED_CRS = ("allowed", "static", "anonymous")


@dataclass
class Backends:
    allowed: recording.Recorder  # forwards, to an entry that says http:// itself
    elsewhere: recording.Recorder  # forwards, to a URL no entry names
    plain_http: recording.Recorder  # forwards over http to a host allowed over https only
    others: dict[str, recording.Recorder]  # datasource id -> a backend that never forwards


@pytest.fixture
def backends() -> Iterator[Backends]:
    names = ("team-a/static", "team-a/anonymous", "cm-prom", "file-prom")
    with (
        recording.recording_backend() as allowed,
        recording.recording_backend() as elsewhere,
        recording.recording_backend() as plain_http,
        recording.recording_backend() as one,
        recording.recording_backend() as two,
        recording.recording_backend() as three,
        recording.recording_backend() as four,
    ):
        yield Backends(
            allowed, elsewhere, plain_http, dict(zip(names, (one, two, three, four), strict=True))
        )


def _reviews(emulator: kmock.KubernetesEmulator) -> None:
    """Alice is whoever brings TOKEN, and may query everything."""

    def token_review(request: kmock.Request) -> Any:
        known = request.data["spec"]["token"] == TOKEN
        status = {"authenticated": True, "user": {"username": "alice"}} if known else {}
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}
        return kmock.Response(status=200, payload=body | {"status": status})  # type: ignore[attr-defined]

    emulator["post", "/apis/authentication.k8s.io/v1/tokenreviews"] << token_review
    emulator["post", "/apis/authorization.k8s.io/v1/subjectaccessreviews"] << {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "status": {"allowed": True},
    }


def _declare(emulator: kmock.KubernetesEmulator, backends: Backends) -> None:
    objects = emulator.objects
    for name, url in (
        ("allowed", backends.allowed.url),
        ("elsewhere", backends.elsewhere.url),
        ("plain-http", backends.plain_http.url),
    ):
        objects[kube.CRS, "team-a", name] = kube.datasource("team-a", name, url=url, auth=FORWARD)
    objects[kube.SECRETS, "team-a", "static"] = kube.secret("team-a", "static", t="stored-token")
    objects[kube.CRS, "team-a", "static"] = kube.datasource(
        "team-a",
        "static",
        url=backends.others["team-a/static"].url,
        auth={"bearerToken": {"secretKeyRef": {"name": "static", "key": "t"}}},
    )
    objects[kube.CRS, "team-a", "anonymous"] = kube.datasource(
        "team-a", "anonymous", url=backends.others["team-a/anonymous"].url
    )
    document = {"datasources": [{"name": "cm-prom", "type": "prometheus"}]}
    document["datasources"][0]["url"] = backends.others["cm-prom"].url
    objects[kube.CONFIGMAPS, "team-a", "grafana"] = kube.configmap(
        "team-a", "grafana", {"ds.yaml": yaml.safe_dump(document)}, {"grafana_datasource": "1"}
    )


@pytest.fixture
async def app(
    kmock: kmock.KubernetesEmulator, tmp_path: pathlib.Path, backends: Backends
) -> AsyncIterator[assembly.Application]:
    kube.declare(kmock)
    _reviews(kmock)
    _declare(kmock, backends)
    file = tmp_path / "ds.yaml"
    url = backends.others["file-prom"].url
    entry = {"name": "file-prom", "type": "prometheus", "url": url}
    file.write_text(yaml.safe_dump({"datasources": [entry]}))
    plain_host = backends.plain_http.url.removeprefix("http://")  # a bare host: https only
    config = harness.make_settings(
        auth={"mode": "active", "mode_explicit": True},
        sources={"datasources_path": file},
        operator={
            "kubeconfig": kube.kubeconfig(tmp_path / "kubeconfig", str(kmock.url)),
            "probe_interval_seconds": 0.2,
        },
        destinations={
            **kube.LOCAL_EGRESS,
            "forward_token_allowed_urls": (backends.allowed.url + "/", plain_host),
        },
    )
    async with kube.operator_serving(config) as application:
        # A probe round has reached every served CR.
        await harness.eventually(
            lambda: all(
                conditions(kmock, name).get("Reachable", {}).get("status") == "True"
                for name in SERVED_CRS
            )
        )
        yield application


def conditions(emulator: kmock.KubernetesEmulator, name: str) -> dict[str, dict[str, Any]]:
    status = dict(emulator.objects[kube.CRS, "team-a", name]).get("status") or {}
    return {c["type"]: c for c in status.get("conditions", [])}


def client(application: assembly.Application) -> Client[StreamableHttpTransport]:
    url = f"http://127.0.0.1:{application.settings.server.port}{mounting.MCP_PATH}"
    return Client(StreamableHttpTransport(url, headers={"Authorization": f"Bearer {TOKEN}"}))


async def test_a_cr_forwarding_to_a_url_no_administrator_allowed_is_refused_and_never_contacted(
    app: assembly.Application, kmock: kmock.KubernetesEmulator, backends: Backends
) -> None:
    ready = conditions(kmock, "elsewhere")["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "ForwardingNotAllowed")
    assert "FORWARD_TOKEN_ALLOWED_URLS" in ready["message"]
    assert "team-a/elsewhere" not in app.registry.current().datasources
    await harness.eventually(
        lambda: any(
            r.data.get("reason") == "ForwardingNotAllowed"
            and r.data["involvedObject"]["name"] == "elsewhere"
            for r in kube.writes(kmock, kube.EVENTS)
        )
    )
    async with client(app) as mcp:
        error = await call_error(
            mcp, "query_instant", datasource_id="team-a/elsewhere", promql="vector(1)"
        )
    assert error["code"] == "datasource_unavailable"
    assert "FORWARD_TOKEN_ALLOWED_URLS" in error["message"]
    assert backends.elsewhere.requests == []


async def test_a_token_goes_over_plain_http_only_to_an_entry_that_says_http(
    app: assembly.Application, kmock: kmock.KubernetesEmulator, backends: Backends
) -> None:
    ready = conditions(kmock, "plain-http")["Ready"]
    assert ready["reason"] == "ForwardingNotAllowed"
    assert "https only" in ready["message"] and "http://" in ready["message"]
    assert backends.plain_http.requests == []
    assert conditions(kmock, "allowed")["Ready"]["reason"] == "Serving"  # http:// said so


async def test_an_allowed_destination_receives_exactly_the_callers_token(
    app: assembly.Application, backends: Backends
) -> None:
    probes = len(backends.allowed.requests)
    assert probes and all(a is None for a in backends.allowed.authorizations())
    async with client(app) as mcp:
        await call(mcp, "query_instant", datasource_id="team-a/allowed", promql="vector(1)")
    queries = backends.allowed.requests[probes:]
    queries = [r for r in queries if r.path.startswith("/api/v1/query")]
    assert [r.headers.get("Authorization") for r in queries] == [f"Bearer {TOKEN}"]


async def test_the_callers_token_never_reaches_any_other_datasource(
    app: assembly.Application, backends: Backends
) -> None:
    async with client(app) as mcp:
        for datasource_id in backends.others:
            await call(mcp, "query_instant", datasource_id=datasource_id, promql="vector(1)")
            await call(mcp, "list_metrics", datasource_id=datasource_id)
    for datasource_id, backend in backends.others.items():
        assert any(r.path.startswith("/api/v1/query") for r in backend.requests), datasource_id
        assert not any(r.carries(TOKEN) for r in backend.requests), datasource_id
    static = backends.others["team-a/static"].authorizations()
    assert set(static) == {"Bearer stored-token"}
