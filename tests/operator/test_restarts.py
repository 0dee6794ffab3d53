"""Restarts and probes do not rewrite the world: a status changes only when what it says
changed, readiness never waits for status writes, and probes are spread over the interval.

proms-mcp runs in-process against KMock over HTTP (`leases.LeasingEmulator`, which records
every write and can hold status PATCHes) and the real test Prometheus.
"""

from __future__ import annotations

import pathlib
import time
from typing import ClassVar

import httpx
import kmock as kmock_module
import pytest
from proms_operator import admission, customresources, leadership, runtime

from mcp_server.core import settings
from mcp_server.kube import kubeclient
from mcp_server.sources import datasources, registry
from tests.support import harness, kube, leases
from tests.support.prometheus_process import RunningPrometheus

pytestmark = pytest.mark.kmock(cls=leases.LeasingEmulator)


def operator_settings(
    emulator: leases.LeasingEmulator, folder: pathlib.Path, probe_seconds: float
) -> settings.Settings:
    kubeconfig = kube.kubeconfig(folder / "kubeconfig", str(emulator.url))
    return harness.make_settings(
        operator={"kubeconfig": kubeconfig, "probe_interval_seconds": probe_seconds},
        destinations=kube.LOCAL_EGRESS,
        logging={"level": "WARNING"},
    )


def conditions(emulator: leases.LeasingEmulator, name: str) -> dict[str, str]:
    body = dict(emulator.objects[kube.CRS, "team", name])
    found = (body.get("status") or {}).get("conditions") or []
    return {c["type"]: c["status"] for c in found}


def buildinfo_requests(prometheus: RunningPrometheus) -> float:
    """How often the real Prometheus was asked for its buildinfo (what a probe asks)."""
    text = httpx.get(f"{prometheus.url}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and "/status/buildinfo" in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def declared_crs(emulator: leases.LeasingEmulator, url: str, count: int) -> list[str]:
    """`count` CRs in namespace team (ds-00, ds-01, ...), each reading `url`; their names."""
    names = [f"ds-{i:02d}" for i in range(count)]
    for name in names:
        emulator.objects[kube.CRS, "team", name] = kube.datasource("team", name, url=url)
    return names


async def test_a_restart_with_nothing_changed_writes_no_status_and_no_event(
    kmock: leases.LeasingEmulator, tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    kube.declare(kmock)
    names = declared_crs(kmock, prometheus.url, 30)
    config = operator_settings(kmock, tmp_path, probe_seconds=1.0)
    async with harness.serving(config, extensions=[runtime.KubernetesSources(config)]):
        await harness.eventually(
            lambda: all(
                conditions(kmock, n) == {"Ready": "True", "Reachable": "True"} for n in names
            ),
            timeout=20,
        )
    before = len(kmock.writes)
    sources = runtime.KubernetesSources(config)
    probed = buildinfo_requests(prometheus)
    async with harness.serving(config, extensions=[sources]) as application:
        await harness.eventually(lambda: application.readiness.ready)
        # Every CR probed again by the restarted process, and what that changed written:
        await harness.eventually(
            lambda: buildinfo_requests(prometheus) >= probed + len(names), timeout=20
        )
        assert kmock.writes[before:] == []
        await harness.eventually(lambda: sources.crs is not None and sources.crs.writer.idle)
    assert kmock.writes[before:] == []


async def test_readiness_does_not_wait_for_status_writes(
    kmock: leases.LeasingEmulator, tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    kube.declare(kmock)
    names = declared_crs(kmock, prometheus.url, 50)
    kmock.hold_status_writes()
    config = operator_settings(kmock, tmp_path, probe_seconds=3600)
    async with harness.serving(
        config, extensions=[runtime.KubernetesSources(config)]
    ) as application:
        await harness.eventually(lambda: application.readiness.ready, timeout=15)
        assert set(application.registry.current().datasources) == {f"team/{n}" for n in names}
        assert all(conditions(kmock, name) == {} for name in names), "a status was written"
        kmock.release_status_writes()
        await harness.eventually(
            lambda: all(conditions(kmock, n).get("Ready") == "True" for n in names), timeout=20
        )


class _Counting(harness.BuildinfoTarget):
    """A backend that answers buildinfo and notes when each request came."""

    times: ClassVar[list[float]] = []


async def test_a_restart_probes_spread_over_the_interval_not_in_one_burst(
    kmock: leases.LeasingEmulator, tmp_path: pathlib.Path
) -> None:
    kube.declare(kmock)
    count, interval, bins = 80, 4.0, 4
    with harness.http_server(_Counting) as backend:
        names = declared_crs(kmock, backend, count)
        config = operator_settings(kmock, tmp_path, probe_seconds=interval)
        first = runtime.KubernetesSources(config)
        async with harness.serving(config, extensions=[first]):
            await harness.eventually(
                lambda: all(conditions(kmock, n).get("Reachable") == "True" for n in names),
                timeout=30,
            )
            await harness.eventually(lambda: first.crs is not None and first.crs.writer.idle)
        _Counting.times.clear()
        async with harness.serving(
            config, extensions=[runtime.KubernetesSources(config)]
        ) as application:
            await harness.eventually(lambda: application.readiness.ready)
            ready = time.monotonic()
            await harness.eventually(lambda: len(_Counting.times) >= count, timeout=20)
    # The restarted process's first round, which nothing paces (it writes no status):
    round_one = sorted(_Counting.times)[:count]
    width = interval / bins
    counted = [0] * bins
    for moment in round_one:
        counted[min(bins - 1, max(0, int((moment - ready) / width)))] += 1
    assert max(counted) <= 2 * count / bins, counted


async def test_after_a_stall_overdue_probes_are_caught_up_at_twice_the_average_rate(
    kmock: leases.LeasingEmulator, tmp_path: pathlib.Path
) -> None:
    kube.declare(kmock)
    count, interval = 80, 4.0  # 20 probes a second on average; at most 40 a second
    with harness.http_server(_Counting) as backend:
        declared_crs(kmock, backend, count)
        _Counting.times.clear()
        config = operator_settings(kmock, tmp_path, probe_seconds=interval)
        async with harness.serving(
            config, extensions=[runtime.KubernetesSources(config)]
        ) as application:
            await harness.eventually(lambda: application.readiness.ready)
            # One round first, so kopf is up and a stop after the stall is clean:
            await harness.eventually(lambda: len(_Counting.times) >= count, timeout=20)
            time.sleep(interval / 2)  # the stall itself: the loop blocked, half the CRs overdue
            stalled = time.monotonic()
            await harness.eventually(lambda: len(_Counting.times) >= 2 * count, timeout=20)
    after = sorted(t for t in _Counting.times if t >= stalled)
    busiest = max(sum(1 for t in after if start <= t < start + 0.25) for start in after)
    assert busiest <= 20, f"{busiest} probes within 0.25 s after the stall"


def _hand_lease_to(emulator: leases.LeasingEmulator, holder: str) -> None:
    """What another replica taking (or giving up) the Lease leaves in the API."""
    key = ("default", "proms-mcp")
    spec = {**emulator.leases[key]["spec"], "holderIdentity": holder}
    spec["leaseDurationSeconds"] = 3600
    metadata = {**emulator.leases[key]["metadata"], "resourceVersion": f"other-{holder}"}
    emulator.leases[key] = {**emulator.leases[key], "metadata": metadata, "spec": spec}


async def test_a_replica_elected_again_keeps_what_the_other_leader_stored_until_it_probes(
    kmock: leases.LeasingEmulator, tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    kube.declare(kmock)
    config = operator_settings(kmock, tmp_path, probe_seconds=3600).model_copy(
        update={
            "lease": settings.LeaseSettings(
                election=settings.LeaderElection.ON,
                identity="me",
                namespace="default",
                duration_seconds=2,
                renew_deadline_seconds=1.5,
                retry_period_seconds=0.1,
            )
        }
    )
    sources = runtime.KubernetesSources(config)
    async with harness.serving(config, extensions=[sources]) as application:
        await harness.eventually(lambda: application.readiness.ready)
        created = kube.datasource("team", "ds", url=prometheus.url)
        await kube.create(kmock, kube.CRS, created)  # a new CR is probed at once
        await harness.eventually(lambda: conditions(kmock, "ds").get("Reachable") == "True")
        _hand_lease_to(kmock, "other")
        await harness.eventually(lambda: not sources.leadership.leading)
        # The other leader probed and found the backend down (and the spec's label says
        # when this replica has seen that write):
        down = {"type": "Reachable", "status": "False", "reason": "ProbeFailed", "message": "x"}
        stored = dict(kmock.objects[kube.CRS, "team", "ds"]).get("status") or {}
        kept = [c for c in stored.get("conditions", []) if c["type"] != "Reachable"]
        change = {"spec": {"labels": {"seen": "yes"}}, "status": {"conditions": [*kept, down]}}
        await kube.patch(kmock, kube.CRS, "team", "ds", change)

        def seen() -> bool:
            snapshot = application.registry.current()
            served = snapshot.datasources.get(datasources.DatasourceId("team/ds"))
            return served is not None and dict(served.labels).get("seen") == "yes"

        await harness.eventually(seen)
        probed = buildinfo_requests(prometheus)
        _hand_lease_to(kmock, "")
        await harness.eventually(lambda: sources.leadership.leading)
        await harness.eventually(lambda: sources.crs is not None and sources.crs.writer.idle)
        # Its next probe is somewhere in the next hour; only that may say True again.
        if buildinfo_requests(prometheus) == probed:
            assert conditions(kmock, "ds")["Reachable"] == "False"


async def test_a_watched_status_only_change_is_not_reconciled_again(
    kmock: leases.LeasingEmulator, tmp_path: pathlib.Path
) -> None:
    """Every status write of the leader comes back as a watch event: reconciling it would
    read the CR's Secrets again and queue behind it the changes agents are waiting for."""
    kube.declare(kmock)
    await kube.create(kmock, kube.SECRETS, kube.secret("team", "tenant", org="tenant-1"))
    reference = {"secretKeyRef": {"name": "tenant", "key": "org"}}
    header = {"name": "X-Scope-OrgID", "valueFrom": reference}
    body = kube.datasource("team", "ds", url="http://127.0.0.1:9", headers=[header])
    body["metadata"]["generation"] = 1
    api = kubeclient.KubeApi.connect(kube.kubeconfig(tmp_path / "kubeconfig", str(kmock.url)))
    policies = await admission.for_cluster(
        settings.DestinationSettings(egress_allow=("127.0.0.1",)), str(kmock.url)
    )
    crs = customresources.CustomResources(registry.Registry(), api, leadership.Always(), policies)

    def secret_reads() -> int:
        return sum(1 for r in kmock[kmock_module.resource(kube.SECRETS)] if r.method == "GET")

    try:
        await crs.changed(body)
        read = secret_reads()
        assert read >= 1
        written = {**body, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
        await crs.changed(written)
        assert secret_reads() == read
        await crs.changed({**written, "spec": {**body["spec"], "labels": {"team": "a"}}})
        assert secret_reads() > read  # a spec change is
    finally:
        await api.aclose()
