"""`python -m bench.fairness`: one caller's burst of slow queries against another caller's
latency on the same datasource.

Caller A (connecting from 127.0.0.1) keeps 64 slow `query_instant` calls going; caller B
(from 127.0.0.2) makes cheap `query_instant` calls one at a time. Both query one
datasource: a proxy, in a process of its own, in front of the test Prometheus that holds
every query carrying `slow` for `--slow` seconds (holding costs no CPU, so only waiting for
a connection can slow B down). B's p50 and p99 are measured idle (A stopped) and loaded (A
running), in alternating rounds, against proms-mcp with the per-caller limit
(MAX_CALLS_PER_CALLER=8, the default) and without it (a limit no caller reaches: proms-mcp
before the limit). A refused call of A is sent again after `--retry-after` seconds, as a
client retries a retryable error.

The goal: with the limit, B's loaded p99 at most 2x its idle p99. Without it, A's calls
hold all 32 connections proms-mcp opens to one backend and B waits behind them.

Writes bench/results/fairness.md and fairness.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import pathlib
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

from bench import percentile, rawhttp, save, soak
from tests.support import harness, prometheus_process

SLOW_CALLERS = 64
OTHER = "127.0.0.2"
CONFIGURATIONS = {"limit 8 (default)": "8", "no limit (before)": "100000"}
_HEADERS = {"Content-Type": "application/json", **soak.MCP_HEADERS}


def _proxy(port: int, prometheus: str, slow_seconds: float) -> None:
    """The slow datasource: Prometheus behind a delay for queries that carry `slow`."""

    class Handler(harness.Handler):
        def do_GET(self) -> None:  # up
            self.reply(b"")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if b"slow" in body:
                time.sleep(slow_seconds)
            request = urllib.request.Request(
                prometheus + self.path, body, {"Content-Type": self.headers["Content-Type"]}
            )
            with urllib.request.urlopen(request, timeout=60) as upstream:
                self.reply(upstream.read())

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # proms-mcp opens up to 32 connections at once
        daemon_threads = True

    Server(("127.0.0.1", port), Handler).serve_forever()


@contextlib.contextmanager
def slow_datasource(prometheus: str, slow_seconds: float) -> Iterator[str]:
    port = harness.free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_proxy, args=(port, prometheus, slow_seconds), daemon=True
    )
    process.start()
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError("the slow datasource did not start") from exc
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.join(10)


async def call(
    connection: rawhttp.Connection, path: str, arguments: dict[str, Any], serial: int
) -> str | None:
    """One query_instant on `shared`; None when it answered, else its error code."""
    arguments = {"datasource_id": "shared", **arguments}
    request = {
        "jsonrpc": "2.0",
        "id": serial,
        "method": "tools/call",
        "params": {"name": "query_instant", "arguments": arguments},
    }
    response = await connection.post(path, json.dumps(request).encode(), _HEADERS)
    result = response.json()["result"]  # type: ignore[index]
    return soak.error_code(result)


async def burst(url: str, path: str, stop: asyncio.Event, retry_after: float) -> dict[str, float]:
    """Caller A: 64 workers, each keeping one slow call going until `stop`."""
    serial = itertools.count(1_000_000)
    counts: dict[str, float] = {"answered": 0, "refused": 0}

    async def worker() -> None:
        connection = rawhttp.Connection(url)
        try:
            while not stop.is_set():
                n = next(serial)
                promql = f'label_replace(vector({n}), "slow", "1", "", "")'  # not coalesced
                code = await call(connection, path, {"promql": promql}, n)
                if code == "too_many_calls":
                    counts["refused"] += 1
                    await asyncio.sleep(retry_after)
                elif code is None:
                    counts["answered"] += 1
                else:
                    raise RuntimeError(f"caller A's call failed: {code}")
        finally:
            await connection.aclose()

    await asyncio.gather(*(worker() for _ in range(SLOW_CALLERS)))
    return counts


async def latencies(url: str, path: str, calls: int, serial: Iterator[int]) -> list[float]:
    """Caller B: `calls` cheap calls one at a time, each at another time (not coalesced)."""
    end = prometheus_process.SYNTHETIC_END
    promql = "sum by (instance) (rate(demo_http_requests_total[5m]))"
    connection = rawhttp.Connection(url, local_address=OTHER)
    seen: list[float] = []
    try:
        for _ in range(calls):
            n = next(serial)
            started = time.perf_counter()
            code = await call(connection, path, {"promql": promql, "time": end - n % 600}, n)
            seen.append(time.perf_counter() - started)
            if code is not None:
                raise RuntimeError(f"caller B's call failed: {code}")
    finally:
        await connection.aclose()
    return seen


async def measure(server: soak.ServerProcess, options: argparse.Namespace) -> dict[str, Any]:
    path = "/mcp/"
    serial = itertools.count(1)
    await latencies(server.mcp_url, path, 20, serial)  # warm-up
    idle: list[list[float]] = []
    loaded: list[list[float]] = []
    burst_counts: list[dict[str, float]] = []
    for _ in range(options.rounds):
        idle.append(await latencies(server.mcp_url, path, options.calls, serial))
        stop = asyncio.Event()
        started = time.perf_counter()
        running = asyncio.create_task(burst(server.mcp_url, path, stop, options.retry_after))
        await asyncio.sleep(options.slow + 0.5)  # A holds what it can get
        loaded.append(await latencies(server.mcp_url, path, options.calls, serial))
        stop.set()
        counts = await running
        counts["seconds"] = round(time.perf_counter() - started, 2)
        burst_counts.append(counts)

    def summary(runs: list[list[float]]) -> dict[str, float]:
        return {
            "p50_ms": statistics.median(percentile(r, 0.5) for r in runs) * 1000,
            "p99_ms": statistics.median(percentile(r, 0.99) for r in runs) * 1000,
        }

    row: dict[str, Any] = {
        "idle": summary(idle),
        "loaded": summary(loaded),
        "caller_a": burst_counts,
    }
    row["p99_ratio"] = row["loaded"]["p99_ms"] / row["idle"]["p99_ms"]
    return row


def _line(name: str, row: dict[str, Any]) -> str:
    idle, loaded = row["idle"], row["loaded"]
    answered = sum(c["answered"] for c in row["caller_a"])
    refused = sum(c["refused"] for c in row["caller_a"])
    seconds = sum(c["seconds"] for c in row["caller_a"])
    return (
        f"| {name} | {idle['p50_ms']:.2f} / {idle['p99_ms']:.2f} | {loaded['p50_ms']:.2f} / "
        f"{loaded['p99_ms']:.2f} | {row['p99_ratio']:.2f} | {answered / seconds:.1f} | "
        f"{refused / seconds:.1f} |"
    )


HEADER = (
    "| proms-mcp | B idle p50 / p99 ms | B loaded p50 / p99 ms | loaded p99 / idle p99 "
    "| A answered/s | A refused/s |\n|---|---|---|---|---|---|"
)


async def run(options: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"options": vars(options), "rows": {}}
    with (
        tempfile.TemporaryDirectory() as folder,
        prometheus_process.running_prometheus(pathlib.Path(folder)) as prom,
        slow_datasource(prom.url, options.slow) as slow_url,
    ):
        datasources = {"datasources": [{"name": "shared", "type": "prometheus", "url": slow_url}]}
        for name, limit in CONFIGURATIONS.items():
            with soak.server_process(
                pathlib.Path(folder), datasources, LOG_LEVEL="WARNING", MAX_CALLS_PER_CALLER=limit
            ) as server:
                report["rows"][name] = await measure(server, options)
            print(_line(name, report["rows"][name]), flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fairness")
    parser.add_argument("--calls", type=int, default=100, help="caller B's calls per phase")
    parser.add_argument("--rounds", type=int, default=3, help="alternating idle/loaded rounds")
    parser.add_argument("--slow", type=float, default=1.0, help="seconds a slow query is held")
    parser.add_argument(
        "--retry-after", type=float, default=0.25, help="caller A's pause after a refusal"
    )
    options = parser.parse_args()
    print(HEADER, flush=True)
    report = asyncio.run(run(options))
    load = report["load_average"] = os.getloadavg()
    table = "\n".join([HEADER, *(_line(n, r) for n, r in report["rows"].items())])
    note = (
        f"\ncaller A: {SLOW_CALLERS} concurrent slow calls ({options.slow:g} s each), retrying "
        f"a refusal after {options.retry_after:g} s; caller B: {options.calls} calls per phase, "
        f"{options.rounds} rounds, median of the rounds' percentiles; load average "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the end\n"
    )
    save("fairness", report, table + "\n" + note, show=False)
    print(note)


if __name__ == "__main__":
    main()
