"""`python -m bench.rolling`: a rolling restart under load fails no call.

Configuration: two `proms-mcp serve` processes (the shipped console script, operator mode
with LEADER_ELECTION=on and SHUTDOWN_DELAY_SECONDS=3 as the chart runs them, LOG_LEVEL=
WARNING) on KMock over HTTP holding 10 PrometheusDatasources on the test Prometheus, behind a
loopback round-robin HTTP proxy that does what a Service and an ingress do: it sends each
request to the next replica whose /ready answers 200 (checked every 0.1 s), on a new upstream
connection. 32 clients call `query_instant` back to back through it (raw HTTP, keep-alive to
the proxy) while each replica in turn gets SIGTERM, exits, and is started again; the next is
restarted once its successor is ready and in rotation.

Reports calls, failed calls and calls/s over the whole run. Writes bench/results/rolling.md
and rolling.json. `tests/app/test_rolling.py` runs the same with fewer clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import pathlib
import random
import tempfile
import threading
import time
from typing import Any

import aiohttp
import aiohttp.web

import bench
from bench import kubeapi, rawhttp, soak
from tests.support import harness, leases, prometheus_process

DELAY_SECONDS = 3
READY_POLL_SECONDS = 0.1
_HEADERS = {"Content-Type": "application/json", **soak.MCP_HEADERS}


class Proxy:
    """Round-robin over the replicas whose /ready says 200; one upstream connection each."""

    def __init__(self) -> None:
        self.replicas: list[soak.ServerProcess | None] = []
        self.ready: list[soak.ServerProcess] = []
        self._turn = itertools.count()
        self.port = harness.free_port()

    async def serve(self, stop: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def forward(request: aiohttp.web.Request) -> aiohttp.web.Response:
                return await self._forward(session, request)

            app = aiohttp.web.Application()
            app.router.add_post("/mcp/", forward)
            runner = aiohttp.web.AppRunner(app, access_log=None)
            await runner.setup()
            await aiohttp.web.TCPSite(runner, "127.0.0.1", self.port).start()
            watch = asyncio.create_task(self._watch(session, stop))
            await stop.wait()
            await watch
            await runner.cleanup()

    async def _watch(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            ready = []
            for replica in list(self.replicas):
                if replica is None:
                    continue
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    url = f"{replica.health_url}/ready"
                    async with session.get(url, timeout=aiohttp.ClientTimeout(1)) as answer:
                        if answer.status == 200:
                            ready.append(replica)
            self.ready = ready
            await asyncio.sleep(READY_POLL_SECONDS)

    async def _forward(
        self, session: aiohttp.ClientSession, request: aiohttp.web.Request
    ) -> aiohttp.web.Response:
        ready = self.ready
        if not ready:
            return aiohttp.web.Response(status=503, text="no replica is ready")
        replica = ready[next(self._turn) % len(ready)]
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        try:
            async with session.post(replica.mcp_url, data=body, headers=headers) as upstream:
                content = await upstream.read()
                kind = upstream.headers.get("Content-Type", "application/json")
                status = upstream.status
        except (aiohttp.ClientError, OSError) as exc:  # what a client would see: a failed call
            return aiohttp.web.Response(status=502, text=f"upstream failed: {exc}")
        return aiohttp.web.Response(status=status, body=content, headers={"Content-Type": kind})


async def _load(url: str, clients: int, stop: asyncio.Event) -> dict[str, Any]:
    counts: dict[str, Any] = {"calls": 0, "failed": 0, "errors": []}
    serial = itertools.count()

    async def client() -> None:
        connection = rawhttp.Connection(url)
        try:
            while not stop.is_set():
                number = next(serial)
                name = f"ds-{random.randrange(10):04d}"
                arguments = {
                    "datasource_id": f"{kubeapi.NAMESPACE}/{name}",
                    "promql": f"vector({number})",
                }
                params = {"name": "query_instant", "arguments": arguments}
                request = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params}
                counts["calls"] += 1
                try:
                    response = await connection.post(
                        "/mcp/", json.dumps(request).encode(), _HEADERS
                    )
                    answer = response.json()
                    if not isinstance(answer, dict) or answer["result"].get("isError"):
                        raise RuntimeError(response.body[:200].decode())
                except (rawhttp.HttpError, OSError, RuntimeError, KeyError, ValueError) as exc:
                    counts["failed"] += 1
                    counts["errors"].append(str(exc)[:200])
                    await connection.aclose()
        finally:
            await connection.aclose()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    counts["calls_per_s"] = counts["calls"] / (time.perf_counter() - started)
    counts["errors"] = counts["errors"][:10]
    return counts


def _environment(api: kubeapi.KubeApi, name: str) -> dict[str, str]:
    return {
        "PROMS_MCP_MODE": "operator",
        "EGRESS_ALLOW": "127.0.0.1",
        "KUBECONFIG": str(api.kubeconfig),
        "LEADER_ELECTION": "on",
        "POD_NAME": name,
        "LEASE_NAMESPACE": kubeapi.NAMESPACE,
        "SHUTDOWN_DELAY_SECONDS": str(DELAY_SECONDS),
    }


def _roll(
    folder: pathlib.Path,
    api: kubeapi.KubeApi,
    proxy: Proxy,
    settle: float,
    rolled: threading.Event,
    release: threading.Event,
) -> list[str]:
    """Start two replicas, restart each in turn, say so (`rolled`), and keep them serving
    until `release` (blocking: run it in a thread)."""
    steps = []
    with contextlib.ExitStack() as everything:
        stacks = []
        for slot in range(2):
            stack = everything.enter_context(contextlib.ExitStack())
            replica = _start(stack, folder / f"replica-{slot}-0", api, f"replica-{slot}-0")
            proxy.replicas.append(replica)
            stacks.append(stack)
        harness.poll(lambda: len(proxy.ready) == 2, timeout=60)
        time.sleep(settle)
        for slot in range(2):
            replaced = proxy.replicas[slot]
            assert replaced is not None
            replaced.process.terminate()
            replaced.process.wait(timeout=60)
            stacks[slot].close()
            proxy.replicas[slot] = None
            steps.append(f"replica {slot} stopped")
            name = f"replica-{slot}-1"
            fresh = _start(stacks[slot], folder / name, api, name)
            proxy.replicas[slot] = fresh
            harness.poll(lambda f=fresh: f in proxy.ready, timeout=60)  # type: ignore[misc]
            steps.append(f"replica {slot} restarted and in rotation")
            time.sleep(settle)
        rolled.set()
        release.wait(60)
    return steps


def _start(
    stack: contextlib.ExitStack, folder: pathlib.Path, api: kubeapi.KubeApi, name: str
) -> soak.ServerProcess:
    folder.mkdir()
    return stack.enter_context(
        soak.server_process(folder, None, ready_timeout=120, **_environment(api, name))
    )


async def measure(
    folder: pathlib.Path, api: kubeapi.KubeApi, clients: int, settle: float
) -> dict[str, Any]:
    proxy = Proxy()
    stop = asyncio.Event()
    rolled, release = threading.Event(), threading.Event()
    serving = asyncio.create_task(proxy.serve(stop))
    roll = asyncio.create_task(
        asyncio.to_thread(_roll, folder, api, proxy, settle, rolled, release)
    )
    await harness.eventually(lambda: len(proxy.ready) == 2 or roll.done(), timeout=120)
    load = asyncio.create_task(_load(f"http://127.0.0.1:{proxy.port}/mcp/", clients, stop))
    try:
        await harness.eventually(lambda: rolled.is_set() or roll.done(), timeout=600)
    finally:
        stop.set()
        counts = await load
        release.set()
        steps = await roll
        await serving
    return {"clients": clients, "delay_s": DELAY_SECONDS, "steps": steps, **counts}


def run(clients: int = 32, settle: float = 3.0) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as name,
        prometheus_process.running_prometheus(pathlib.Path(name)) as prom,
    ):
        folder = pathlib.Path(name)
        bodies = kubeapi.datasource_bodies(prom.url, 10)
        with kubeapi.serving(folder, bodies, emulator_class=leases.LeasingEmulator) as api:
            report = asyncio.run(measure(folder, api, clients, settle))
    return report


def markdown(report: dict[str, Any]) -> str:
    setting = f"{report['clients']} clients, SHUTDOWN_DELAY_SECONDS={report['delay_s']}"
    figures = [report["calls"], report["failed"], f"{report['calls_per_s']:.0f}"]
    header = "rolling restart of 2 replicas behind a round-robin proxy | calls | failed | calls/s"
    return bench.table(header, [[setting, *figures]])


if __name__ == "__main__":
    bench.main("rolling", run, markdown, entry_point=soak.PROMS_MCP.name)
