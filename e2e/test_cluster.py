"""proms-mcp as a user installs it: the image from the Dockerfile, the Helm chart on a kind
cluster with auth.mode=active, a real Prometheus, and an agent calling the MCP Service with its
ServiceAccount token.

The tests share one cluster and run in file order (the last one uninstalls the release). Every
wait is a poll with a deadline (`support.eventually`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import pytest

from e2e import support
from e2e.support import Endpoint, Kube, eventually
from tests.support import answers

T = TypeVar("T")

pytestmark = pytest.mark.e2e

EIGHT_TOOLS = answers.SEED_TOOLS
GRAFANA_ID = "e2e-grafana-prometheus"  # the entry's Grafana name in grafana-configmap.yaml
SELECTOR = f"app.kubernetes.io/instance={support.RELEASE}"
SERVER_PODS = f"{SELECTOR},app.kubernetes.io/component!=test"  # not `helm test`'s pod


def assert_up_is_1(mcp: Endpoint, token: str, datasource_id: str) -> None:
    values = support.up_values(mcp.url, token, datasource_id)
    assert values == [1], f"up on {datasource_id}: {values}"


def pods(kube: Kube) -> list[str]:
    """proms-mcp's server pods, terminating ones included, as `name:uid:restarts`."""
    listing = json.loads(
        kube.kubectl("get", "pods", "-n", support.NAMESPACE, "-l", SERVER_PODS, "-o", "json")
    )
    return sorted(
        f"{pod['metadata']['name']}:{pod['metadata']['uid']}:"
        + ",".join(str(c["restartCount"]) for c in pod["status"].get("containerStatuses", []))
        for pod in listing["items"]
    )


def through_a_fresh_forward(mcp: Endpoint, check: Callable[[], T]) -> Callable[[], T]:
    """`check`, and on failure drop the port-forward so the next attempt opens a new one
    (after a rollout the old one may still point at a terminating pod)."""

    def attempt() -> T:
        try:
            return check()
        except Exception:
            mcp.forward.stop()
            raise

    return attempt


def test_tools_list_through_the_service_with_the_agent_token_lists_query_instant(
    mcp: Endpoint, agent_token: str
) -> None:
    names = eventually(
        lambda: support.list_tools(mcp.url, agent_token), timeout=60, what="tools/list"
    )
    assert "query_instant" in names
    assert set(names) >= EIGHT_TOOLS, names


def test_a_request_without_a_token_or_with_a_forged_one_gets_401(mcp: Endpoint) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-kubernetes-token"}):
        response = httpx.post(
            mcp.url,
            json=support.INITIALIZE,
            headers={"Accept": "application/json, text/event-stream", **headers},
            timeout=30,
        )
        assert response.status_code == 401, (headers, response.text)
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert "resource_metadata=" in challenge


def test_the_charts_own_helm_test_passes_in_the_cluster(kube: Kube, release: str) -> None:
    # initialize + tools/list from a pod, with a projected token of the chart's ServiceAccount
    kube.helm("test", release, "--namespace", support.NAMESPACE, "--timeout", "3m")


def test_a_datasource_cr_with_a_role_granting_query_answers_up_with_1(
    mcp: Endpoint, agent_token: str, granted_datasource: str
) -> None:
    # RBAC is eventually consistent, denials are cached 10 s, and Prometheus scrapes every 5 s.
    eventually(
        lambda: assert_up_is_1(mcp, agent_token, granted_datasource),
        timeout=90,
        what=f"up == 1 through {granted_datasource}",
    )
    listed = support.visible_datasources(mcp.url, agent_token)[granted_datasource]
    assert listed["source"] == "prometheusdatasource"
    assert listed["labels"] == {"env": "e2e"}


def test_a_second_datasource_the_agent_has_no_rbac_for_is_datasource_not_found(
    kube: Kube, mcp: Endpoint, agent_token: str, granted_datasource: str
) -> None:
    kube.apply("datasource-private.yaml")
    eventually(  # served: so "not found" below is the authorization, not a slow controller
        lambda: kube.served()["datasources"]["monitoring/private"],
        timeout=60,
        what="proms-mcp serving monitoring/private",
    )
    answer = support.call_tool(
        mcp.url,
        agent_token,
        "query_instant",
        {"datasource_id": "monitoring/private", "promql": "up"},
    )
    assert answer.error_code == "datasource_not_found", answer.body
    visible = support.visible_datasources(mcp.url, agent_token)
    assert "monitoring/private" not in visible
    assert granted_datasource in visible


def test_a_grafana_configmap_datasource_appears_for_callers_its_configmap_policy_allows(
    kube: Kube, mcp: Endpoint, agent_token: str, prometheus: str, release: str
) -> None:
    kube.delete("grafana-configmap-grant.yaml")  # a --keep-cluster re-run may still have it
    kube.apply("grafana-configmap.yaml")
    served = eventually(
        lambda: kube.served()["datasources"][GRAFANA_ID],
        timeout=60,
        what=f"proms-mcp serving {GRAFANA_ID}",
    )
    assert served["source"] == "configmap monitoring/grafana-datasources", served

    def hidden() -> None:
        assert GRAFANA_ID not in support.visible_datasources(mcp.url, agent_token)

    # Without `query` on the ConfigMap (CONFIGMAP_DATASOURCE_ACCESS=sar) the agent cannot see
    # it; allows are cached for 60 s, hence the deadline.
    eventually(hidden, timeout=90, what=f"{GRAFANA_ID} hidden from agents/agent")

    kube.apply("grafana-configmap-grant.yaml")
    listed = eventually(
        lambda: support.visible_datasources(mcp.url, agent_token)[GRAFANA_ID],
        timeout=60,
        what=f"{GRAFANA_ID} visible to agents/agent after the grant",
    )
    assert listed["source"] == "configmap"
    eventually(
        lambda: assert_up_is_1(mcp, agent_token, GRAFANA_ID),
        timeout=60,
        what=f"up == 1 through {GRAFANA_ID}",
    )


def test_editing_a_datasource_cr_description_shows_in_list_datasources_without_a_restart(
    kube: Kube, mcp: Endpoint, agent_token: str, granted_datasource: str
) -> None:
    before = pods(kube)
    namespace, name = granted_datasource.split("/")
    description = f"edited by the e2e suite at {time.time_ns()}"
    kube.kubectl(
        "patch",
        "promds",
        name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"description": description}}),
    )

    def shown() -> None:
        listed = support.visible_datasources(mcp.url, agent_token)[granted_datasource]
        assert listed["description"] == description, listed

    eventually(shown, timeout=30, what="the new description in list_datasources")
    assert pods(kube) == before, "proms-mcp restarted instead of reloading"


def test_kubectl_get_promds_shows_ready_true(kube: Kube, granted_datasource: str) -> None:
    namespace, name = granted_datasource.split("/")

    def ready_and_reachable() -> dict[str, str]:
        row = kube.promds(namespace, name, wide=True)
        assert (row["READY"], row["REACHABLE"]) == ("True", "True"), row
        return row

    # Reachable comes from a probe every probeInterval (5 s here).
    row = eventually(ready_and_reachable, timeout=60, what=f"{granted_datasource} Ready/Reachable")
    assert row["URL"] == support.PROMETHEUS_URL
    assert row["TYPE"] == "Prometheus"
    assert row["REASON"] == "Serving"


def test_helm_upgrade_with_a_changed_value_rolls_out_and_keeps_serving(
    kube: Kube, mcp: Endpoint, agent_token: str, granted_datasource: str
) -> None:
    def revision() -> int:
        status = json.loads(
            kube.helm("status", support.RELEASE, "-n", support.NAMESPACE, "-o", "json")
        )
        return int(status["version"])

    before = revision()
    kube.helm(
        "upgrade",
        support.RELEASE,
        str(support.CHART),
        "--namespace",
        support.NAMESPACE,
        "--reuse-values",
        "--set",
        "logLevel=DEBUG",
    )
    kube.rollout(support.NAMESPACE, support.RELEASE)
    assert revision() == before + 1
    level = kube.kubectl(
        "get",
        "deployment",
        support.RELEASE,
        "-n",
        support.NAMESPACE,
        "-o",
        'jsonpath={.spec.template.spec.containers[0].env[?(@.name=="LOG_LEVEL")].value}',
    )
    assert level == "DEBUG"

    def one_pod() -> None:
        assert len(pods(kube)) == 1, pods(kube)

    eventually(one_pod, timeout=90, what="the old pod gone")
    # The new pod lists CRs and ConfigMaps again before it is ready: same answers as before.
    eventually(
        through_a_fresh_forward(mcp, lambda: assert_up_is_1(mcp, agent_token, granted_datasource)),
        timeout=90,
        what=f"up == 1 through {granted_datasource} after the upgrade",
    )


def test_helm_uninstall_removes_the_deployment(
    kube: Kube, release: str, granted_datasource: str
) -> None:
    kube.helm("uninstall", release, "--namespace", support.NAMESPACE, "--wait")

    def gone() -> None:
        found = kube.kubectl(
            "get",
            "deployment",
            release,
            "-n",
            support.NAMESPACE,
            "--ignore-not-found",
            "-o",
            "name",
        )
        assert found.strip() == "", found
        assert pods(kube) == []
        bindings = kube.kubectl("get", "clusterrolebindings", "-l", SELECTOR, "-o", "name")
        assert bindings.strip() == "", bindings

    eventually(gone, timeout=120, what="the release's Deployment, pods and bindings gone")
    # Helm never deletes CRDs from a chart's crds/ directory, so users' datasources survive.
    namespace, name = granted_datasource.split("/")
    assert kube.kubectl("get", "promds", name, "-n", namespace, "-o", "name").strip()
