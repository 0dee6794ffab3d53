"""Registry propagation: from the API write of a PrometheusDatasource to the moment a tool
call would see it, with 10, 100 and 1000 CRs, and the process RSS at each size.

KMock (the Kubernetes API emulator) serves the API in this process; proms-mcp runs with the
operator in the same event loop; a registry listener timestamps each id's first appearance.
"""

from __future__ import annotations

import asyncio
import pathlib
import statistics
import tempfile
import time
from typing import Any

import kmock
from proms_operator import runtime

from mcp_server.sources import registry
from tests.support import harness, kube


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def measure(count: int) -> dict[str, Any]:
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator):
        kube.declare(emulator)
        with tempfile.TemporaryDirectory() as folder:
            config = harness.make_settings(
                operator={
                    "kubeconfig": kube.kubeconfig(pathlib.Path(folder) / "kc", str(emulator.url)),
                    "probe_interval_seconds": 3600,
                },
                destinations=kube.LOCAL_EGRESS,
                logging={"level": "WARNING"},
            )
            async with harness.serving(
                config, extensions=[runtime.KubernetesSources(config)]
            ) as application:
                await harness.eventually(lambda: application.readiness.ready)
                await asyncio.sleep(0.5)  # kopf's watches established
                seen: dict[str, float] = {}

                def record(snapshot: registry.Snapshot) -> None:
                    stamp = time.perf_counter()
                    for key in snapshot.datasources:
                        seen.setdefault(key, stamp)

                application.registry.subscribe(record)
                created: dict[str, float] = {}
                for index in range(count):
                    name = f"ds-{index:04d}"
                    created[f"bench/{name}"] = time.perf_counter()
                    await kube.create(
                        emulator,
                        kube.CRS,
                        kube.datasource("bench", name, url="http://127.0.0.1:9/"),
                    )
                    if index % 50 == 0:
                        # KMock keeps every request for assertions and scans that log per
                        # request; a benchmark needs no history (private, bench only).
                        del emulator._requests[:]
                await harness.eventually(lambda: len(seen) >= count, timeout=600)
                latencies = sorted((seen[key] - created[key]) * 1000 for key in created)
                return {
                    "crs": count,
                    "p50_ms": statistics.median(latencies),
                    "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                    "max_ms": latencies[-1],
                    "rss_mb": rss_mb(),
                }


async def run(sizes: tuple[int, ...] = (10, 100, 1000)) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        rows.append(await measure(size))
        print(line(rows[-1]), flush=True)
    return rows


HEADER = "\n".join(
    (
        "| CRs | API write -> registry p50 ms | p99 ms | max ms | process RSS MB |",
        "|---|---|---|---|---|",
    )
)


def line(row: dict[str, Any]) -> str:
    return (
        f"| {row['crs']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['max_ms']:.1f} "
        f"| {row['rss_mb']:.0f} |"
    )


if __name__ == "__main__":
    print(HEADER)
    asyncio.run(run())
