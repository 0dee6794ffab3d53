"""A Kubernetes API for benchmarks: KMock served over HTTP from a thread of its own.

proms-mcp runs as its own process and reaches it through a kubeconfig, as it would reach an
API server. KMock lives in a thread with its own event loop, so the benchmark's blocking
waits and its load generator never stall the API, and trims its request log every second
(KMock checks every request against all earlier ones; a benchmark needs no history).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import kmock

from tests.support import kube, leases

T = TypeVar("T")


@dataclass(frozen=True)
class KubeApi:
    url: str
    kubeconfig: pathlib.Path
    emulator: kmock.KubernetesEmulator
    loop: asyncio.AbstractEventLoop

    def call(self, work: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
        """Run `work` in the API's event loop and wait for its result."""

        async def run() -> T:
            return await work()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def count(
        self, keys: Iterable[tuple[str, str]], predicate: Callable[[dict[str, Any]], bool]
    ) -> int:
        """How many of the PrometheusDatasources (namespace, name) satisfy `predicate`."""

        async def counted() -> int:
            objects = self.emulator.objects
            return sum(1 for ns, name in keys if predicate(dict(objects[kube.CRS, ns, name])))

        return self.call(counted)


@contextlib.contextmanager
def serving(
    folder: pathlib.Path,
    datasources: Iterable[dict[str, Any]],
    *,
    configmaps: Iterable[dict[str, Any]] = (),
    emulator_class: type[kmock.KubernetesEmulator] = kmock.KubernetesEmulator,
    keep_requests: bool = False,
) -> Iterator[KubeApi]:
    """KMock (an `emulator_class`) holding `datasources` (PrometheusDatasource bodies) and
    `configmaps`, and a kubeconfig for it; `keep_requests` keeps its request log whole, for a
    short run that reads it."""
    started = threading.Event()
    stop: list[asyncio.Event] = []
    found: list[KubeApi] = []
    failure: list[BaseException] = []

    async def main() -> None:
        async with emulator_class() as emulator, kmock.Server(emulator):
            kube.declare(emulator)
            for resource, bodies in ((kube.CRS, datasources), (kube.CONFIGMAPS, configmaps)):
                for body in bodies:
                    metadata = body["metadata"]
                    emulator.objects[resource, metadata["namespace"], metadata["name"]] = body
            url = str(emulator.url).rstrip("/")
            kubeconfig = kube.kubeconfig(folder / "kubeconfig", url)
            found.append(KubeApi(url, kubeconfig, emulator, asyncio.get_running_loop()))
            stop.append(asyncio.Event())
            started.set()
            while not stop[0].is_set():
                if not keep_requests:
                    del emulator._requests[:]  # private, bench only: see the module docstring
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop[0].wait(), 1.0)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, name="kmock-api", daemon=True)
    thread.start()
    started.wait(60)
    if failure or not found:
        raise RuntimeError(f"the KMock API did not start: {failure}")
    api = found[0]
    try:
        yield api
    finally:
        api.loop.call_soon_threadsafe(stop[0].set)
        thread.join(30)


NAMESPACE = "bench"


def datasource_bodies(url: str, count: int) -> list[dict[str, Any]]:
    """`count` PrometheusDatasources ds-0000... in namespace `bench`, all on `url`."""
    return [kube.datasource(NAMESPACE, f"ds-{i:04d}", url=url) for i in range(count)]


def configmap_bodies(url: str, count: int) -> list[dict[str, Any]]:
    """`count` Grafana provisioning ConfigMaps, one datasource (cm-0000...) each, on `url`."""
    bodies = []
    for i in range(count):
        document = {
            "apiVersion": 1,
            "datasources": [{"name": f"cm-{i:04d}", "type": "prometheus", "url": url}],
        }
        data = {"datasources.yaml": json.dumps(document)}
        bodies.append(
            kube.configmap(NAMESPACE, f"grafana-{i:04d}", data, {"grafana_datasource": "1"})
        )
    return bodies


def writes(api: KubeApi) -> list[leases.Write]:
    """Every write the emulator (a `leases.LeasingEmulator`) saw but the Lease's own, in order."""
    emulator = api.emulator
    assert isinstance(emulator, leases.LeasingEmulator)

    async def copied() -> list[leases.Write]:
        return [w for w in emulator.writes if "/leases" not in w.path]

    return api.call(copied)


def operator_environment(api: KubeApi, pod: str = "bench-0") -> dict[str, str]:
    """`proms-mcp` in operator mode against `api` as the chart runs it: a Lease, a pod
    name, loopback allowed (Prometheus and KMock, the API server, listen there)."""
    return {
        "PROMS_MCP_MODE": "operator",
        "EGRESS_ALLOW": "127.0.0.1",
        "KUBECONFIG": str(api.kubeconfig),
        "LEADER_ELECTION": "on",
        "POD_NAME": pod,
        "LEASE_NAMESPACE": NAMESPACE,
    }
