"""`python -m bench.scale`: memory and start-up of the shipped `proms-mcp`, per configuration.

- `standalone, 1 datasource`: a provisioning file with one datasource (`make run` with a
  backend of your own);
- `standalone, 1000 datasources`: the same file with 1000;
- `operator, 1000 PrometheusDatasources`: no file, 1000 CRs in a Kubernetes API (KMock over
  HTTP through a kubeconfig, `bench.kubeapi`), as in a cluster.

For each: start-up to ready (process start to the first 200 on /ready; in operator mode that
is after the first listing of every CR, whose status is written then: 2000 requests to KMock,
which serves each in ~10 ms of this process's CPU, so the server's own CPU time to ready is
reported beside it), RSS idle (ready, and in operator mode once every CR has been probed
and its status written), then one query_instant on every datasource at concurrency 32, RSS
after that round and after a second, and the size of list_datasources.
Every datasource points at the one synthetic Prometheus: what counts is proms-mcp's memory
per datasource, not the backends'. RSS is in MiB (VmRSS / 1024).

Writes bench/results/scale.md and scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pathlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from bench import kubeapi, save, soak
from tests.support import kube, prometheus_process

_CONCURRENCY = 32
_NAMESPACE = "bench"


def provisioning(prometheus_url: str, count: int) -> dict[str, Any]:
    documents = [
        {"name": f"ds-{i:04d}", "uid": f"uid-{i:04d}", "type": "prometheus", "url": prometheus_url}
        for i in range(count)
    ]
    return {"apiVersion": 1, "datasources": documents}


async def query_every(
    http: httpx.AsyncClient, url: str, ids: list[str], offset: int
) -> tuple[int, list[float]]:
    """One query_instant per datasource at concurrency 32: how many failed, and each
    call's latency in seconds."""
    queue = list(enumerate(ids))
    failed = 0
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal failed
        while queue:
            i, datasource = queue.pop()
            arguments = {"datasource_id": datasource, "promql": f"vector({i})"}
            began = time.perf_counter()
            answer = await soak.call_tool(http, url, offset + i, "query_instant", arguments)
            latencies.append(time.perf_counter() - began)
            if "result" not in answer or soak.error_code(answer["result"]) is not None:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(_CONCURRENCY)))
    return failed, latencies


def connections_to(pid: int, port: int) -> int:
    """Established TCP connections of process `pid` to `port` (Linux /proc)."""
    inodes = set()
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in pathlib.Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            remote = int(fields[2].rsplit(":", 1)[1], 16)
            count += remote == port and fields[3] == "01" and fields[9] in inodes
    return count


async def pages_to_list_all(http: httpx.AsyncClient, url: str) -> tuple[int, int]:
    """list_datasources followed by its cursor to the end: (calls, largest page in bytes)."""
    calls, largest = 0, 0
    arguments: dict[str, Any] = {}
    while True:
        calls += 1
        answer = await soak.call_tool(http, url, 10_000 + calls, "list_datasources", arguments)
        text = answer["result"]["content"][0]["text"]
        largest = max(largest, len(text.encode()))
        cursor = json.loads(text).get("next_cursor")
        if cursor is None:
            return calls, largest
        arguments = {"cursor": cursor}


@dataclass(frozen=True)
class Started:
    server: soak.ServerProcess
    ids: list[str]
    settled: Callable[[], bool]
    """True once start-up work after readiness is done (operator: every CR probed)."""


def standalone(folder: pathlib.Path, prometheus_url: str, count: int) -> Iterator[Started]:
    document = provisioning(prometheus_url, count)
    with soak.server_process(folder, document) as server:
        yield Started(server, [f"ds-{i:04d}" for i in range(count)], lambda: True)


def operator(folder: pathlib.Path, prometheus_url: str, count: int) -> Iterator[Started]:
    names = [f"ds-{i:04d}" for i in range(count)]
    bodies = [kube.datasource(_NAMESPACE, name, url=prometheus_url) for name in names]
    with kubeapi.serving(folder, bodies) as api:
        keys = [(_NAMESPACE, name) for name in names]

        def probed(body: dict[str, Any]) -> bool:
            conditions = (body.get("status") or {}).get("conditions") or []
            return any(c.get("type") == "Reachable" for c in conditions)

        with soak.server_process(
            folder,
            None,
            ready_timeout=600,
            PROMS_MCP_MODE="operator",
            KUBECONFIG=str(api.kubeconfig),
            EGRESS_ALLOW="127.0.0.1",  # Prometheus and KMock (the API server) on loopback
        ) as server:
            yield Started(
                server,
                [f"{_NAMESPACE}/{name}" for name in names],
                lambda: api.count(keys, probed) == count,
            )


Start = Callable[[pathlib.Path, str, int], Iterator[Started]]

CONFIGURATIONS: dict[str, tuple[str, Start, int]] = {
    "standalone-1": ("standalone, 1 datasource (file)", standalone, 1),
    "standalone-1000": ("standalone, 1000 datasources (file)", standalone, 1000),
    "operator-1000": ("operator, 1000 PrometheusDatasources (KMock over HTTP)", operator, 1000),
}


async def measure(started: Started, backend_port: int) -> dict[str, Any]:
    server = started.server
    report: dict[str, Any] = {
        "datasources": len(started.ids),
        "startup_to_ready_s": server.startup_seconds,
        "startup_cpu_s": server.startup_cpu_seconds,
    }
    began = time.perf_counter()
    deadline = time.monotonic() + 600
    while not started.settled():
        if time.monotonic() > deadline:
            raise RuntimeError("start-up work did not settle within 600 s")
        await asyncio.sleep(0.2)
    report["ready_to_settled_s"] = time.perf_counter() - began
    report["rss_idle_mb"] = server.rss_mb()
    limits = soak.client_limits(_CONCURRENCY)
    async with httpx.AsyncClient(trust_env=False, timeout=60, limits=limits) as http:
        for round_number in (1, 2):
            began = time.perf_counter()
            offset = round_number * len(started.ids)
            failed, latencies = await query_every(http, server.mcp_url, started.ids, offset)
            report[f"round_{round_number}"] = {
                "calls": len(started.ids),
                "failed": failed,
                "seconds": time.perf_counter() - began,
                "p99_ms": sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000
                if len(latencies) > 1
                else latencies[0] * 1000,
                "rss_mb": server.rss_mb(),
                "connections_to_backend": connections_to(server.process.pid, backend_port),
            }
        pages, page_bytes = await pages_to_list_all(http, server.mcp_url)
        report["pages_to_list_all"] = {"calls": pages, "largest_bytes": page_bytes}
        listing = await soak.call_tool(http, server.mcp_url, 1, "list_datasources", {})
        text = listing["result"]["content"][0]["text"]
        report["list_datasources"] = {
            "bytes": len(text.encode()),
            "listed": len(json.loads(text).get("datasources", [])),
        }
    return report


def run(keys: list[str]) -> dict[str, Any]:
    reports: dict[str, Any] = {"entry_point": soak.PROMS_MCP.name, "configurations": {}}
    with (
        tempfile.TemporaryDirectory() as name,
        prometheus_process.running_prometheus(pathlib.Path(name)) as prom,
    ):
        for key in keys:
            label, start, count = CONFIGURATIONS[key]
            with (
                tempfile.TemporaryDirectory(dir=name) as folder,
                contextlib.contextmanager(start)(pathlib.Path(folder), prom.url, count) as started,
            ):
                report = asyncio.run(measure(started, prom.port))
            reports["configurations"][label] = report
            print(line(label, report), flush=True)
    return reports


HEADER = (
    "| `proms-mcp` configuration | start-up to ready (its CPU) | RSS idle | RSS after a call "
    "to each (round 1) | round 2 | calls/s (round 1) | p99 | connections to the backend "
    "| failed | list_datasources | pages to list all |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def line(name: str, report: dict[str, Any]) -> str:
    first, second = report["round_1"], report["round_2"]
    listing = report["list_datasources"]
    pages = report["pages_to_list_all"]
    return (
        f"| {name} | {report['startup_to_ready_s']:.1f} s ({report['startup_cpu_s']:.1f} s) "
        f"| {report['rss_idle_mb']:.1f} MiB "
        f"| {first['rss_mb']:.1f} MiB | {second['rss_mb']:.1f} MiB "
        f"| {first['calls'] / first['seconds']:.0f} | {first['p99_ms']:.0f} ms "
        f"| {first['connections_to_backend']} | {first['failed'] + second['failed']} "
        f"| {listing['listed']} listed, {listing['bytes']:,} bytes "
        f"| {report['pages_to_list_all']['calls']} (largest {pages['largest_bytes']:,} bytes) |"
    )


def markdown(reports: dict[str, Any]) -> str:
    rows = [line(name, report) for name, report in reports["configurations"].items()]
    return "\n".join([HEADER, *rows]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(CONFIGURATIONS),
        help="measure this configuration (repeatable; all by default)",
    )
    arguments = parser.parse_args()
    print(HEADER, flush=True)
    reports = run(arguments.only or list(CONFIGURATIONS))
    save("scale", reports, markdown(reports), show=False)


if __name__ == "__main__":
    main()
