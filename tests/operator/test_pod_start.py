"""In a pod, a Kubernetes API that does not answer at start-up is waited for: the server
serves /health, reports not ready with the API's address and the cause, and retries.
Outside a pod the same start is one line and exit 2 (tests/app/test_cli.py)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import httpx
import pytest
import trustme
from proms_operator import runtime

from mcp_server.kube import kubeclient, kubeconfig
from tests.support import harness, kube, prometheus_process


@pytest.fixture
def in_a_pod(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A service account as the kubelet mounts it, and the API's Service address pointing
    at a port that refuses connections; yields that address."""
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("token-of-the-pod")
    (account / "namespace").write_text("monitoring")
    trustme.CA().cert_pem.write_to_path(str(account / "ca.crt"))
    monkeypatch.setattr(kubeconfig, "SERVICE_ACCOUNT", account)
    with prometheus_process.closed_port() as port:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(port))
        yield f"https://127.0.0.1:{port}"


@pytest.mark.parametrize("auth_mode", ["none", "active"])
async def test_a_pod_whose_api_does_not_answer_is_not_ready_saying_where_and_why(
    in_a_pod: str, auth_mode: str
) -> None:
    config = harness.make_settings(
        operator={"probe_interval_seconds": 60}, auth={"mode": auth_mode, "mode_explicit": True}
    )
    async with (
        harness.serving(config, extensions=[runtime.KubernetesSources(config)]) as application,
        httpx.AsyncClient(trust_env=False) as http,
    ):
        health = f"http://127.0.0.1:{config.server.health_metrics_port}"
        assert (await http.get(f"{health}/health")).status_code == 200
        ready = await http.get(f"{health}/ready")
        assert ready.status_code == 503 and not application.readiness.ready
        where = f"cannot reach the Kubernetes API at {in_a_pod}"
        assert where in ready.text and "connection refused" in ready.text


async def test_waiting_for_the_api_reports_each_failure_and_returns_once_it_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    api = kubeclient.KubeApi.connect(kube.kubeconfig(tmp_path / "kc", "http://127.0.0.1:9"))
    answers = iter([kubeclient.ApiError(0, "down 1"), kubeclient.ApiError(0, "down 2"), None])

    async def check() -> None:
        failure = next(answers)
        if failure is not None:
            raise failure

    monkeypatch.setattr(api, "check_reachable", check)
    reports: list[str] = []
    try:
        await api.wait_reachable(reports.append, retry_seconds=0)
    finally:
        await api.aclose()
    assert reports == ["down 1", "down 2"]
