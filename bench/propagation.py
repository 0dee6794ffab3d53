"""`python -m bench.propagation`: how soon a PrometheusDatasource written to the API reaches
the tools, in the configuration users deploy, while agents call tools.

Configuration: the shipped `proms-mcp` (`.venv/bin/proms-mcp serve`, operator mode,
LEADER_ELECTION=on as the chart runs it, LOG_LEVEL=WARNING) against KMock over HTTP (a
thread of this process, through a kubeconfig) holding 1000 PrometheusDatasources and 200
Grafana provisioning ConfigMaps, every datasource on the test Prometheus. While 32 clients
call `query_instant` back to back on the datasources that stay (raw HTTP, one connection
each), 50 CRs are created, 50 edited (their URL moved to a closed port) and 50 deleted, one
at a time. Each is timed from the API's answer to the first tool call that reflects it (a
poller calls `query_instant` on that datasource back to back, so the resolution is one call).

The test Prometheus runs with `--web.max-connections=4096`: with its default of 512, a
thousand datasources (a connection pool each) on one Prometheus stall on that limit (#22),
which this benchmark is not about. This runs twice: from 2 s after ready, while the first
start's 1000 statuses and Events are written (readiness does not wait for them), and again
once every CR has its first status.
Reports start-up to ready, when the first statuses were all written, and per phase p50/p99/
max per kind of change and the load's calls/s and failed calls. Writes
bench/results/propagation.md and propagation.json.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import pathlib
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

import bench
from bench import kubeapi, rawhttp, soak
from tests.support import harness, kube, leases, prometheus_process

CRS, CONFIGMAPS, CHANGES, CONCURRENCY = 1000, 200, 50, 32
PHASES = ("just after ready", "first statuses written")
MAX_CONNECTIONS = 4096
_HEADERS = {"Content-Type": "application/json", **soak.MCP_HEADERS}


async def _load(url: str, ids: list[str], stop: asyncio.Event) -> dict[str, float]:
    """32 clients calling query_instant until `stop`; calls, failures, calls/s."""
    counts = {"calls": 0, "failed": 0}
    serial = itertools.count()
    path = "/" + url.split("/", 3)[3]

    async def client() -> None:
        connection = rawhttp.Connection(url)
        try:
            while not stop.is_set():
                number = next(serial)
                arguments = {"datasource_id": random.choice(ids), "promql": f"vector({number})"}
                params = {"name": "query_instant", "arguments": arguments}
                request = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params}
                try:
                    response = await connection.post(path, json.dumps(request).encode(), _HEADERS)
                    answer = response.json()
                    failed = not isinstance(answer, dict) or answer["result"].get("isError")
                except (rawhttp.HttpError, OSError, KeyError, ValueError):
                    failed = True
                    await connection.aclose()
                counts["calls"] += 1
                counts["failed"] += int(bool(failed))
        finally:
            await connection.aclose()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    return {**counts, "calls_per_s": counts["calls"] / (time.perf_counter() - started)}


async def _until(
    http: httpx.AsyncClient, url: str, datasource: str, seen: Callable[[str | None], bool]
) -> None:
    """Call query_instant on `datasource` back to back until `seen(its error code)`."""
    number = 10**9
    while True:
        number += 1
        arguments = {"datasource_id": datasource, "promql": "vector(1)"}
        answer = await soak.call_tool(http, url, number, "query_instant", arguments)
        if seen(soak.error_code(answer["result"])):
            return


async def _changes(
    api: kubeapi.KubeApi, url: str, prometheus_url: str, closed_url: str, phase: int
) -> dict[str, list[float]]:
    """CHANGES creations, edits and deletions; `phase` 0 or 1 picks CRs no other phase uses."""
    namespace = kubeapi.NAMESPACE
    timings: dict[str, list[float]] = {"created": [], "edited": [], "deleted": []}
    plans: list[tuple[str, str, Callable[[], Awaitable[None]], Callable[[str | None], bool]]]
    plans = []
    emulator, crs = api.emulator, kube.CRS
    for j in range(CHANGES):
        i = phase * CHANGES + j
        new, edited, gone = f"new-{i:04d}", f"ds-{i:04d}", f"ds-{CRS - 1 - i:04d}"
        body = kube.datasource(namespace, new, url=prometheus_url)
        moved = {"spec": {"url": closed_url}}
        plans += [
            ("created", new, functools.partial(kube.create, emulator, crs, body), _served),
            (
                "edited",
                edited,
                functools.partial(kube.patch, emulator, crs, namespace, edited, moved),
                _unavailable,
            ),
            (
                "deleted",
                gone,
                functools.partial(kube.delete, emulator, crs, namespace, gone),
                _gone,
            ),
        ]
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        for kind, name, write, seen in plans:
            await asyncio.to_thread(api.call, write)
            written = time.perf_counter()
            await _until(http, url, f"{namespace}/{name}", seen)
            timings[kind].append(time.perf_counter() - written)
    return timings


def _served(code: str | None) -> bool:
    return code is None


def _unavailable(code: str | None) -> bool:
    return code == "backend_unavailable"


def _gone(code: str | None) -> bool:
    return code == "datasource_not_found"


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "count": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def _written(body: dict[str, Any]) -> bool:
    """The first start's status is on the CR (Ready, and Reachable once probed)."""
    found = (body.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" for c in found)


def _until_written(api: kubeapi.KubeApi, keys: list[tuple[str, str]]) -> None:
    while api.count(keys, _written) < len(keys):
        time.sleep(0.5)


async def _measure(api: kubeapi.KubeApi, server: soak.ServerProcess, prom: str) -> dict[str, Any]:
    """Two phases: from 2 s after ready (the first start's 1000 statuses and Events being
    written meanwhile), then again once every CR has its first status."""
    stable = [f"{kubeapi.NAMESPACE}/ds-{i:04d}" for i in range(2 * CHANGES, CRS - 2 * CHANGES)]
    stable += [f"cm-{i:04d}" for i in range(CONFIGMAPS)]
    keys = [(kubeapi.NAMESPACE, f"ds-{i:04d}") for i in range(2 * CHANGES, CRS - 2 * CHANGES)]
    closed = f"http://127.0.0.1:{harness.free_port()}"
    report: dict[str, Any] = {
        "startup_to_ready_s": server.startup_seconds,
        "startup_cpu_s": server.startup_cpu_seconds,
    }
    ready = time.perf_counter()
    for phase, label in enumerate(PHASES):
        if phase == 1:
            await asyncio.to_thread(_until_written, api, keys)
            report["first_statuses_written_after_ready_s"] = time.perf_counter() - ready
        stop = asyncio.Event()
        load = asyncio.create_task(_load(server.mcp_url, stable, stop))
        await asyncio.sleep(2)  # the load at its pace
        timings = await _changes(api, server.mcp_url, prom, closed, phase)
        stop.set()
        report[label] = {
            **{kind: _summary(values) for kind, values in timings.items()},
            "load": await load,
        }
    return report


def run() -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as name,
        prometheus_process.running_prometheus(
            pathlib.Path(name), max_connections=MAX_CONNECTIONS
        ) as prom,
    ):
        folder = pathlib.Path(name)
        bodies = kubeapi.datasource_bodies(prom.url, CRS)
        maps = kubeapi.configmap_bodies(prom.url, CONFIGMAPS)
        with (
            kubeapi.serving(
                folder, bodies, configmaps=maps, emulator_class=leases.LeasingEmulator
            ) as api,
            soak.server_process(
                folder,
                None,
                ready_timeout=300,
                **kubeapi.operator_environment(api),
            ) as server,
        ):
            report = asyncio.run(_measure(api, server, prom.url))
    return report


HEADER = (
    "| `proms-mcp` operator, 1000 CRs + 200 ConfigMaps, 32 clients calling | created -> "
    "served p50 / p99 / max | edited | deleted -> gone | load calls/s (failed) |\n"
    "|---|---|---|---|---|"
)


def markdown(report: dict[str, Any]) -> str:
    lines = [HEADER]
    for label in PHASES:
        row = report[label]

        def cell(kind: str, row: dict[str, Any] = row) -> str:
            found = row[kind]
            return f"{found['p50_ms']:.0f} / {found['p99_ms']:.0f} / {found['max_ms']:.0f} ms"

        load = row["load"]
        lines.append(
            f"| {label} | {cell('created')} | {cell('edited')} | {cell('deleted')} "
            f"| {load['calls_per_s']:.0f} ({load['failed']}) |"
        )
    lines += [
        "",
        f"Start-up to ready: {report['startup_to_ready_s']:.1f} s; every CR's first status "
        f"written {report['first_statuses_written_after_ready_s']:.0f} s after ready.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    bench.main("propagation", run, markdown, entry_point=soak.PROMS_MCP.name)
