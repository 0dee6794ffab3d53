"""`python -m bench`: latency and throughput of MCP tool calls through proms-mcp against the
same requests sent directly to Prometheus, alternating rounds so machine drift cancels out.

Writes bench/results/latest.md and latest.json. Everything runs on loopback on this machine:
a real Prometheus with synthetic history, proms-mcp as its own process (the shipped
`proms-mcp` entry point in standalone mode, production settings: INFO logs to a file), and
the load generator in this process. The load generator speaks raw HTTP/1.1 over one
keep-alive connection per worker (`bench.rawhttp`): a client library would cost more CPU than
the servers it measures, on the same cores. The raw rows speak the 2025-06-18 protocol era;
the `2026-07-28 transport` row speaks what current clients default to, a different path
through the MCP SDK. The FastMCP-client row shows what a real MCP client adds on the
caller's side.

Every call asks for a different evaluation time (a shift of up to ten minutes), so identical
requests in flight are not coalesced into one upstream request: each call costs proms-mcp
and Prometheus a real query. The `identical calls` row sends the same call every time to
show what coalescing buys.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import pathlib
import statistics
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastmcp import Client

import bench
from bench import percentile, rawhttp, save, soak
from tests.support import prometheus_process
from tests.support.answers import MODERN, MODERN_META

Call = Callable[[rawhttp.Connection, int], Awaitable[None]]
"""One call on a worker's connection; the int makes each call's request distinct."""

_CONCURRENCIES = (1, 8, 32)
_SHIFT_SECONDS = 600


@dataclass(frozen=True)
class Target:
    url: str
    pid: int
    call: Call


async def measure(
    target: Target, concurrency: int, total: int, serial: Iterator[int]
) -> dict[str, float]:
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        connection = rawhttp.Connection(target.url)
        try:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                await target.call(connection, next(serial))
                latencies.append(time.perf_counter() - started)
        finally:
            await connection.aclose()

    server_before = soak.cpu_seconds(target.pid)
    cpu_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    server_cpu = soak.cpu_seconds(target.pid) - server_before
    return {
        "calls": len(latencies),
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p90_ms": percentile(latencies, 0.9) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "throughput_per_s": len(latencies) / wall,
        "server_cpu_ms_per_call": server_cpu * 1000 / len(latencies),
        "loadgen_cpu_ms_per_call": cpu * 1000 / len(latencies),
    }


_MCP_HEADERS = {"Content-Type": "application/json", **soak.MCP_HEADERS}
_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def mcp_call(
    path: str,
    method: str,
    params: Callable[[int], dict[str, Any]],
    *,
    modern: bool = False,
    origin: str | None = None,
) -> Call:
    """A raw JSON-RPC request over HTTP: the server's cost without a client library's."""
    base = _MCP_HEADERS if origin is None else dict(_MCP_HEADERS, Origin=origin)

    async def call(connection: rawhttp.Connection, serial: int) -> None:
        values = params(serial)
        headers = base
        if modern:
            values = dict(values, _meta=MODERN_META)
            headers = dict(base, **{"MCP-Protocol-Version": MODERN, "Mcp-Method": method})
            if "name" in values:
                headers["Mcp-Name"] = values["name"]
        request = {"jsonrpc": "2.0", "id": serial, "method": method, "params": values}
        response = await connection.post(path, json.dumps(request).encode(), headers)
        result = response.json()
        if not isinstance(result, dict) or "result" not in result:
            raise RuntimeError(response.body.decode())
        if result["result"].get("isError"):
            raise RuntimeError(response.body.decode())

    return call


def direct_call(path: str, params: Callable[[int], dict[str, Any]]) -> Call:
    async def call(connection: rawhttp.Connection, serial: int) -> None:
        body = urllib.parse.urlencode(params(serial)).encode()
        response = await connection.post(path, body, _FORM_HEADERS)
        answer = response.json()
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise RuntimeError(response.body.decode())

    return call


def fastmcp_call(
    client: Client[Any], tool: str, arguments: Callable[[int], dict[str, Any]]
) -> Call:
    async def call(connection: rawhttp.Connection, serial: int) -> None:
        result = await client.call_tool(tool, {"datasource_id": "bench", **arguments(serial)})
        if result.is_error:
            raise RuntimeError(str(result.content))

    return call


def scenarios(
    mcp: soak.ServerProcess, prom: prometheus_process.RunningPrometheus, client: Client[Any]
) -> dict[str, tuple[tuple[int, ...], dict[str, Target]]]:
    end = prometheus_process.SYNTHETIC_END
    query = "sum by (instance) (rate(demo_http_requests_total[5m]))"
    mcp_path = urllib.parse.urlsplit(mcp.mcp_url).path
    pid = mcp.process.pid

    def at(serial: int) -> int:
        return end - serial % _SHIFT_SECONDS

    def tool(
        name: str, arguments: Callable[[int], dict[str, Any]], *, modern: bool = False
    ) -> Target:
        def params(serial: int) -> dict[str, Any]:
            return {"name": name, "arguments": {"datasource_id": "bench", **arguments(serial)}}

        call = mcp_call(mcp_path, "tools/call", params, modern=modern)
        return Target(mcp.mcp_url, pid, call)

    def direct(path: str, params: Callable[[int], dict[str, Any]]) -> Target:
        return Target(prom.url, prom.pid, direct_call(path, params))

    def instant(serial: int) -> dict[str, Any]:
        return {"promql": query, "time": at(serial)}

    def window(serial: int) -> dict[str, Any]:
        return {"promql": query, "start": at(serial) - 6 * 3600, "end": at(serial), "step": "60s"}

    def same(serial: int) -> dict[str, Any]:
        return {"promql": query, "time": end}

    def prom_params(arguments: Callable[[int], dict[str, Any]]) -> Callable[[int], dict[str, Any]]:
        def params(serial: int) -> dict[str, Any]:
            values = dict(arguments(serial))
            values["query"] = values.pop("promql")
            if "step" in values:
                values["step"] = 60
            return values

        return params

    return {
        "query_instant": (
            _CONCURRENCIES,
            {
                "proms-mcp": tool("query_instant", instant),
                "direct": direct("/api/v1/query", prom_params(instant)),
            },
        ),
        "query_range 6h": (
            _CONCURRENCIES,
            {
                "proms-mcp": tool("query_range", window),
                "direct": direct("/api/v1/query_range", prom_params(window)),
            },
        ),
        f"query_instant ({MODERN} transport)": (
            _CONCURRENCIES,
            {
                "proms-mcp": tool("query_instant", instant, modern=True),
                "direct": direct("/api/v1/query", prom_params(instant)),
            },
        ),
        "query_instant, identical calls (coalesced)": (
            (8, 32),
            {
                "proms-mcp": tool("query_instant", same),
                "direct": direct("/api/v1/query", prom_params(same)),
            },
        ),
        "ping (MCP floor, no tool)": (
            _CONCURRENCIES,
            {"proms-mcp": Target(mcp.mcp_url, pid, mcp_call(mcp_path, "ping", lambda _: {}))},
        ),
        "query_instant (FastMCP client)": (
            _CONCURRENCIES,
            {
                "proms-mcp": Target(
                    mcp.mcp_url, pid, fastmcp_call(client, "query_instant", instant)
                ),
                "direct": direct("/api/v1/query", prom_params(instant)),
            },
        ),
    }


async def run(calls_per_round: int, rounds: int) -> dict[str, Any]:
    report: dict[str, Any] = {"scenarios": [], "machine": {"cpus": os.cpu_count()}}
    serial = itertools.count(1)
    with (
        tempfile.TemporaryDirectory() as folder,
        prometheus_process.running_prometheus(pathlib.Path(folder)) as prom,
    ):
        datasources = {"datasources": [{"name": "bench", "type": "prometheus", "url": prom.url}]}
        with soak.server_process(pathlib.Path(folder), datasources, LOG_LEVEL="INFO") as mcp:
            report["startup_to_ready_s"] = mcp.startup_seconds
            report["rss_idle_mb"] = mcp.rss_mb()
            async with (
                httpx.AsyncClient(trust_env=False) as raw,
                Client(mcp.mcp_url) as client,
            ):
                listing = await raw.post(
                    mcp.mcp_url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    headers=_MCP_HEADERS,
                )
                report["tools_list_bytes"] = len(listing.content)
                report["tools_list_tokens_estimate"] = len(listing.content) // 4
                for scenario, (levels, targets) in scenarios(mcp, prom, client).items():
                    for concurrency in levels:
                        samples: dict[str, list[dict[str, float]]] = {t: [] for t in targets}
                        for _ in range(rounds):  # alternate so drift hits both equally
                            for name, target in targets.items():
                                await measure(target, concurrency, max(concurrency, 10), serial)
                                samples[name].append(
                                    await measure(target, concurrency, calls_per_round, serial)
                                )
                        row: dict[str, Any] = {"scenario": scenario, "concurrency": concurrency}
                        for name, runs in samples.items():
                            row[name] = {
                                key: statistics.median(r[key] for r in runs) for key in runs[0]
                            }
                        if "direct" in row:
                            row["p50_ratio"] = row["proms-mcp"]["p50_ms"] / row["direct"]["p50_ms"]
                            row["p50_overhead_ms"] = (
                                row["proms-mcp"]["p50_ms"] - row["direct"]["p50_ms"]
                            )
                        report["scenarios"].append(row)
                        print(_line(row), flush=True)
            report["rss_after_load_mb"] = mcp.rss_mb()
    return report


def _line(row: dict[str, Any]) -> str:
    mine = row["proms-mcp"]
    theirs = row.get("direct")
    direct = (
        f"{theirs['p50_ms']:.2f} / {theirs['p90_ms']:.2f} / {theirs['p99_ms']:.2f}"
        if theirs
        else "-"
    )
    return (
        f"| {row['scenario']} | {row['concurrency']} | {mine['p50_ms']:.2f} / {mine['p90_ms']:.2f}"
        f" / {mine['p99_ms']:.2f} | {direct} | "
        + (f"{row['p50_ratio']:.2f} | {row['p50_overhead_ms']:.2f}" if theirs else "- | -")
        + f" | {mine['throughput_per_s']:.0f} | "
        + (f"{theirs['throughput_per_s']:.0f}" if theirs else "-")
        + f" | {mine['server_cpu_ms_per_call']:.2f} | "
        + (f"{theirs['server_cpu_ms_per_call']:.2f}" if theirs else "-")
        + f" | {mine['loadgen_cpu_ms_per_call']:.2f} |"
    )


HEADER = (
    "| scenario | concurrency | proms-mcp p50/p90/p99 ms | direct p50/p90/p99 ms | p50 ratio "
    "| p50 overhead ms | proms-mcp calls/s | direct req/s | proms-mcp CPU ms/call "
    "| Prometheus CPU ms/req (direct) | load generator CPU ms/call |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    arguments = bench.alternating("python -m bench", calls=200, rounds=3, between="target")
    print(HEADER, flush=True)
    report = asyncio.run(run(arguments.calls, arguments.rounds))
    table = "\n".join([HEADER, *(_line(r) for r in report["scenarios"])])
    machine = report["machine"]
    load = machine["load_average"] = os.getloadavg()
    summary = (
        f"\nstartup to ready: {report['startup_to_ready_s']:.2f} s; proms-mcp RSS idle "
        f"{report['rss_idle_mb']:.0f} MB, after load {report['rss_after_load_mb']:.0f} MB\n"
        f"tools/list: {report['tools_list_bytes']} bytes, about "
        f"{report['tools_list_tokens_estimate']} tokens (bytes / 4)\n"
        f"machine: {machine['cpus']} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} at the end (other work on the machine skews every figure)\n"
    )
    save("latest", report, table + "\n" + summary, show=False)  # the rows printed as they came
    print(summary)


if __name__ == "__main__":
    main()
