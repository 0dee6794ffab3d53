"""`python -m bench.guard`: what the Host/Origin check (protocol/request_guard) costs.

Two `proms-mcp serve` processes run side by side on one Prometheus, both started through
`serve()` below (the shipped entry point's `main`): one as shipped (the check on), one with
the check taken out of the request path (`RequestGuard` replaced by a pass-through that
still records the client's address, which the per-caller limit needs). The load generator
alternates between them round by round, each round in the other order, so drift on the
shared machine hits both alike, and compares their throughput and server CPU per call of
`query_instant` and of `ping` (the MCP floor, where a per-request cost shows most). The
requests carry the Host a local client sends (`127.0.0.1:port`) and an `Origin` of
`http://localhost`, so the check runs its whole path. Throughput on shared cores moves by
more than the check costs, so it also times the check alone, in process. Writes
bench/results/guard.md and guard.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pathlib
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
from proms_operator import main as entry
from starlette.types import ASGIApp, Receive, Scope, Send

import bench
from bench import save, soak
from bench.__main__ import Target, mcp_call, measure
from mcp_server.protocol import request_guard
from tests.support import prometheus_process


class PassThrough:
    """`RequestGuard` without the check: it only records the client's address."""

    def __init__(self, app: ASGIApp, allowed: request_guard.Allowed) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await request_guard.call_as_peer(self._app, scope, receive, send)


def serve(guarded: bool) -> None:
    """`proms-mcp serve`, with or without the Host/Origin check; both sides start this way, so
    they differ in nothing else."""
    if not guarded:
        request_guard.RequestGuard = PassThrough  # type: ignore[misc,assignment]
    sys.exit(entry.main(["serve"]))


def _command(guarded: bool) -> tuple[str, ...]:
    return (sys.executable, "-c", f"from bench.guard import serve; serve({guarded})")


_REQUESTS = 200_000
_HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"python-httpx/0.28.1"),
    (b"accept", b"application/json, text/event-stream"),
    (b"content-type", b"application/json"),
    (b"mcp-protocol-version", b"2025-06-18"),
    (b"origin", b"http://localhost"),
    (b"content-length", b"120"),
]


async def _microseconds_per_request(wrapper: type[Any]) -> float:
    """In-process cost of one request through `wrapper` in front of an app that does nothing."""

    async def nothing(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    app = wrapper(nothing, request_guard.Allowed.of((), ()))
    scope: Scope = {"type": "http", "headers": _HEADERS, "client": ("127.0.0.1", 40000)}
    started = time.perf_counter()
    for _ in range(_REQUESTS):
        await app(scope, None, None)
    return (time.perf_counter() - started) / _REQUESTS * 1e6


async def check_cost() -> dict[str, float]:
    """The check's own cost per request: guarded minus pass-through, best of five."""
    guarded = min([await _microseconds_per_request(request_guard.RequestGuard) for _ in range(5)])
    passing = min([await _microseconds_per_request(PassThrough) for _ in range(5)])
    return {"guard_us": guarded, "pass_through_us": passing, "check_us": guarded - passing}


_LEVELS = (1, 8, 32)
_SIDES = ("check on", "check off")
_QUERY = "sum by (instance) (rate(demo_http_requests_total[5m]))"
_ORIGIN = "http://localhost"


def _targets(server: soak.ServerProcess) -> dict[str, Target]:
    path = urllib.parse.urlsplit(server.mcp_url).path
    end = prometheus_process.SYNTHETIC_END

    def instant(serial: int) -> dict[str, Any]:
        arguments = {"datasource_id": "bench", "promql": _QUERY, "time": end - serial % 600}
        return {"name": "query_instant", "arguments": arguments}

    pid = server.process.pid
    return {
        "query_instant": Target(
            server.mcp_url, pid, mcp_call(path, "tools/call", instant, origin=_ORIGIN)
        ),
        "ping": Target(server.mcp_url, pid, mcp_call(path, "ping", lambda _: {}, origin=_ORIGIN)),
    }


def _check_sides(servers: dict[str, soak.ServerProcess]) -> None:
    """The two servers differ as they should: only the guarded one refuses a foreign Host."""
    expected = {"check on": 421, "check off": 200}
    for side, server in servers.items():
        request = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        headers = dict(soak.MCP_HEADERS, Host="evil.example.com")
        status = httpx.post(server.mcp_url, json=request, headers=headers, trust_env=False)
        if status.status_code != expected[side]:
            raise RuntimeError(f"{side}: Host evil.example.com got {status.status_code}")


@contextlib.contextmanager
def _servers(folder: pathlib.Path, prometheus: str) -> Iterator[dict[str, soak.ServerProcess]]:
    datasources = {"datasources": [{"name": "bench", "type": "prometheus", "url": prometheus}]}
    with (
        soak.server_process(
            folder / "on", datasources, command=_command(True), LOG_LEVEL="INFO"
        ) as on,
        soak.server_process(
            folder / "off", datasources, command=_command(False), LOG_LEVEL="INFO"
        ) as off,
    ):
        yield {"check on": on, "check off": off}


async def run(calls: int, rounds: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    serial = itertools.count(1)
    with tempfile.TemporaryDirectory() as temporary:
        folder = pathlib.Path(temporary)
        for side in ("on", "off"):
            (folder / side).mkdir()
        with (
            prometheus_process.running_prometheus(folder) as prom,
            _servers(folder, prom.url) as servers,
        ):
            _check_sides(servers)
            targets = {side: _targets(server) for side, server in servers.items()}
            for scenario in ("query_instant", "ping"):
                for concurrency in _LEVELS:
                    runs: dict[str, list[float]] = {side: [] for side in targets}
                    cpu: dict[str, list[float]] = {side: [] for side in targets}
                    for round_ in range(rounds):
                        order = list(targets.items())
                        for side, by_scenario in order[:: 1 if round_ % 2 else -1]:
                            target = by_scenario[scenario]
                            await measure(target, concurrency, max(concurrency, 10), serial)
                            result = await measure(target, concurrency, calls, serial)
                            runs[side].append(result["throughput_per_s"])
                            cpu[side].append(result["server_cpu_ms_per_call"])
                    on, off = (statistics.median(runs[side]) for side in _SIDES)
                    cpu_on, cpu_off = (statistics.median(cpu[side]) for side in _SIDES)
                    row = {"scenario": scenario, "concurrency": concurrency, "on": on, "off": off}
                    row |= {"cpu_ms_on": cpu_on, "cpu_ms_off": cpu_off}
                    rows.append(dict(row, change=on / off - 1, runs=runs))
                    print(_line(rows[-1]), flush=True)
    return rows


def _line(row: dict[str, Any]) -> str:
    return (
        f"| {row['scenario']} | {row['concurrency']} | {row['on']:.0f} | {row['off']:.0f} "
        f"| {row['change'] * 100:+.1f} % | {row['cpu_ms_on']:.3f} | {row['cpu_ms_off']:.3f} |"
    )


_HEADER = (
    "| scenario | concurrency | calls/s, check on | calls/s, check off | change "
    "| server CPU ms/call, on | server CPU ms/call, off |\n"
    "|---|---|---|---|---|---|---|"
)


def main() -> None:
    options = bench.alternating("python -m bench.guard", calls=400, rounds=5, between="server")
    cost = asyncio.run(check_cost())
    print(_HEADER, flush=True)
    rows = asyncio.run(run(options.calls, options.rounds))
    load = os.getloadavg()
    cpu = min(row["cpu_ms_off"] for row in rows if row["scenario"] == "query_instant") * 1000
    note = (
        f"\nThe check alone, in process: {cost['check_us']:.2f} µs per request "
        f"({cost['guard_us']:.2f} µs through RequestGuard, {cost['pass_through_us']:.2f} µs "
        f"through the pass-through; best of five runs of {_REQUESTS:,} requests), "
        f"{cost['check_us'] / cpu * 100:.2f} % of the {cpu:.0f} µs of server CPU the "
        "cheapest query_instant row spends per call without it.\n"
    )
    note += (
        f"\n{options.calls} calls per round and server, {options.rounds} alternating rounds, "
        f"median throughput of the rounds; Origin: http://localhost on every request; "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the end\n"
    )
    table = "\n".join([_HEADER, *(_line(row) for row in rows)]) + "\n" + note
    report = {"rows": rows, "check_cost": cost, "load_average": load}
    save("guard", report, table, show=False)
    print(note)


if __name__ == "__main__":
    main()
