"""`python -m bench.fleet`: a thousand datasources as a cluster holds them, in one run.

Configuration: the shipped `proms-mcp` (`.venv/bin/proms-mcp serve`, operator mode, one
replica with LEADER_ELECTION=on as the chart runs it, LOG_LEVEL=WARNING, PROBE_INTERVAL 20 s),
KMock over HTTP (`tests/support/leases.LeasingEmulator`, which records every write) holding
1000 PrometheusDatasources in 10 namespaces (labels env, cluster, team) and 200 Grafana
provisioning ConfigMaps (one datasource each). Every datasource points at ONE real
Prometheus with its default connection limit (512).

Measured, in order: first start to ready; RSS once every CR has its first status; one
`query_instant` to every datasource from 32 clients (failures, p99, RSS after, connections
open to the Prometheus); list navigation: `list_datasources` calls to reach a given
datasource by its cursor alone and by the counts it offers (one call for the counts, one
narrowed by the label that tells the datasource apart); then a restart with nothing changed:
start-up to ready and status writes and events within two probe intervals.

The first start and its calls are then repeated on a Prometheus whose connection limit is
raised out of reach: the p99 of the calls with the default limit against that one says
whether the limit still costs anything (goal: within 2x).

Writes bench/results/fleet.md and fleet.json.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import tempfile
import time
from typing import Any

import httpx

import bench
from bench import kubeapi, percentile, scale, soak
from tests.support import kube, leases, prometheus_process

CRS, NAMESPACES, CONFIGMAPS = 1000, 10, 200
PROBE_INTERVAL = 20.0
WINDOW = 2 * PROBE_INTERVAL
RAISED = 4096
"""The connection limit of the comparison run: high enough to never be met."""
_CLIENTS = 32


def _bodies(url: str) -> list[dict[str, Any]]:
    """1000 CRs, 100 per namespace, labelled as a fleet is: env, cluster, team."""
    bodies = []
    for i in range(CRS):
        labels = {"env": ("prod", "staging", "dev")[i % 3], "cluster": f"c{i % 40:02d}"}
        labels["team"] = f"team-{i % 7}"
        namespace = f"fleet-{i % NAMESPACES}"
        bodies.append(kube.datasource(namespace, f"ds-{i:04d}", url=url, labels=labels))
    return bodies


def _probed(body: dict[str, Any]) -> bool:
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Reachable" for c in conditions)


async def _listing(http: httpx.AsyncClient, url: str, arguments: dict[str, Any]) -> Any:
    answer = await soak.call_tool(http, url, 20_000, "list_datasources", arguments)
    return json.loads(answer["result"]["content"][0]["text"])


async def _all_ids(http: httpx.AsyncClient, url: str) -> list[str]:
    ids: list[str] = []
    arguments: dict[str, Any] = {"limit": 500}
    while True:
        page = await _listing(http, url, arguments)
        ids += [d["id"] for d in page["datasources"]]
        if page.get("next_cursor") is None:
            return ids
        arguments = {"limit": 500, "cursor": page["next_cursor"]}


async def _navigation(http: httpx.AsyncClient, url: str, target: str) -> dict[str, int]:
    """Calls an agent needs to see `target` in an answer: following the cursor from the
    first page, and reading the counts then narrowing by the target's cluster label."""
    by_cursor = 0
    arguments: dict[str, Any] = {}
    while True:
        by_cursor += 1
        page = await _listing(http, url, arguments)
        if any(d["id"] == target for d in page["datasources"]) or not page.get("next_cursor"):
            break
        arguments = {"cursor": page["next_cursor"]}
    first = await _listing(http, url, {})
    offered = "cluster" in (first.get("counts") or {})
    narrowed = await _listing(http, url, {"labels": "cluster=c13"})
    found = any(d["id"] == target for d in narrowed["datasources"])
    return {
        "by_cursor": by_cursor,
        "by_counts": 2 if offered and found else -1,
        "narrowed_page": len(narrowed["datasources"]),
    }


async def _calls(server: soak.ServerProcess, backend_port: int) -> dict[str, Any]:
    limits = soak.client_limits(_CLIENTS)
    async with httpx.AsyncClient(trust_env=False, timeout=120, limits=limits) as http:
        ids = await _all_ids(http, server.mcp_url)
        began = time.perf_counter()
        failed, latencies = await scale.query_every(http, server.mcp_url, ids, 0)
        seconds = time.perf_counter() - began
        report: dict[str, Any] = {
            "datasources_listed": len(ids),
            "calls": len(ids),
            "failed": failed,
            "seconds": seconds,
            "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "rss_after_mb": server.rss_mb(),
            "connections_to_backend": scale.connections_to(server.process.pid, backend_port),
        }
        report["navigation"] = await _navigation(http, server.mcp_url, "fleet-3/ds-0213")
    return report


def _first_start(
    folder: pathlib.Path, api: kubeapi.KubeApi, prom: prometheus_process.RunningPrometheus
) -> dict[str, Any]:
    keys = [(f"fleet-{i % NAMESPACES}", f"ds-{i:04d}") for i in range(CRS)]
    environment = kubeapi.operator_environment(api) | {"PROBE_INTERVAL": str(PROBE_INTERVAL)}
    with soak.server_process(folder, None, ready_timeout=300, **environment) as server:
        report: dict[str, Any] = {"startup_to_ready_s": server.startup_seconds}
        deadline = time.monotonic() + 600
        while api.count(keys, _probed) < CRS:
            if time.monotonic() > deadline:
                raise RuntimeError("the first statuses were not written within 600 s")
            time.sleep(0.5)
        report["rss_idle_mb"] = server.rss_mb()
        report |= asyncio.run(_calls(server, prom.port))
    return report


def _restart(folder: pathlib.Path, api: kubeapi.KubeApi) -> dict[str, Any]:
    environment = kubeapi.operator_environment(api) | {"PROBE_INTERVAL": str(PROBE_INTERVAL)}
    started = time.monotonic()
    with soak.server_process(folder, None, ready_timeout=300, **environment) as server:
        ready = time.monotonic()
        time.sleep(WINDOW)
        report = {"startup_to_ready_s": server.startup_seconds}
    writes = [w for w in kubeapi.writes(api) if started <= w.at < ready + WINDOW]
    report["status_writes_in_window"] = sum(1 for w in writes if w.path.endswith("/status"))
    report["events_in_window"] = sum(1 for w in writes if w.path.endswith("/events"))
    return report


def _fleet(folder: pathlib.Path, max_connections: int | None, restart: bool) -> dict[str, Any]:
    """The fleet on one Prometheus with `max_connections` (None: its default, 512)."""
    report: dict[str, Any] = {}
    with prometheus_process.running_prometheus(
        folder / "prometheus", max_connections=max_connections
    ) as prom:
        bodies = _bodies(prom.url)
        maps = kubeapi.configmap_bodies(prom.url, CONFIGMAPS)
        with kubeapi.serving(
            folder, bodies, configmaps=maps, emulator_class=leases.LeasingEmulator
        ) as api:
            (folder / "first").mkdir()
            report["first start"] = _first_start(folder / "first", api, prom)
            print("first start", json.dumps(report["first start"]), flush=True)
            if restart:
                (folder / "restart").mkdir()
                report["restart"] = _restart(folder / "restart", api)
                print("restart", json.dumps(report["restart"]), flush=True)
    return report


def run() -> dict[str, Any]:
    report: dict[str, Any] = {
        "crs": CRS,
        "configmaps": CONFIGMAPS,
        "clients": _CLIENTS,
    }
    with tempfile.TemporaryDirectory() as name:
        for label, limit, restart in (("default", None, True), ("raised", RAISED, False)):
            folder = pathlib.Path(name) / label
            folder.mkdir()
            report[label] = _fleet(folder, limit, restart)
    return report


def markdown(report: dict[str, Any]) -> str:
    first, again = report["default"]["first start"], report["default"]["restart"]
    raised = report["raised"]["first start"]
    nav = first["navigation"]
    header = (
        "fleet figure (1000 CRs in 10 namespaces + 200 ConfigMaps, one Prometheus with "
        "its default 512 connections, 32 clients) | measured"
    )
    rows: list[list[object]] = [
        ["first start to ready", f"{first['startup_to_ready_s']:.1f} s"],
        ["restart to ready, nothing changed", f"{again['startup_to_ready_s']:.1f} s"],
        [
            f"status writes / events within {WINDOW:.0f} s of a restart",
            f"{again['status_writes_in_window']} / {again['events_in_window']}",
        ],
        [
            "RSS idle (every CR probed) / after a call to each",
            f"{first['rss_idle_mb']:.1f} MiB / {first['rss_after_mb']:.1f} MiB",
        ],
        [
            f"a `query_instant` to each of {first['calls']} datasources: time, p50, p99, failed",
            f"{first['seconds']:.1f} s, {first['p50_ms']:.0f} ms, {first['p99_ms']:.0f} ms, "
            f"{first['failed']}",
        ],
        [
            f"the same calls, Prometheus limit raised to {RAISED}: time, p50, p99",
            f"{raised['seconds']:.1f} s, {raised['p50_ms']:.0f} ms, {raised['p99_ms']:.0f} ms "
            f"(p99 default / raised: {first['p99_ms'] / raised['p99_ms']:.2f})",
        ],
        [
            "connections open to the Prometheus after those calls: default / raised",
            f"{first['connections_to_backend']} / {raised['connections_to_backend']}",
        ],
        [
            "`list_datasources` calls to reach one datasource: by cursor / by counts",
            f"{nav['by_cursor']} / {nav['by_counts']} (the narrowed page lists "
            f"{nav['narrowed_page']})",
        ],
    ]
    return bench.table(header, rows)


if __name__ == "__main__":
    bench.main("fleet", run, markdown, entry_point=soak.PROMS_MCP.name)
