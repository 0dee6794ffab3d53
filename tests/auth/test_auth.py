"""AUTH_MODE=active: TokenReview authentication and SubjectAccessReview authorization per
datasource, against KMock computing review answers from the request, over real HTTP with a
real MCP client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pathlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import kmock
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from mcp_server.app import assembly
from mcp_server.core import errors
from mcp_server.protocol import mounting
from tests.support import answers, harness, kube, prometheus_process
from tests.support.answers import call, call_error
from tests.support.prometheus_process import RunningPrometheus

USERS = {
    "alice-token-0123456789": {"username": "alice", "uid": "u-1", "groups": ["team-a"]},
    "bob-token-0123456789": {"username": "bob", "uid": "u-2", "groups": ["team-b"]},
}
GRANTS = {
    ("alice", "team-a", "allowed"),
    ("alice", "team-a", "forwarding"),
    ("alice", "team-a", "locked"),
    ("bob", "team-a", "secret"),
}
INITIALIZE = harness.INITIALIZE


class FakeApi:
    """TokenReview/SubjectAccessReview answers computed from each request, with faults."""

    def __init__(self) -> None:
        self.fault: str | None = None  # None | "500" | "slow"
        self.token_reviews = 0
        self.access_reviews = 0

    async def token_review(self, request: kmock.Request) -> Any:
        self.token_reviews += 1
        if self.fault == "slow":
            await asyncio.sleep(0.5)
        if self.fault == "500":
            return kmock.Response(  # type: ignore[attr-defined]  # exported, not in __all__
                status=500, payload={"kind": "Status", "code": 500, "message": "etcd down"}
            )
        spec = request.data["spec"]
        token = spec["token"]
        status: dict[str, Any] = {"authenticated": False, "error": "token expired"}
        if token in USERS:
            status = {"authenticated": True, "user": USERS[token], "audiences": ["proms-mcp"]}
        elif token == "other-audience-token":
            status = {"authenticated": True, "user": {"username": "eve"}, "audiences": ["vault"]}
        # Always an explicit status: KMock keeps the last Response's status for a reaction.
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}
        return kmock.Response(  # type: ignore[attr-defined]  # exported, not in __all__
            status=200, payload=body
        )

    async def access_review(self, request: kmock.Request) -> Any:
        self.access_reviews += 1
        spec = request.data["spec"]
        attributes = spec["resourceAttributes"]
        allowed = (
            attributes["verb"] == "query"
            and attributes["group"] == "proms-mcp.dev"
            and (spec["user"], attributes["namespace"], attributes["name"]) in GRANTS
        )
        return {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "status": {"allowed": allowed},
        }


class RecordingBackend(harness.ScalarBackend):
    """Records the Authorization header each request brings."""

    seen: list[str | None] = []  # noqa: RUF012 - class-level on purpose (one server)

    def answer(self) -> None:
        self.seen.append(self.headers.get("Authorization"))


@pytest.fixture
def backend() -> Iterator[str]:
    with harness.http_server(RecordingBackend) as url:
        yield url


pytestmark = pytest.mark.kmock(cls=kube.ReviewingEmulator)


@pytest.fixture
def fake_api(kmock: kmock.KubernetesEmulator) -> FakeApi:
    kube.declare(kmock)
    return kube.answer_reviews(kmock, FakeApi())


@pytest.fixture
async def app(
    kmock: kmock.KubernetesEmulator,
    fake_api: FakeApi,
    tmp_path: pathlib.Path,
    prometheus: RunningPrometheus,
    backend: str,
) -> AsyncIterator[assembly.Application]:
    for name in ("allowed", "secret"):
        kmock.objects[kube.CRS, "team-a", name] = kube.datasource(
            "team-a", name, url=prometheus.url
        )
    kmock.objects[kube.CRS, "team-a", "forwarding"] = kube.datasource(
        "team-a", "forwarding", url=backend, auth={"forwardCallerToken": True}
    )
    kmock.objects[kube.CRS, "team-a", "locked"] = kube.datasource(  # its Secret does not exist
        "team-a",
        "locked",
        url=prometheus.url,
        auth={"bearerToken": {"secretKeyRef": {"name": "locked-token", "key": "token"}}},
    )
    files = tmp_path / "ds.json"
    files.write_text(
        json.dumps(
            {"datasources": [{"name": "shared", "type": "prometheus", "url": prometheus.url}]}
        )
    )
    config = harness.make_settings(
        auth={"mode": "active", "mode_explicit": True, "audiences": ("proms-mcp",)},
        sources={"datasources_path": files},
        operator={"kubeconfig": kube.kubeconfig(tmp_path / "kubeconfig", str(kmock.url))},
        destinations={**kube.LOCAL_EGRESS, "forward_token_allowed_urls": (backend,)},
    )
    async with kube.operator_serving(config) as application:
        yield application


def base(application: assembly.Application) -> str:
    return f"http://127.0.0.1:{application.settings.server.port}"


def client(application: assembly.Application, token: str) -> Client[StreamableHttpTransport]:
    transport = StreamableHttpTransport(
        base(application) + mounting.MCP_PATH, headers={"Authorization": f"Bearer {token}"}
    )
    return Client(transport)


async def post_initialize(
    application: assembly.Application, headers: dict[str, str]
) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            base(application) + mounting.MCP_PATH,
            json=INITIALIZE,
            headers={"Accept": "application/json, text/event-stream", **headers},
        )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-known-token"},
        {"Authorization": "Bearer other-audience-token"},
        {"Authorization": "Basic YWxpY2U6cGFzcw=="},
    ],
    ids=["no-token", "invalid-or-expired", "wrong-audience", "not-bearer"],
)
async def test_requests_without_a_valid_token_get_401_with_a_challenge(
    app: assembly.Application, headers: dict[str, str]
) -> None:
    response = await post_initialize(app, headers)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and "/.well-known/oauth-protected-resource" in challenge
    assert response.json()["error"] in ("invalid_request", "invalid_token")


async def test_the_protected_resource_metadata_is_public(app: assembly.Application) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(base(app) + "/.well-known/oauth-protected-resource")
    assert response.status_code == 200
    assert response.json()["resource"].endswith("/mcp/")
    assert response.json()["bearer_methods_supported"] == ["header"]


async def test_health_and_metrics_need_no_token(app: assembly.Application) -> None:
    async with httpx.AsyncClient() as http:
        port = app.settings.server.health_metrics_port
        assert (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200
        assert (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200


async def test_a_valid_token_lists_only_the_datasources_its_user_may_query(
    app: assembly.Application,
) -> None:
    expected = {
        "alice-token-0123456789": ["shared", "team-a/allowed", "team-a/forwarding"],
        "bob-token-0123456789": ["shared", "team-a/secret"],
    }
    for token, ids in expected.items():
        async with client(app, token) as mcp:
            listed = await call(mcp, "list_datasources")
        assert [d["id"] for d in listed["datasources"]] == ids, token


async def test_a_denied_datasource_looks_exactly_like_a_missing_one(
    app: assembly.Application,
) -> None:
    async with client(app, "alice-token-0123456789") as mcp:
        allowed = await mcp.call_tool(
            "query_instant", {"datasource_id": "team-a/allowed", "promql": "vector(1)"}
        )
        assert not allowed.is_error
        denied = await mcp.call_tool(
            "query_instant",
            {"datasource_id": "team-a/secret", "promql": "vector(1)"},
            raise_on_error=False,
        )
        missing = await mcp.call_tool(
            "query_instant",
            {"datasource_id": "team-a/secreT", "promql": "vector(1)"},
            raise_on_error=False,
        )
    assert denied.is_error and missing.is_error
    denied_error = json.loads(str(denied.content[0].text))["error"]
    missing_error = json.loads(str(missing.content[0].text))["error"]
    assert denied_error["code"] == missing_error["code"] == "datasource_not_found"
    assert denied_error["message"].replace("team-a/secret", "X") == missing_error[
        "message"
    ].replace("team-a/secreT", "X")
    assert (
        '"team-a/secret"' not in denied_error["message"].split('no datasource "team-a/secret"')[1]
    )


async def test_an_unavailable_datasource_says_why_only_to_callers_who_may_query_it(
    app: assembly.Application,
) -> None:
    await harness.eventually(lambda: "team-a/locked" in app.registry.current().unavailable)
    async with client(app, "alice-token-0123456789") as mcp:
        listed = await call(mcp, "list_datasources")
        error = await call_error(
            mcp, "query_instant", datasource_id="team-a/locked", promql="vector(1)"
        )
    reason = "Secret team-a/locked-token does not exist"
    assert [(u["id"], u["source"]) for u in listed["unavailable"]] == [
        ("team-a/locked", "prometheusdatasource")
    ]
    assert reason in listed["unavailable"][0]["reason"]
    assert error["code"] == "datasource_unavailable" and reason in error["message"]
    async with client(app, "bob-token-0123456789") as mcp:
        listed = await call(mcp, "list_datasources")
        denied = await call_error(
            mcp, "query_instant", datasource_id="team-a/locked", promql="vector(1)"
        )
        missing = await call_error(
            mcp, "query_instant", datasource_id="team-a/lockeD", promql="vector(1)"
        )
    assert "unavailable" not in listed
    assert denied["code"] == missing["code"] == "datasource_not_found"
    assert denied["message"].replace("team-a/locked", "X") == missing["message"].replace(
        "team-a/lockeD", "X"
    )


async def test_reviews_are_cached_and_concurrent_first_calls_share_one(
    app: assembly.Application, fake_api: FakeApi
) -> None:
    fake_api.fault = "slow"
    results = await asyncio.gather(
        *(post_initialize(app, {"Authorization": "Bearer bob-token-0123456789"}) for _ in range(8))
    )
    assert all(r.status_code == 200 for r in results)
    assert fake_api.token_reviews == 1
    fake_api.fault = None
    await post_initialize(app, {"Authorization": "Bearer bob-token-0123456789"})
    assert fake_api.token_reviews == 1
    async with client(app, "bob-token-0123456789") as mcp:
        await mcp.call_tool(
            "query_instant", {"datasource_id": "team-a/secret", "promql": "vector(1)"}
        )
        before = fake_api.access_reviews
        await mcp.call_tool(
            "query_instant", {"datasource_id": "team-a/secret", "promql": "vector(1)"}
        )
    assert fake_api.access_reviews == before


async def test_an_api_failure_is_a_retryable_503_that_is_never_cached(
    app: assembly.Application, fake_api: FakeApi
) -> None:
    fake_api.fault = "500"
    failed = await post_initialize(app, {"Authorization": "Bearer alice-token-0123456789"})
    assert failed.status_code == 503 and failed.headers["retry-after"] == "5"
    assert failed.json()["error"] == "temporarily_unavailable"
    fake_api.fault = None
    recovered = await post_initialize(app, {"Authorization": "Bearer alice-token-0123456789"})
    assert recovered.status_code == 200


class _VersionOnly(harness.Handler):
    """An API server that answers the start-up check, and nothing else, before it goes."""

    def do_GET(self) -> None:
        self.reply(b'{"major": "1", "minor": "31"}')


async def test_an_api_unreachable_at_start_refuses_the_start_saying_where(
    tmp_path: pathlib.Path,
) -> None:
    with prometheus_process.closed_port() as port:
        address = f"http://127.0.0.1:{port}"
        config = harness.make_settings(
            auth={"mode": "active", "mode_explicit": True},
            operator={"kubeconfig": kube.kubeconfig(tmp_path / "kubeconfig", address)},
        )
        with pytest.raises(errors.ConfigurationError) as refused:
            async with harness.serving(config):
                pass
    assert f"cannot reach the Kubernetes API at {address}" in str(refused.value)
    assert "connection refused" in str(refused.value)


async def test_an_api_that_goes_away_after_start_fails_closed(tmp_path: pathlib.Path) -> None:
    with contextlib.ExitStack() as api:
        address = api.enter_context(harness.http_server(_VersionOnly))
        config = harness.make_settings(
            auth={"mode": "active", "mode_explicit": True},
            operator={"kubeconfig": kube.kubeconfig(tmp_path / "kubeconfig", address)},
        )
        async with harness.serving(config) as application:
            api.close()
            response = await post_initialize(
                application, {"Authorization": "Bearer alice-token-0123456789"}
            )
    assert response.status_code == 503


async def test_the_callers_own_token_is_forwarded_when_the_datasource_asks(
    app: assembly.Application,
) -> None:
    RecordingBackend.seen.clear()
    async with client(app, "alice-token-0123456789") as mcp:
        result = await mcp.call_tool(
            "query_instant", {"datasource_id": "team-a/forwarding", "promql": "vector(1)"}
        )
    assert not result.is_error
    assert RecordingBackend.seen == ["Bearer alice-token-0123456789"]


async def test_every_call_is_audited_with_the_user_and_no_token_is_ever_logged(
    app: assembly.Application, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with client(app, "alice-token-0123456789") as mcp:
        await mcp.call_tool(
            "query_instant", {"datasource_id": "team-a/allowed", "promql": "vector(5)"}
        )
    await post_initialize(app, {"Authorization": "Bearer not-a-known-token"})
    audit = [r for r in caplog.records if r.name == "proms_mcp.calls"]
    assert any(
        getattr(r, "user", None) == "alice"
        and getattr(r, "datasource_id", None) == "team-a/allowed"
        and getattr(r, "promql", None) == "vector(5)"
        and getattr(r, "outcome", None) == "success"
        and "duration_ms" in r.__dict__
        for r in audit
    )
    for record in caplog.records:
        text = record.getMessage() + json.dumps(record.__dict__, default=str)
        assert "alice-token-0123456789" not in text and "not-a-known-token" not in text


async def test_a_foreign_host_is_refused_before_its_token_is_reviewed(
    app: assembly.Application, fake_api: FakeApi
) -> None:
    reviews = fake_api.token_reviews
    headers = {"Authorization": "Bearer carol-token-0123456789", "Host": "evil.example.com"}
    response = await post_initialize(app, headers)
    assert response.status_code == 421
    assert fake_api.token_reviews == reviews


async def test_each_user_has_their_own_limit_of_calls_in_flight(
    app: assembly.Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice and Bob call from the same address: the limit counts users, not addresses."""
    release = threading.Event()
    held: list[None] = []

    def hold(_: RecordingBackend) -> None:
        held.append(None)
        release.wait(timeout=30)

    monkeypatch.setattr(RecordingBackend, "answer", hold)
    limit = app.settings.server.max_calls_per_caller

    async def call_as(token: str, datasource: str, value: int) -> dict[str, Any]:
        body, headers = answers.tool_call(
            "query_instant", {"datasource_id": datasource, "promql": f"vector({value})"}
        )
        async with httpx.AsyncClient(timeout=60) as http:
            response = await http.post(
                base(app) + mounting.MCP_PATH,
                json=body,
                headers={**headers, "Authorization": f"Bearer {token}"},
            )
        result: dict[str, Any] = response.json()["result"]
        return result

    alice = "alice-token-0123456789"
    calls = [asyncio.create_task(call_as(alice, "team-a/forwarding", i)) for i in range(limit + 1)]
    try:
        await harness.eventually(lambda: len(held) == limit and sum(c.done() for c in calls) == 1)
        (refused,) = [c.result() for c in calls if c.done()]
        assert json.loads(refused["content"][0]["text"])["error"]["code"] == "too_many_calls"
        bob = await call_as("bob-token-0123456789", "team-a/secret", 7)
        assert not bob.get("isError"), bob
    finally:
        release.set()
    assert not any(r.get("isError") for r in await asyncio.gather(*calls) if r is not refused)


async def test_a_fleet_answer_covers_only_what_the_caller_may_read_and_never_names_the_rest(
    app: assembly.Application,
) -> None:
    async with client(app, "alice-token-0123456789") as mcp:
        got = await call(mcp, "query_instant", promql="vector(1)", datasources="team-a/*")
        nothing = await call_error(mcp, "query_instant", promql="up", datasources="team-a/secret")
    assert sorted(got["coverage"]["latency_ms"]) == ["team-a/allowed", "team-a/forwarding"]
    assert got["coverage"]["matched"] == 2
    assert "secret" not in json.dumps(got)
    assert nothing["code"] == "datasource_not_found"


async def test_the_chart_apps_tool_reads_only_what_its_caller_may_read(
    app: assembly.Application,
) -> None:
    """chart_series reviews access as query_range does: alice charts her datasource, the
    one she may not read looks missing, and a fleet chart covers only hers."""
    headers = {"Authorization": "Bearer alice-token-0123456789"}
    window = {"promql": "vector(1)", "start": "now-10m", "end": "now", "width": 100}
    url = base(app) + mounting.MCP_PATH
    async with answers.apps_client(url, headers=headers) as mcp:
        mine = await call(mcp, "chart_series", datasource_id="team-a/allowed", **window)
        denied = await call_error(mcp, "chart_series", datasource_id="team-a/secret", **window)
        fleet = await call(mcp, "chart_series", datasources="team-a/*", **window)
    assert mine["datasource"] == "team-a/allowed" and mine["step_seconds"] == 6
    assert denied["code"] == "datasource_not_found"
    assert sorted(fleet["coverage"]["latency_ms"]) == ["team-a/allowed", "team-a/forwarding"]
    assert "secret" not in json.dumps(fleet)
