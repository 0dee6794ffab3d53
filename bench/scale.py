"""`python -m bench.scale`: proms-mcp serving many datasources (1000 by default).

Start-up to ready and RSS idle, then one query_instant on every datasource (so each one
has its pooled client and connection), RSS after that and after a second round, and the
size of list_datasources. Every datasource points at the one synthetic Prometheus under a
different name: what counts here is proms-mcp's memory per datasource, not the backends'.

Writes bench/results/scale.md and scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import tempfile
import time
from typing import Any

import httpx

from bench import save, soak
from tests import prometheus_process

_CONCURRENCY = 32


def provisioning(prometheus_url: str, count: int) -> dict[str, Any]:
    documents = [
        {"name": f"ds-{i:04d}", "uid": f"uid-{i:04d}", "type": "prometheus", "url": prometheus_url}
        for i in range(count)
    ]
    return {"apiVersion": 1, "datasources": documents}


async def query_every(http: httpx.AsyncClient, url: str, count: int, offset: int) -> int:
    """One query_instant per datasource at concurrency 32; the number that failed."""
    queue = list(range(count))
    failed = 0

    async def worker() -> None:
        nonlocal failed
        while queue:
            i = queue.pop()
            arguments = {"datasource_id": f"ds-{i:04d}", "promql": f"vector({i})"}
            answer = await soak.call_tool(http, url, offset + i, "query_instant", arguments)
            if "result" not in answer or soak.error_code(answer["result"]) is not None:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(_CONCURRENCY)))
    return failed


async def run(count: int) -> dict[str, Any]:
    report: dict[str, Any] = {"datasources": count}
    with (
        tempfile.TemporaryDirectory() as folder,
        prometheus_process.running_prometheus(pathlib.Path(folder)) as prom,
    ):
        started = time.perf_counter()
        document = provisioning(prom.url, count)
        with soak.server_process(pathlib.Path(folder), document) as server:
            report["startup_to_ready_s"] = time.perf_counter() - started
            report["rss_idle_mb"] = server.rss_mb()
            limits = soak.client_limits(_CONCURRENCY)
            async with httpx.AsyncClient(trust_env=False, timeout=60, limits=limits) as http:
                for round_number in (1, 2):
                    began = time.perf_counter()
                    failed = await query_every(http, server.mcp_url, count, round_number * count)
                    report[f"round_{round_number}"] = {
                        "calls": count,
                        "failed": failed,
                        "seconds": time.perf_counter() - began,
                        "rss_mb": server.rss_mb(),
                    }
                listing = await soak.call_tool(http, server.mcp_url, 1, "list_datasources", {})
                text = listing["result"]["content"][0]["text"]
                report["list_datasources"] = {
                    "bytes": len(text.encode()),
                    "listed": len(json.loads(text).get("datasources", [])),
                }
    return report


def markdown(report: dict[str, Any]) -> str:
    rounds = [report["round_1"], report["round_2"]]
    lines = [
        f"| {report['datasources']} datasources | value |",
        "|---|---|",
        f"| start-up to ready | {report['startup_to_ready_s']:.2f} s |",
        f"| RSS idle | {report['rss_idle_mb']:.1f} MB |",
    ]
    for number, data in enumerate(rounds, 1):
        lines.append(
            f"| RSS after round {number} (one query_instant per datasource, "
            f"{data['calls'] / data['seconds']:.0f} calls/s, {data['failed']} failed) "
            f"| {data['rss_mb']:.1f} MB |"
        )
    listing = report["list_datasources"]
    lines.append(f"| list_datasources | {listing['listed']} listed, {listing['bytes']:,} bytes |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--datasources", type=int, default=1000)
    arguments = parser.parse_args()
    report = asyncio.run(run(arguments.datasources))
    save("scale", report, markdown(report))


if __name__ == "__main__":
    main()
