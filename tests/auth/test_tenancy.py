"""Tenancy profiles against a real Prometheus behind gateways that enforce each backend's
rules (tests/support/tenancy_proxies.py), with AUTH_MODE=active (KMock answering the
reviews), datasources declared both as CRs (`spec.tenancy`) and in a provisioning file
(`jsonData.tenancy`), called by a real MCP client."""

from __future__ import annotations

import json
import pathlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import kmock
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from mcp_server.app import assembly
from mcp_server.protocol import mounting
from tests.support import harness, kube, prometheus_process
from tests.support.answers import call, call_error, direct
from tests.support.prometheus_process import RunningPrometheus
from tests.support.tenancy_proxies import (
    MimirGateway,
    OpenShiftQueryPort,
    OpenShiftRulesPort,
    VictoriaSelect,
)

ALICE, BOB, CAROL = "alice-token-0123456789", "bob-token-0123456789", "carol-token-0123456789"
USERS = {
    ALICE: {"username": "alice", "uid": "u-1", "groups": ["team-a"]},
    BOB: {"username": "bob", "uid": "u-2", "groups": ["team-b", "sre"]},
    CAROL: {"username": "carol", "uid": "u-3", "groups": ["visitors"]},
}
NAMESPACE_GRANTS = {("alice", "team-a"), ("bob", "team-a"), ("bob", "team-b")}
"""Who may `get pods.metrics.k8s.io` where: the cluster's truth, asked by our server."""


class Pods(harness.MetricsTarget):
    def exposition(self) -> str:
        return (
            'tenant_pods{namespace="team-a",pod="a1",team="payments"} 1\n'
            'tenant_pods{namespace="team-a",pod="a2",team="search"} 2\n'
            'tenant_pods{namespace="team-b",pod="b1",team="payments"} 10\n'
        )


BUSY = {
    "name": "tenancy",
    "interval": "1s",
    "rules": [
        {"alert": "TenantBusy", "expr": "tenant_pods > 1", "labels": {"sev": "warn"}},
        {  # as prometheus-operator labels a namespace's own rules
            "alert": "TeamBBusy",
            "expr": 'tenant_pods{namespace="team-b"} > 1',
            "labels": {"namespace": "team-b"},
        },
    ],
}


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    """A Prometheus whose series and alerts belong to two namespaces."""
    workdir = tmp_path_factory.mktemp("tenancy")
    with prometheus_process.scraping(Pods, workdir, [BUSY]) as running:
        harness.poll(lambda: len(_namespaced_alerts(running)) == 3)
        yield running


def _namespaced_alerts(prometheus: RunningPrometheus) -> list[dict[str, Any]]:
    alerts = direct(prometheus, "/api/v1/alerts")["alerts"]
    return [a for a in alerts if "namespace" in a["labels"]]


@pytest.fixture(scope="module")
def gateways(pods: RunningPrometheus) -> Iterator[dict[str, str]]:
    for gateway in (OpenShiftQueryPort, OpenShiftRulesPort, VictoriaSelect, MimirGateway):
        gateway.upstream = pods.url
    grants = {ALICE: {"team-a"}, BOB: {"team-a", "team-b"}}
    OpenShiftQueryPort.grants = OpenShiftRulesPort.grants = grants
    VictoriaSelect.tenant = "7:3"
    MimirGateway.tenants, MimirGateway.federation = {"a", "b"}, True
    with (
        harness.http_server(OpenShiftQueryPort) as query,
        harness.http_server(OpenShiftRulesPort) as rules,
        harness.http_server(VictoriaSelect) as vm,
        harness.http_server(MimirGateway) as mimir,
    ):
        yield {"query": query, "rules": rules, "vm": vm, "mimir": mimir}


@pytest.fixture(autouse=True)
def forget_requests() -> None:
    for gateway in (OpenShiftQueryPort, OpenShiftRulesPort, VictoriaSelect, MimirGateway):
        gateway.seen = []


pytestmark = pytest.mark.kmock(cls=kube.ReviewingEmulator)


class Reviews:
    def __init__(self) -> None:
        self.namespace_reviews: list[tuple[str, str]] = []

    async def token_review(self, request: kmock.Request) -> Any:
        user = USERS.get(request.data["spec"]["token"])
        status = {"authenticated": True, "user": user, "audiences": ["proms-mcp"]}
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}
        return kmock.Response(  # type: ignore[attr-defined]  # exported, not in __all__
            status=200, payload={**body, "status": status if user else {"authenticated": False}}
        )

    async def access_review(self, request: kmock.Request) -> Any:
        spec = request.data["spec"]
        attributes = spec["resourceAttributes"]
        if attributes["group"] == "metrics.k8s.io":
            asked = (spec["user"], attributes["namespace"])
            self.namespace_reviews.append(asked)
            allowed = (attributes["resource"], attributes["verb"]) == ("pods", "get") and (
                asked in NAMESPACE_GRANTS
            )
        else:  # every caller may query every datasource here: tenancy is under test
            allowed = attributes["verb"] == "query"
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview"}
        return {**body, "status": {"allowed": allowed}}


@pytest.fixture
def reviews(kmock: kmock.KubernetesEmulator) -> Reviews:
    kube.declare(kmock)
    return kube.answer_reviews(kmock, Reviews())


def _crs(gateways: dict[str, str]) -> dict[str, dict[str, Any]]:
    openshift = {"rulesUrl": gateways["rules"]}
    return {
        "ocp": {"url": gateways["query"], "tenancy": {"openshift": openshift}},
        "ocp-a": {
            "url": gateways["query"],
            "tenancy": {"openshift": {**openshift, "namespace": "team-a"}},
        },
        "ocp-plain": {"url": gateways["query"], "auth": {"forwardCallerToken": True}},
        "mimir-groups": {
            "url": gateways["mimir"],
            "tenancy": {"mimir": {"groupTenants": {"team-a": ["a"], "sre": ["a", "b"]}}},
        },
        "mimir-federated": {
            "url": gateways["mimir"],
            "tenancy": {"mimir": {"tenants": ["a", "b"]}},
        },
    }


def _entries(gateways: dict[str, str]) -> list[dict[str, Any]]:
    vm = {"accountID": 7, "projectID": 3, "extraLabels": ["team=payments"]}
    vm["extraFilters"] = ['{job="extra"}']
    return [
        {
            "name": "vm",
            "type": "prometheus",
            "url": gateways["vm"],
            "jsonData": {"tenancy": {"victoriaMetrics": vm}},
        },
        {"name": "vm-plain", "type": "prometheus", "url": gateways["vm"]},
        {
            "name": "mimir-header",
            "type": "prometheus",
            "url": gateways["mimir"],
            "jsonData": {"httpHeaderName1": "X-Scope-OrgID"},
            "secureJsonData": {"httpHeaderValue1": "a"},
        },
        {"name": "mimir-none", "type": "prometheus", "url": gateways["mimir"]},
        {
            "name": "ocp-file",
            "type": "prometheus",
            "url": gateways["query"],
            "jsonData": {"tenancy": {"openshift": {"rulesUrl": gateways["rules"]}}},
        },
    ]


@pytest.fixture
async def app(
    kmock: kmock.KubernetesEmulator,
    reviews: Reviews,
    gateways: dict[str, str],
    tmp_path: pathlib.Path,
) -> AsyncIterator[assembly.Application]:
    for name, spec in _crs(gateways).items():
        kmock.objects[kube.CRS, "team-a", name] = kube.datasource("team-a", name, **spec)
    elsewhere = {"openshift": {"rulesUrl": gateways["vm"]}}  # not an allowed destination
    kmock.objects[kube.CRS, "team-a", "ocp-elsewhere"] = kube.datasource(
        "team-a", "ocp-elsewhere", url=gateways["query"], tenancy=elsewhere
    )
    files = tmp_path / "ds.json"
    files.write_text(json.dumps({"datasources": _entries(gateways)}))
    config = harness.make_settings(
        auth={"mode": "active", "mode_explicit": True, "audiences": ("proms-mcp",)},
        sources={"datasources_path": files},
        destinations={
            **kube.LOCAL_EGRESS,
            "forward_token_allowed_urls": (gateways["query"], gateways["rules"]),
        },
        operator={
            "kubeconfig": kube.kubeconfig(tmp_path / "kubeconfig", str(kmock.url)),
            "probe_interval_seconds": 0.2,
        },
    )
    async with kube.operator_serving(config) as application:
        await harness.eventually(
            lambda: len(application.registry.current().datasources) == len(_crs(gateways)) + 5
        )
        yield application


def client(application: assembly.Application, token: str) -> Client[StreamableHttpTransport]:
    url = f"http://127.0.0.1:{application.settings.server.port}{mounting.MCP_PATH}"
    return Client(StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"}))


async def _tenant_pods(
    app: assembly.Application,
    token: str,
    *,
    refused: bool = False,
    promql: str = "sum(tenant_pods)",
    **arguments: Any,
) -> dict[str, Any]:
    """query_instant of `sum(tenant_pods)` (or `promql`) as the caller holding `token`, in
    a session of its own: the answer, or (`refused`) the error it gets."""
    async with client(app, token) as mcp:
        ask = call_error if refused else call
        return await ask(mcp, "query_instant", promql=promql, **arguments)


def _total(answer: dict[str, Any]) -> float:
    return sum(float(s["value"]) for s in answer["series"])


def _sum(pods: RunningPrometheus, selector: str) -> float:
    result = direct(pods, "/api/v1/query", query=f"sum({selector})")["result"]
    return float(result[0]["value"][1])


async def test_an_openshift_datasource_reads_the_callers_namespace_with_get_and_their_token(
    app: assembly.Application, pods: RunningPrometheus
) -> None:
    answer = await _tenant_pods(app, ALICE, datasource_id="team-a/ocp", namespace="team-a")
    assert _total(answer) == _sum(pods, 'tenant_pods{namespace="team-a"}') == 3
    sent = OpenShiftQueryPort.seen
    assert sent and all(r["method"] == "GET" for r in sent)  # the datasource says POST
    assert all(("namespace", "team-a") in r["params"] for r in sent)
    assert all(r["headers"]["Authorization"] == f"Bearer {ALICE}" for r in sent)


async def test_the_same_gateway_refuses_a_datasource_without_the_profile(
    app: assembly.Application,
) -> None:
    """Without tenancy.openshift the calls break exactly where the gateway's rules say."""
    error = await _tenant_pods(app, ALICE, datasource_id="team-a/ocp-plain", refused=True)
    assert error["code"] == "upstream_unauthorized"  # POST: 403
    assert [r["method"] for r in OpenShiftQueryPort.seen] == ["POST"]


def test_the_gateway_enforces_what_the_profile_complies_with(
    gateways: dict[str, str], pods: RunningPrometheus
) -> None:
    query, auth = gateways["query"] + "/api/v1/query", {"Authorization": f"Bearer {ALICE}"}
    with httpx.Client(trust_env=False, timeout=10, headers=auth) as http:
        assert http.post(query, data={"query": "up", "namespace": "team-a"}).status_code == 403
        assert http.get(query, params={"query": "up"}).status_code == 400
        assert http.get(query, params={"query": "up", "namespace": "team-b"}).status_code == 403
        unauthenticated = httpx.get(query, params={"namespace": "team-a"}, trust_env=False)
        assert unauthenticated.status_code == 401
        assert http.get(gateways["query"] + "/api/v1/rules?namespace=team-a").status_code == 404
        injected = http.get(
            query, params={"query": 'sum(tenant_pods{namespace="team-b"})', "namespace": "team-a"}
        ).json()["data"]["result"]
    assert float(injected[0]["value"][1]) == _sum(pods, 'tenant_pods{namespace="team-a"}')


async def test_a_call_without_namespace_is_told_to_pass_one_and_nothing_is_sent(
    app: assembly.Application,
) -> None:
    error = await _tenant_pods(app, ALICE, datasource_id="team-a/ocp", refused=True)
    assert error["code"] == "invalid_argument" and "pass namespace" in error["message"]
    assert OpenShiftQueryPort.seen == []


async def test_a_namespace_the_caller_may_not_read_is_refused_before_any_request(
    app: assembly.Application, reviews: Reviews
) -> None:
    error = await _tenant_pods(
        app, ALICE, datasource_id="team-a/ocp", namespace="team-b", refused=True
    )
    assert error["code"] == "invalid_argument" and '"team-b"' in error["message"]
    assert ("alice", "team-b") in reviews.namespace_reviews
    assert OpenShiftQueryPort.seen == []


async def test_alerts_and_rules_go_to_the_rules_port_for_the_namespace(
    app: assembly.Application,
) -> None:
    async with client(app, BOB) as mcp:
        alerts = await call(mcp, "list_alerts", datasource_id="team-a/ocp", namespace="team-b")
        rules = await call(mcp, "list_rules", datasource_id="team-a/ocp", namespace="team-b")
    # prom-label-proxy keeps the alerts, and the rules, labelled with the namespace
    assert sorted(a["name"] for a in alerts["alerts"]) == ["TeamBBusy", "TenantBusy"]
    assert {a["labels"]["pod"] for a in alerts["alerts"]} == {"b1"}
    assert [r["name"] for r in rules["rules"]] == ["TeamBBusy"]
    assert {r["path"] for r in OpenShiftRulesPort.seen} == {"/api/v1/rules", "/api/v1/alerts"}
    assert all(
        r["path"] not in ("/api/v1/rules", "/api/v1/alerts") for r in OpenShiftQueryPort.seen
    )


async def test_a_fixed_namespace_needs_no_argument_and_refuses_another(
    app: assembly.Application, pods: RunningPrometheus
) -> None:
    answer = await _tenant_pods(app, BOB, datasource_id="team-a/ocp-a")
    error = await _tenant_pods(
        app, BOB, datasource_id="team-a/ocp-a", promql="up", namespace="team-b", refused=True
    )
    assert _total(answer) == _sum(pods, 'tenant_pods{namespace="team-a"}')
    assert error["code"] == "invalid_argument" and '"team-a"' in error["message"]


async def test_a_grafana_entry_declares_openshift_tenancy_in_json_data(
    app: assembly.Application, pods: RunningPrometheus
) -> None:
    answer = await _tenant_pods(app, BOB, datasource_id="ocp-file", namespace="team-b")
    assert _total(answer) == _sum(pods, 'tenant_pods{namespace="team-b"}') == 10
    assert all(r["headers"]["Authorization"] == f"Bearer {BOB}" for r in OpenShiftQueryPort.seen)


async def test_victoriametrics_tenancy_asks_under_the_tenant_path_with_its_extra_label(
    app: assembly.Application, pods: RunningPrometheus
) -> None:
    answer = await _tenant_pods(app, BOB, datasource_id="vm")
    plain = await _tenant_pods(app, BOB, datasource_id="vm-plain", refused=True)
    assert _total(answer) == _sum(pods, 'tenant_pods{team="payments"}') == 11
    assert plain["code"] == "bad_response"  # the gateway's 404 outside the tenant path
    tenant_path = [r for r in VictoriaSelect.seen if r["path"].startswith("/select/7:3/")]
    assert tenant_path and all(
        ("extra_filters[]", '{job="extra"}') in r["params"] for r in tenant_path
    )


async def test_mimir_tenants_come_from_the_header_the_profile_or_the_callers_groups(
    app: assembly.Application, pods: RunningPrometheus
) -> None:
    promql = "sum(tenant_pods)"
    async with client(app, ALICE) as mcp:
        by_header = await call(mcp, "query_instant", datasource_id="mimir-header", promql=promql)
        missing = await call_error(mcp, "query_instant", datasource_id="mimir-none", promql=promql)
        federated = await call(
            mcp, "query_instant", datasource_id="team-a/mimir-federated", promql=promql
        )
        alices = await call(
            mcp, "query_instant", datasource_id="team-a/mimir-groups", promql=promql
        )
    async with client(app, BOB) as mcp:
        bobs = await call(mcp, "query_instant", datasource_id="team-a/mimir-groups", promql=promql)
    async with client(app, CAROL) as mcp:
        carols = await call_error(
            mcp, "query_instant", datasource_id="team-a/mimir-groups", promql=promql
        )
    everything = _sum(pods, "tenant_pods")
    assert _total(by_header) == _total(federated) == _total(alices) == _total(bobs) == everything
    assert missing["code"] == "upstream_unauthorized"  # "no org id"
    assert carols["code"] == "datasource_unavailable"
    orgs = [r["headers"].get("X-Scope-OrgID") for r in MimirGateway.seen]
    assert orgs == ["a", None, "a|b", "a", "a|b"]


async def test_the_operator_does_not_probe_a_tenancy_port_it_cannot_ask_and_says_so(
    app: assembly.Application, kmock: kmock.KubernetesEmulator
) -> None:
    def reachable(name: str) -> dict[str, Any]:
        found = dict(kmock.objects[kube.CRS, "team-a", name]).get("status") or {}
        return next((c for c in found.get("conditions", []) if c["type"] == "Reachable"), {})

    def probed(name: str) -> bool:  # probes are spread over the interval: wait for each
        message: str = reachable(name).get("message", "no probe has run yet")
        return message != "no probe has run yet"

    await harness.eventually(
        lambda: all(probed(n) for n in ("mimir-federated", "ocp", "mimir-groups")), timeout=30
    )
    assert reachable("mimir-federated")["status"] == "True"
    assert reachable("ocp")["status"] == "Unknown"
    assert reachable("mimir-groups")["status"] == "Unknown"
    assert "shaped by each caller" in reachable("ocp")["message"]
    assert OpenShiftQueryPort.seen == []


async def test_namespace_is_listed_for_callers_with_a_datasource_that_takes_one(
    app: assembly.Application,
) -> None:
    async with client(app, ALICE) as mcp:
        tools = {t.name: t.input_schema["properties"] for t in await mcp.list_tools()}
    assert "namespace" in tools["query_instant"] and "namespace" in tools["list_alerts"]
    assert "namespace" not in tools["list_datasources"]


async def test_a_fleet_question_carries_the_namespace_to_every_datasource_that_takes_it(
    app: assembly.Application, pods: RunningPrometheus
) -> None:
    fleet = ["team-a/ocp", "ocp-file", "vm"]
    answer = await _tenant_pods(app, BOB, datasources=fleet, namespace="team-b")
    by_datasource = {s["labels"]["@datasource"]: float(s["value"]) for s in answer["series"]}
    team_b = _sum(pods, 'tenant_pods{namespace="team-b"}')
    payments = _sum(pods, 'tenant_pods{team="payments"}')
    assert by_datasource == {"team-a/ocp": team_b, "ocp-file": team_b, "vm": payments}
    assert answer["coverage"]["answered"] == 3


async def test_the_openshift_profile_forwards_tokens_only_where_an_administrator_allowed(
    app: assembly.Application, kmock: kmock.KubernetesEmulator
) -> None:
    """It forwards callers' tokens, to its URL and its rules URL: both must be allowed."""

    def ready() -> dict[str, Any]:
        found = dict(kmock.objects[kube.CRS, "team-a", "ocp-elsewhere"]).get("status") or {}
        return next((c for c in found.get("conditions", []) if c["type"] == "Ready"), {})

    await harness.eventually(lambda: ready().get("reason") == "ForwardingNotAllowed")
    assert "spec.tenancy.openshift.rulesUrl" in ready()["message"]
    assert app.registry.current().get("team-a/ocp-elsewhere") is None
