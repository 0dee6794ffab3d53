"""Kubernetes API faults: the registry converges on the API's truth after each of them.

kopf watches KMock (with switchable faults, `kube.FaultyEmulator`) inside proms-mcp, and the
tests look through what agents and operators see: MCP `list_datasources`, `/ready` and
`/metrics`. The bound on serving a deleted datasource is the runtime's resync interval:
kopf's own relisting (after a 410, after an outage) reports what exists, never what was
deleted meanwhile, so `runtime.KubernetesSources` lists again every `resync_seconds`
(60 s by default, 1 s here) and drops what is gone. When kopf gives up on its watches, the
runtime's supervisor lists again and restarts them.

KMock serves each new watch stream with the objects that exist now and no history; so
"deleted while no stream was open" is modelled by changing the emulator's store directly
right after the streams are dropped, which nobody is told about.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import kmock
import pytest
from proms_operator import runtime

from bench import soak
from mcp_server.app import assembly
from mcp_server.protocol import mounting
from tests.support import harness, kube
from tests.support.prometheus_process import RunningPrometheus

pytestmark = pytest.mark.kmock(cls=kube.FaultyEmulator)

RESYNC_SECONDS = 1.0
PROBE_SECONDS = 1.0
PLURALS = (kube.PLURAL, "configmaps")  # no Secret is ever watched


@dataclass
class Running:
    application: assembly.Application
    emulator: kube.FaultyEmulator
    http: httpx.AsyncClient

    @property
    def ids(self) -> set[str]:
        return set(self.application.registry.current().datasources)

    @property
    def kubernetes(self) -> dict[str, Any]:
        state = self.application.readiness.sources()[runtime.READINESS_NAME]
        return {"last_error": state.last_error, "last_success": state.last_success}

    async def listed(self) -> set[str]:
        """The ids an agent gets from list_datasources."""
        url = f"http://127.0.0.1:{self.application.settings.server.port}{mounting.MCP_PATH}"
        answer = await soak.call_tool(self.http, url, 1, "list_datasources", {})
        return {d["id"] for d in answer["result"]["structuredContent"]["datasources"]}

    async def ready(self) -> httpx.Response:
        return await self.http.get(f"{self._operations}/ready")

    async def datasources_metric(self) -> float:
        text = (await self.http.get(f"{self._operations}/metrics")).text
        line = next(x for x in text.splitlines() if x.startswith("proms_mcp_datasources "))
        return float(line.split()[1])

    @property
    def _operations(self) -> str:
        return f"http://127.0.0.1:{self.application.settings.server.health_metrics_port}"

    def watches_open(self) -> bool:
        return all(self.emulator.open_watches(plural) == 1 for plural in PLURALS)

    def requests(self, action: str, agent: str, resource: str = kube.CRS) -> int:
        return sum(
            1
            for request in self.emulator[kmock.resource(resource)]
            if request.action == kmock.action(action.upper())
            and agent in request.headers.get("User-Agent", "")
        )


@pytest.fixture
def emulator(kmock: kube.FaultyEmulator) -> kube.FaultyEmulator:
    kube.declare(kmock)
    return kmock


async def start(
    emulator: kube.FaultyEmulator,
    tmp_path: pathlib.Path,
    url: str,
    resync_seconds: float,
    probe_seconds: float = 60.0,
) -> AsyncIterator[Running]:
    emulator.objects[kube.CRS, "team-a", "early"] = kube.datasource("team-a", "early", url=url)
    kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig", str(emulator.url))
    config = harness.make_settings(
        operator={"kubeconfig": kubeconfig, "probe_interval_seconds": probe_seconds},
        destinations=kube.LOCAL_EGRESS,
    )
    sources = runtime.KubernetesSources(config, resync_seconds=resync_seconds)
    async with (
        harness.serving(config, extensions=[sources]) as application,
        httpx.AsyncClient(trust_env=False) as http,
    ):
        running = Running(application, emulator, http)
        await harness.eventually(lambda: application.readiness.ready and running.watches_open())
        assert running.ids == {"team-a/early"}
        yield running


@pytest.fixture
async def app(
    emulator: kube.FaultyEmulator, tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> AsyncIterator[Running]:
    async for running in start(emulator, tmp_path, prometheus.url, RESYNC_SECONDS):
        yield running


@pytest.fixture
async def app_without_resync(
    emulator: kube.FaultyEmulator, tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> AsyncIterator[Running]:
    """Only the supervisor can make it converge within a test's time."""
    async for running in start(emulator, tmp_path, prometheus.url, 3600):
        yield running


@pytest.fixture
async def app_probing(
    emulator: kube.FaultyEmulator, tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> AsyncIterator[Running]:
    """Probes every second, and no resync within a test's time."""
    async for running in start(emulator, tmp_path, prometheus.url, 3600, PROBE_SECONDS):
        yield running


def change_unannounced(emulator: kube.FaultyEmulator, url: str) -> float:
    """Create team-b/new and delete team-a/early without telling any watch stream; returns
    when (monotonic) the deletion happened."""
    emulator.objects[kube.CRS, "team-b", "new"] = kube.datasource("team-b", "new", url=url)
    del emulator.objects[kube.CRS, "team-a", "early"]
    return time.monotonic()


async def converged(running: Running, *, timeout: float) -> float:
    """Waits until team-b/new is served and team-a/early is not, seen by agents too;
    returns when (monotonic) the registry got there."""
    await harness.eventually(lambda: running.ids == {"team-b/new"}, timeout=timeout)
    at = time.monotonic()
    assert await running.listed() == {"team-b/new"}
    assert await running.datasources_metric() == 1
    return at


async def test_a_watch_stream_closed_by_the_server_resumes_and_deletions_go_within_the_resync(
    app: Running, prometheus: RunningPrometheus
) -> None:
    watches_before = app.requests("watch", "kopf")
    assert app.emulator.drop_watches() == len(PLURALS)
    deleted_at = change_unannounced(app.emulator, prometheus.url)

    gone_at = await converged(app, timeout=RESYNC_SECONDS + 10)
    assert app.requests("watch", "kopf") > watches_before  # kopf resumed its watch
    await harness.eventually(app.watches_open)
    # A deletion no watch reported is served for at most one resync interval (+ a listing):
    print(f"deleted datasource served {gone_at - deleted_at:.2f} s (resync {RESYNC_SECONDS} s)")
    assert gone_at - deleted_at < RESYNC_SECONDS + 2.0, gone_at - deleted_at


async def test_a_410_gone_in_the_watch_stream_makes_kopf_list_again_and_nothing_is_missed(
    app: Running, prometheus: RunningPrometheus
) -> None:
    lists_before = app.requests("list", "kopf")
    assert app.emulator.drop_watches(error=410, plural=kube.PLURAL) == 1
    deleted_at = change_unannounced(app.emulator, prometheus.url)

    gone_at = await converged(app, timeout=RESYNC_SECONDS + 10)
    assert app.requests("list", "kopf") > lists_before  # kopf relisted after the 410
    print(f"deleted datasource served {gone_at - deleted_at:.2f} s (resync {RESYNC_SECONDS} s)")
    assert gone_at - deleted_at < RESYNC_SECONDS + 2.0, gone_at - deleted_at
    await harness.eventually(app.watches_open)  # the watch is back, and only one of it


async def test_a_deleted_secret_revokes_its_datasource_within_the_probe_interval(
    app_probing: Running, prometheus: RunningPrometheus
) -> None:
    """No Secret is watched (docs/security.md), so nothing announces a deletion, and the CR
    watch has nothing to report either. Each probe reconciles the CR, reading its Secret
    again by name."""
    app = app_probing
    emulator = app.emulator
    await kube.create(emulator, kube.SECRETS, kube.secret("team-s", "token", t="s3cr3t"))
    reference = {"secretKeyRef": {"name": "token", "key": "t"}}
    body = kube.datasource("team-s", "guarded", url=prometheus.url, auth={"bearerToken": reference})
    await kube.create(emulator, kube.CRS, body)
    await harness.eventually(lambda: "team-s/guarded" in app.ids)
    # Settled: the CR's own status write comes back as an event and is reconciled (a second
    # read of the Secret); a deletion before that would be noticed by that reconcile.
    await harness.eventually(lambda: app.requests("fetch", "proms-mcp", kube.SECRETS) >= 2)

    del emulator.objects[kube.SECRETS, "team-s", "token"]
    deleted_at = time.monotonic()
    await harness.eventually(lambda: "team-s/guarded" not in app.ids, timeout=PROBE_SECONDS + 10)
    revoked_after = time.monotonic() - deleted_at
    assert revoked_after < PROBE_SECONDS + 2.0, revoked_after
    assert "team-s/guarded" not in await app.listed()
    assert app.requests("list", "", kube.SECRETS) == app.requests("watch", "", kube.SECRETS) == 0


@pytest.mark.parametrize("outage", ["unavailable", "reset"])
async def test_changes_made_while_the_api_is_down_apply_after_it_recovers(
    app: Running, prometheus: RunningPrometheus, outage: str
) -> None:
    app.emulator.outage = outage
    app.emulator.drop_watches()
    await harness.eventually(lambda: app.emulator.open_watches() == 0)
    # The API still takes writes from others; proms-mcp and kopf cannot reach it.
    await kube.create(app.emulator, kube.CRS, kube.datasource("team-b", "new", url=prometheus.url))
    await kube.delete(app.emulator, kube.CRS, "team-a", "early")

    # Meanwhile agents are served the last known datasources; /ready stays 200 and says why
    # the Kubernetes source is stale.
    await harness.eventually(
        lambda: "resync failed" in str(app.kubernetes["last_error"]),
        timeout=RESYNC_SECONDS + 5,
    )
    assert app.ids == {"team-a/early"}
    assert await app.listed() == {"team-a/early"}
    ready = await app.ready()
    assert ready.status_code == 200
    assert "resync failed" in ready.json()["sources"][runtime.READINESS_NAME]["last_error"]

    app.emulator.outage = None
    # kopf retries its watches with backoff (1, 1, 2, 3, 5 ... s): well within 20 s here.
    await converged(app, timeout=20)
    await harness.eventually(lambda: app.kubernetes["last_error"] is None, timeout=5)
    await harness.eventually(app.watches_open)
    ready = await app.ready()
    assert ready.status_code == 200
    assert ready.json()["sources"][runtime.READINESS_NAME]["last_error"] is None


@pytest.mark.parametrize("fault", ["error-event-in-the-stream", "http-410-on-the-watch-request"])
async def test_when_kopf_gives_up_its_watches_the_supervisor_lists_again_and_restarts_them(
    app_without_resync: Running, prometheus: RunningPrometheus, fault: str
) -> None:
    app = app_without_resync
    watches_before = app.requests("watch", "kopf")
    if fault == "error-event-in-the-stream":  # e.g. etcd failing under the API server
        assert app.emulator.drop_watches(error=500, plural=kube.PLURAL) == 1
    else:  # the API server answers the reconnect itself with 410 Gone
        app.emulator.refuse_watches(410)
        assert app.emulator.drop_watches(plural=kube.PLURAL) == 1
    change_unannounced(app.emulator, prometheus.url)

    await harness.eventually(
        lambda: "the watches failed" in str(app.kubernetes["last_error"]), timeout=10
    )
    await converged(app, timeout=10)  # the supervisor's relisting, not the hourly resync
    await harness.eventually(lambda: app.kubernetes["last_error"] is None)
    # Restarted, and exactly one stream per kind: kopf's orphaned watchers were stopped.
    await harness.eventually(app.watches_open)
    assert app.requests("watch", "kopf") > watches_before
    for plural in PLURALS:
        assert app.emulator.open_watches(plural) == 1, plural

    # The restarted watches work: a later change arrives as an event.
    await kube.create(
        app.emulator, kube.CRS, kube.datasource("team-c", "later", url=prometheus.url)
    )
    await harness.eventually(lambda: "team-c/later" in app.ids)


async def test_a_resync_does_not_drop_an_object_created_while_it_lists(
    app: Running, prometheus: RunningPrometheus
) -> None:
    served: list[bool] = []  # racer's presence in every registry snapshot published
    app.application.registry.subscribe(
        lambda snapshot: served.append("team-r/racer" in snapshot.datasources)
    )
    app.emulator.hold_lists()  # the next resync takes its list, then waits
    await harness.eventually(lambda: app.emulator.held_lists > 0, timeout=RESYNC_SECONDS + 5)
    await kube.create(
        app.emulator, kube.CRS, kube.datasource("team-r", "racer", url=prometheus.url)
    )
    await harness.eventually(lambda: "team-r/racer" in app.ids)  # kopf's event, in between
    released_at = time.time()
    app.emulator.release_lists()

    await harness.eventually(
        lambda: (app.kubernetes["last_success"] or 0) > released_at, timeout=RESYNC_SECONDS + 5
    )
    # The listing was older than the event: the resync must not have dropped it, not even
    # for a moment (a later status event would bring it back and hide the loss).
    assert served[served.index(True) :] == [True] * len(served[served.index(True) :])
    assert "team-r/racer" in await app.listed()
