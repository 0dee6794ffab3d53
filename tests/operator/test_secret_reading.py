"""The operator reads only the Secrets datasources reference, by name (docs/security.md).

The real `proms-mcp` runs as its own process against KMock served over HTTP, watching one
namespace that holds, besides the Secret a CR references, 2,000 unrelated Secrets of 200 KB
each (a cluster's Helm release history looks like this). Its peak RSS (VmHWM) is compared
with a run without them, and KMock's request log shows what was asked for.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Any

import kmock
import pytest

from bench import kubeapi, soak
from tests.support import harness, kube
from tests.support.prometheus_process import RunningPrometheus

NAMESPACE = "team-s"
UNRELATED = 2000
SECRET_BYTES = 200 * 1024
PEAK_GROWTH_LIMIT_MIB = 20.0


@dataclass(frozen=True)
class Run:
    peak_rss_mib: float
    secret_requests: dict[str, int]  # action -> count, of everyone but the test itself


def _unrelated_secrets(emulator: kmock.KubernetesEmulator, count: int) -> None:
    """`count` Secrets of SECRET_BYTES each, sharing one value object in this process (the
    API serialises each in full; the test's own memory stays small)."""
    value = "QUJD" * (SECRET_BYTES // 4)  # base64 text, as the API stores Secret data
    for index in range(count):
        name = f"sh.helm.release.v1.app-{index}.v1"
        body = kube.secret(NAMESPACE, name)
        body["data"] = {"release": value}
        body["type"] = "helm.sh/release.v1"
        emulator.objects[kube.SECRETS, NAMESPACE, name] = body


def _actions(emulator: kmock.KubernetesEmulator, resource: str) -> dict[str, int]:
    """How often each action was asked of `resource` by proms-mcp or its kopf (not the
    test itself, whose client names neither)."""
    counts: dict[str, int] = {}
    for request in emulator[kmock.resource(resource)]:
        agent = request.headers.get("User-Agent", "")
        if "proms-mcp" in agent or "kopf" in agent:
            action = str(request.action.value if request.action else "other").lower()
            counts[action] = counts.get(action, 0) + 1
    return counts


def _kopf_watches_settled(emulator: kmock.KubernetesEmulator) -> bool:
    """Every resource that was listed is watched too: kopf watches only after it has read
    and parsed the listing (of Secrets, were there one), so its memory is in VmHWM."""
    for resource in (kube.CRS, kube.CONFIGMAPS, kube.SECRETS):
        actions = _actions(emulator, resource)
        if "list" in actions and "watch" not in actions:
            return False
    return all("watch" in _actions(emulator, r) for r in (kube.CRS, kube.CONFIGMAPS))


async def _populate(emulator: kmock.KubernetesEmulator, unrelated: int) -> None:
    token = kube.secret(NAMESPACE, "token", t="s3cr3t")
    emulator.objects[kube.SECRETS, NAMESPACE, "token"] = token
    _unrelated_secrets(emulator, unrelated)


async def _settled(emulator: kmock.KubernetesEmulator) -> bool:
    return _kopf_watches_settled(emulator)


async def _secret_actions(emulator: kmock.KubernetesEmulator) -> dict[str, int]:
    return _actions(emulator, kube.SECRETS)


def _ready(cr: dict[str, Any]) -> bool:
    conditions = (cr.get("status") or {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _run(folder: pathlib.Path, prometheus_url: str, unrelated: int) -> Run:
    """Start proms-mcp against the API, wait until the CR is served and kopf's watches are
    up, and read its peak RSS and the Secret requests."""
    auth = {"bearerToken": {"secretKeyRef": {"name": "token", "key": "t"}}}
    body = kube.datasource(NAMESPACE, "guarded", url=prometheus_url, auth=auth)
    folder.mkdir()
    with kubeapi.serving(folder, [body], keep_requests=True) as api:
        api.call(lambda: _populate(api.emulator, unrelated))
        with soak.server_process(
            folder,
            None,
            PROMS_MCP_MODE="operator",
            KUBECONFIG=str(api.kubeconfig),
            WATCH_NAMESPACES=NAMESPACE,
            EGRESS_ALLOW="127.0.0.1",  # the Prometheus and KMock (the API server) on loopback
        ) as server:
            harness.poll(lambda: api.count([(NAMESPACE, "guarded")], _ready) == 1, timeout=60)
            harness.poll(lambda: api.call(lambda: _settled(api.emulator)), timeout=120)
            peak = soak.rss_mb(server.process.pid, "VmHWM")
            return Run(peak, api.call(lambda: _secret_actions(api.emulator)))


@pytest.mark.timeout(300)
def test_thousands_of_unrelated_secrets_are_never_listed_nor_held_in_memory(
    tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    baseline = _run(tmp_path / "baseline", prometheus.url, 0)
    loaded = _run(tmp_path / "loaded", prometheus.url, UNRELATED)
    growth = loaded.peak_rss_mib - baseline.peak_rss_mib
    print(
        f"peak RSS {baseline.peak_rss_mib:.1f} MiB without, {loaded.peak_rss_mib:.1f} MiB with "
        f"{UNRELATED} Secrets of {SECRET_BYTES // 1024} KB (+{growth:.1f} MiB); "
        f"Secret requests: {loaded.secret_requests}"
    )
    assert "list" not in loaded.secret_requests and "watch" not in loaded.secret_requests
    assert loaded.secret_requests.get("fetch", 0) >= 1  # the referenced one, by name
    assert growth < PEAK_GROWTH_LIMIT_MIB, growth


async def test_a_secret_that_cannot_be_read_takes_its_datasource_out_like_a_missing_one(
    kmock: kmock.KubernetesEmulator, tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    """Read by name with `get` only: where the role does not reach, the API says 403."""
    kube.declare(kmock)
    forbidden = {"kind": "Status", "code": 403, "message": 'secrets "locked" is forbidden'}
    kmock["get", kube.path(kube.SECRETS, NAMESPACE, "locked")] << 403 << forbidden
    kmock.objects[kube.SECRETS, NAMESPACE, "locked"] = kube.secret(NAMESPACE, "locked", t="x")
    auth = {"bearerToken": {"secretKeyRef": {"name": "locked", "key": "t"}}}
    kmock.objects[kube.CRS, NAMESPACE, "locked"] = kube.datasource(
        NAMESPACE, "locked", url=prometheus.url, auth=auth
    )
    config = harness.make_settings(
        operator={"kubeconfig": kube.kubeconfig(tmp_path / "kubeconfig", str(kmock.url))},
        destinations=kube.LOCAL_EGRESS,
    )

    def ready() -> dict[str, Any]:
        status = dict(kmock.objects[kube.CRS, NAMESPACE, "locked"]).get("status") or {}
        return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})

    async with kube.operator_serving(config) as app:
        await harness.eventually(lambda: ready().get("reason") == "SecretForbidden")
        assert ready()["status"] == "False" and "grant" in ready()["message"]
        assert f"{NAMESPACE}/locked" not in app.registry.current().datasources
        assert f"{NAMESPACE}/locked" in app.registry.current().unavailable
        await harness.eventually(
            lambda: any(
                r.data.get("reason") == "SecretForbidden" for r in kube.writes(kmock, kube.EVENTS)
            )
        )
