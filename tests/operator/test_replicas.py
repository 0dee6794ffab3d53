"""Replicas: several `proms-mcp` processes (the shipped console script) against one Kubernetes
API, KMock over HTTP with Leases (`leases.LeasingEmulator`), each replica with a token of its
own so the API's record says who wrote what.

Every replica watches and serves; one holds the Lease, and it alone probes and writes
statuses and events. Leases are short here (2 s, renewed every 0.25 s) so a takeover is
quick; the deadlines below are the lease duration plus two retries plus start-up slack.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from bench import kubeapi, soak
from tests.support import harness, kube, leases, peers
from tests.support.prometheus_process import RunningPrometheus

LEASE_SECONDS = 2
RETRY_SECONDS = 0.25
ELECTION = {
    "LEADER_ELECTION": "on",
    "LEASE_DURATION_SECONDS": str(LEASE_SECONDS),
    "LEASE_RENEW_DEADLINE_SECONDS": "1.5",
    "LEASE_RETRY_PERIOD_SECONDS": str(RETRY_SECONDS),
    "PROBE_INTERVAL": "1",
}
TAKEOVER_DEADLINE = LEASE_SECONDS + 2 * RETRY_SECONDS + 5  # + a busy machine's slack


@dataclass(frozen=True)
class Replica:
    name: str
    server: soak.ServerProcess

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def ready(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(
            f"{self.server.health_url}/ready", timeout=5, trust_env=False
        ).json()
        return body

    def leading(self) -> bool:
        return bool(self.ready()["leadership"]["leading"])

    def metrics(self) -> str:
        return httpx.get(f"{self.server.health_url}/metrics", timeout=5, trust_env=False).text


@contextlib.contextmanager
def replicas(
    folder: pathlib.Path, api: kubeapi.KubeApi, count: int, **env: str
) -> Iterator[list[Replica]]:
    with contextlib.ExitStack() as stack:
        started = []
        for index in range(count):
            name = f"replica-{index}"
            own = folder / name
            own.mkdir()
            config = kube.kubeconfig(own / "kubeconfig", api.url, token=name)
            environment = {
                "PROMS_MCP_MODE": "operator",
                "EGRESS_ALLOW": "127.0.0.1",  # the backends and KMock (the API) on loopback
                "KUBECONFIG": str(config),
                "POD_NAME": name,
                "LEASE_NAMESPACE": "default",
                **ELECTION,
                **env,
            }
            server = stack.enter_context(
                soak.server_process(own, None, ready_timeout=120, **environment)
            )
            started.append(Replica(name, server))
        yield started


@contextlib.contextmanager
def led(
    folder: pathlib.Path, bodies: list[dict[str, Any]], count: int
) -> Iterator[tuple[kubeapi.KubeApi, list[Replica], Replica]]:
    """`count` replicas against an API holding `bodies`, once one of them leads: the API,
    the replicas and their leader."""
    with (
        kubeapi.serving(folder, bodies, emulator_class=leases.LeasingEmulator) as api,
        replicas(folder, api, count) as running,
    ):
        harness.poll(lambda: the_leader(running, api) is not None, timeout=TAKEOVER_DEADLINE)
        leader = the_leader(running, api)
        assert leader is not None
        yield api, running, leader


def the_leader(running: list[Replica], api: kubeapi.KubeApi) -> Replica | None:
    """The one replica that says it leads and holds the Lease; never two at once."""
    alive = [r for r in running if r.server.process.poll() is None]
    leading = [r for r in alive if r.leading()]
    assert len(leading) <= 1, f"two leaders at once: {[r.name for r in leading]}"
    holder = api.call(_holder(api))
    return leading[0] if leading and leading[0].name == holder else None


def _holder(api: kubeapi.KubeApi) -> Any:
    emulator = api.emulator
    assert isinstance(emulator, leases.LeasingEmulator)

    async def holder() -> str | None:
        return emulator.holder()

    return holder


def condition(api: kubeapi.KubeApi, name: str, kind: str) -> dict[str, Any]:
    async def found() -> dict[str, Any]:
        body = dict(api.emulator.objects[kube.CRS, "team", name])
        for item in (body.get("status") or {}).get("conditions") or []:
            if item["type"] == kind:
                return dict(item)
        return {}

    return api.call(found)


def test_two_replicas_serve_the_same_datasources_and_only_the_leader_writes(
    tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    names = [f"ds-{i}" for i in range(4)]
    bodies = [kube.datasource("team", name, url=prometheus.url) for name in names]
    with led(tmp_path, bodies, 2) as (api, running, leader):
        harness.poll(
            lambda: all(condition(api, n, "Reachable").get("status") == "True" for n in names),
            timeout=20,
        )
        assert {w.who for w in kubeapi.writes(api)} == {leader.name}
        served = [set(r.ready()["datasources"]) for r in running]
        assert served[0] == served[1] == {f"team/{name}" for name in names}
        for replica in running:
            said = replica.ready()["leadership"]
            assert said["identity"] == replica.name and said["leader"] == leader.name
            gauge = f'proms_mcp_leader{{identity="{replica.name}"}}'
            assert f"{gauge} {1.0 if replica is leader else 0.0}" in replica.metrics()


def test_a_killed_leader_is_replaced_within_the_lease_duration_and_writes_resume(
    tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    bodies = [kube.datasource("team", "first", url=prometheus.url)]
    with led(tmp_path, bodies, 3) as (api, running, killed):
        harness.poll(lambda: condition(api, "first", "Ready").get("status") == "True")
        killed.server.process.kill()
        killed.server.process.wait()

        def another() -> bool:
            found = the_leader(running, api)
            return found is not None and found is not killed

        harness.poll(another, timeout=TAKEOVER_DEADLINE)
        successor = the_leader(running, api)
        assert successor is not None
        api.call(
            lambda: kube.create(
                api.emulator, kube.CRS, kube.datasource("team", "later", url=prometheus.url)
            )
        )
        harness.poll(lambda: condition(api, "later", "Reachable").get("status") == "True")
        later = [w for w in kubeapi.writes(api) if "/later/" in w.path]
        assert later and {w.who for w in later} == {successor.name}


class _Disagreeing(harness.Handler):
    """A backend that answers buildinfo to replica-0 and 503 to the others (told apart by
    the POD_NAME of the process at the other end), and counts who asked."""

    asked: ClassVar[dict[str | None, int]] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:
        pid = peers.owner(self.client_address[1])
        name = peers.environment(pid, "POD_NAME") if pid is not None else None
        with self.lock:
            self.asked[name] = self.asked.get(name, 0) + 1
        if name == "replica-0":
            data = {"status": "success", "data": {"version": "2.42.0"}}
            body, status = json.dumps(data).encode(), 200
        else:
            body, status = b'{"status":"error","error":"down for this one"}', 503
        self.reply(body, status=status)


def test_two_replicas_that_disagree_about_a_backend_do_not_flap_its_status(
    tmp_path: pathlib.Path,
) -> None:
    with (
        harness.http_server(_Disagreeing) as backend,
        led(tmp_path, [kube.datasource("team", "split", url=backend)], 2) as (api, running, leader),
    ):
        expected = "True" if leader is running[0] else "False"
        harness.poll(lambda: condition(api, "split", "Reachable").get("status") == expected)
        probes = _Disagreeing.asked.get(leader.name, 0)
        harness.poll(lambda: _Disagreeing.asked.get(leader.name, 0) >= probes + 4, timeout=20)
        assert condition(api, "split", "Reachable")["status"] == expected
        follower = next(r for r in running if r is not leader)
        assert _Disagreeing.asked.get(follower.name, 0) == 0, "a follower probed"
        patches = [w for w in kubeapi.writes(api) if w.path.endswith("/split/status")]
        assert len(patches) <= 2, "\n".join(json.dumps(w.body) for w in patches)


def test_a_leader_stopped_with_sigterm_gives_the_lease_up(
    tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    bodies = [kube.datasource("team", "first", url=prometheus.url)]
    with led(tmp_path, bodies, 2) as (api, running, stopped):
        stopped.server.process.terminate()
        assert stopped.server.process.wait(timeout=20) == 0
        emulator = api.emulator
        assert isinstance(emulator, leases.LeasingEmulator)
        last = api.call(lambda: _last_lease_write(emulator, stopped.name))
        assert last["spec"]["holderIdentity"] == "", "the Lease was not given up"
        harness.poll(lambda: the_leader(running, api) not in (None, stopped))


async def _last_lease_write(emulator: leases.LeasingEmulator, who: str) -> dict[str, Any]:
    written = [w.body for w in emulator.writes if w.who == who and "/leases" in w.path]
    return dict(written[-1])
