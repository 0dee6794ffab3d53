"""`python -m bench`: latency and throughput of MCP tool calls through proms-mcp against the
same requests sent directly to Prometheus, alternating rounds so machine drift cancels out.

Writes bench/results/latest.md and latest.json. Everything runs on loopback on this machine:
a real Prometheus with synthetic history, proms-mcp in a thread of this process, and the
load generator (asyncio clients) in this process's main loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastmcp import Client

from tests import harness, prometheus_process

RESULTS = pathlib.Path(__file__).parent / "results"
Call = Callable[[], Awaitable[None]]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def measure(call: Call, concurrency: int, total: int) -> dict[str, float]:
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    cpu_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    return {
        "calls": len(latencies),
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p90_ms": percentile(latencies, 0.9) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "throughput_per_s": len(latencies) / wall,
        "cpu_ms_per_call": cpu * 1000 / len(latencies),
    }


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(calls_per_round: int, rounds: int) -> dict[str, Any]:
    end = prometheus_process.SYNTHETIC_END
    start = end - 6 * 3600
    instant_query = "sum by (instance) (rate(demo_http_requests_total[5m]))"
    range_query = "sum by (instance) (rate(demo_http_requests_total[5m]))"
    report: dict[str, Any] = {"scenarios": [], "machine": {"cpus": os.cpu_count()}}
    with (
        tempfile.TemporaryDirectory() as folder,
        prometheus_process.running_prometheus(pathlib.Path(folder)) as prom,
    ):
        provisioning = pathlib.Path(folder) / "datasources.json"
        provisioning.write_text(
            json.dumps({"datasources": [{"name": "bench", "type": "prometheus", "url": prom.url}]})
        )
        rss_before = rss_mb()
        started = time.perf_counter()
        config = harness.make_settings(
            sources={"datasources_path": provisioning}, logging={"level": "WARNING"}
        )
        with harness.serve_in_thread(config) as server:
            report["startup_to_ready_s"] = time.perf_counter() - started
            report["rss_idle_mb"] = rss_mb() - rss_before
            async with (
                httpx.AsyncClient(base_url=prom.url, trust_env=False) as direct,
                httpx.AsyncClient(trust_env=False) as raw,
                Client(server.mcp_url) as mcp,
            ):
                listing = await raw.post(
                    server.mcp_url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    headers=_MCP_HEADERS,
                )
                report["tools_list_bytes"] = len(listing.content)
                report["tools_list_tokens_estimate"] = len(listing.content) // 4
                scenarios: dict[str, dict[str, Call]] = {
                    "query_instant": {
                        "proms-mcp": lambda: _raw_tool(
                            raw, server.mcp_url, "query_instant", promql=instant_query, time=end
                        ),
                        "direct": lambda: _direct(
                            direct, "/api/v1/query", query=instant_query, time=end
                        ),
                    },
                    "query_range 6h": {
                        "proms-mcp": lambda: _raw_tool(
                            raw,
                            server.mcp_url,
                            "query_range",
                            promql=range_query,
                            start=start,
                            end=end,
                            step="60s",
                        ),
                        "direct": lambda: _direct(
                            direct,
                            "/api/v1/query_range",
                            query=range_query,
                            start=start,
                            end=end,
                            step=60,
                        ),
                    },
                    "query_instant (FastMCP client)": {
                        "proms-mcp": lambda: _tool(
                            mcp, "query_instant", promql=instant_query, time=end
                        ),
                        "direct": lambda: _direct(
                            direct, "/api/v1/query", query=instant_query, time=end
                        ),
                    },
                }
                for scenario, targets in scenarios.items():
                    for concurrency in (1, 8, 32):
                        samples: dict[str, list[dict[str, float]]] = {t: [] for t in targets}
                        for _ in range(rounds):  # alternate so drift hits both equally
                            for target, call in targets.items():
                                await measure(call, concurrency, max(concurrency, 10))  # warm
                                samples[target].append(
                                    await measure(call, concurrency, calls_per_round)
                                )
                        row: dict[str, Any] = {"scenario": scenario, "concurrency": concurrency}
                        for target, runs in samples.items():
                            row[target] = {
                                key: statistics.median(r[key] for r in runs) for key in runs[0]
                            }
                        row["p50_ratio"] = row["proms-mcp"]["p50_ms"] / row["direct"]["p50_ms"]
                        row["p50_overhead_ms"] = (
                            row["proms-mcp"]["p50_ms"] - row["direct"]["p50_ms"]
                        )
                        report["scenarios"].append(row)
                        print(_line(row), flush=True)
            report["rss_after_load_mb"] = rss_mb() - rss_before
    return report


async def _tool(mcp: Client[Any], tool: str, **arguments: Any) -> None:
    result = await mcp.call_tool(tool, {"datasource_id": "bench", **arguments})
    if result.is_error:
        raise RuntimeError(str(result.content))


async def _raw_tool(http: httpx.AsyncClient, url: str, tool: str, **arguments: Any) -> None:
    """One JSON-RPC tools/call over HTTP: the server's cost without a client library's."""
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"datasource_id": "bench", **arguments}},
    }
    response = await http.post(url, json=request, headers=_MCP_HEADERS)
    response.raise_for_status()
    if response.json()["result"].get("isError"):
        raise RuntimeError(response.text)


_MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-06-18",
}


async def _direct(client: httpx.AsyncClient, path: str, **params: Any) -> None:
    response = await client.post(path, data=params)
    response.raise_for_status()
    response.json()


def _line(row: dict[str, Any]) -> str:
    mine, theirs = row["proms-mcp"], row["direct"]
    return (
        f"| {row['scenario']} | {row['concurrency']} | {mine['p50_ms']:.2f} / {mine['p90_ms']:.2f}"
        f" / {mine['p99_ms']:.2f} | {theirs['p50_ms']:.2f} / {theirs['p90_ms']:.2f} / "
        f"{theirs['p99_ms']:.2f} | {row['p50_ratio']:.2f} | {row['p50_overhead_ms']:.2f} | "
        f"{mine['throughput_per_s']:.0f} | {theirs['throughput_per_s']:.0f} | "
        f"{mine['cpu_ms_per_call']:.2f} |"
    )


HEADER = (
    "| scenario | concurrency | proms-mcp p50/p90/p99 ms | direct p50/p90/p99 ms | p50 ratio "
    "| p50 overhead ms | proms-mcp calls/s | direct req/s | CPU ms per call (this process) |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--calls", type=int, default=200, help="calls per round and target")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    arguments = parser.parse_args()
    print(HEADER, flush=True)
    report = asyncio.run(run(arguments.calls, arguments.rounds))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2))
    table = "\n".join([HEADER, *(_line(r) for r in report["scenarios"])])
    summary = (
        f"\nstartup to ready: {report['startup_to_ready_s']:.2f} s; RSS idle +"
        f"{report['rss_idle_mb']:.0f} MB, after load +{report['rss_after_load_mb']:.0f} MB "
        "(the process also runs the load generator)\n"
        f"tools/list: {report['tools_list_bytes']} bytes, about "
        f"{report['tools_list_tokens_estimate']} tokens (bytes / 4)\n"
    )
    (RESULTS / "latest.md").write_text(table + "\n" + summary)
    print(summary)


if __name__ == "__main__":
    main()
