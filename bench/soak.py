"""`python -m bench.soak`: a soak of proms-mcp, run as its own process, with N tool calls at
concurrency 32 across several datasources on a real Prometheus plus one that always fails.

It counts what a long run would reveal: unexpected errors (a healthy datasource must always
answer, the failing one must give the same error code every time), lost or mixed-up
responses (every JSON-RPC id answered once, `vector(i)` answers i), and memory growth (the
server process's RSS after a warm-up, and after the run). The issue's figure is 20,000
calls; the fast suite runs a shorter soak through the same code (tests/app/test_soak.py,
PROMS_MCP_SOAK_CALLS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from mcp_server.demo import local
from tests.support import harness, prometheus_process

MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-06-18",
}
HEALTHY = ("soak-post", "soak-get", "soak-slash")
FAILING = "soak-refused"
FAILING_CODE = "backend_unavailable"
ISSUE_CALLS = 20_000
LOAD_GENERATOR_CALLS = 64
"""MAX_CALLS_PER_CALLER of the servers the benchmarks start: a load generator is one caller
(one address) with up to 32 calls in flight, which the default limit (8) would refuse;
`python -m bench.fairness` measures the limit itself."""


# --- the server under test --------------------------------------------------------------


class Target(Protocol):
    @property
    def mcp_url(self) -> str: ...

    @property
    def health_url(self) -> str: ...

    @property
    def rss_of(self) -> str:
        """Whose memory `rss_mb` measures."""
        ...

    def rss_mb(self) -> float: ...


PROMS_MCP = pathlib.Path(sys.executable).with_name("proms-mcp")
"""The shipped entry point (`make run`, the image and the chart start it), not `python -m
mcp_server`: it is what users run, and what its memory figures must describe."""


@dataclass(frozen=True)
class ServerProcess:
    """`proms-mcp` as its own process: its RSS is the server's alone."""

    process: subprocess.Popen[bytes]
    mcp_url: str
    health_url: str
    startup_seconds: float
    """From the process's start to its first 200 on /ready."""
    startup_cpu_seconds: float
    """The process's own CPU time until then (the rest is waiting: on an API, a backend)."""
    rss_of = "the server process"

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)


@dataclass(frozen=True)
class ServerThread:
    """proms-mcp in a thread of this process (no start-up imports to pay for): its RSS
    includes the load generator's."""

    running: harness.RunningServer
    rss_of = "this process (server thread and load generator)"

    @property
    def mcp_url(self) -> str:
        return self.running.mcp_url

    @property
    def health_url(self) -> str:
        return self.running.health_url

    def rss_mb(self) -> float:
        return rss_mb(os.getpid())


_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory (Linux /proc); `VmHWM` is its peak so far."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc: the RSS figures need Linux")


def provisioning(prometheus_url: str, failing_url: str, **extra: str) -> dict[str, Any]:
    """Three healthy datasources on one Prometheus (POST, GET, trailing slash), one failing,
    and any `extra` name -> URL."""
    documents = [
        {"name": "soak-post", "type": "prometheus", "url": prometheus_url},
        {
            "name": "soak-get",
            "type": "prometheus",
            "url": prometheus_url,
            "jsonData": {"httpMethod": "GET"},
        },
        {"name": "soak-slash", "type": "prometheus", "url": prometheus_url + "/"},
        {"name": FAILING, "type": "prometheus", "url": failing_url},
    ]
    documents += [{"name": n, "type": "prometheus", "url": u} for n, u in extra.items()]
    return {"apiVersion": 1, "datasources": documents}


@contextlib.contextmanager
def server_process(
    folder: pathlib.Path,
    datasources: dict[str, Any] | None,
    *,
    ready_timeout: float = 120,
    command: Sequence[str] = (str(PROMS_MCP), "serve"),
    **env: str,
) -> Iterator[ServerProcess]:
    """`proms-mcp serve` on free loopback ports, ready; stopped (SIGTERM) on exit.

    Standalone, serving `datasources` from a provisioning file, unless `env` says otherwise
    (PROMS_MCP_MODE=operator and KUBECONFIG: the operator, `datasources` may be None).
    """
    port, health = harness.free_port(), harness.free_port()
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AUTH_MODE", "HOST", "KUBECONFIG", "GRAFANA_DATASOURCES_PATH")
    }
    environment.update(
        PORT=str(port),
        HEALTH_METRICS_PORT=str(health),
        PROMS_MCP_MODE="standalone",
        LOG_LEVEL="WARNING",
        MAX_CALLS_PER_CALLER=str(LOAD_GENERATOR_CALLS),
    )
    if datasources is not None:
        path = folder / "soak-datasources.json"
        path.write_text(json.dumps(datasources))
        environment["GRAFANA_DATASOURCES_PATH"] = str(path)
    environment.update(env)
    log = (folder / "soak-server.log").open("wb")
    started = time.perf_counter()
    process = subprocess.Popen(list(command), env=environment, stdout=log, stderr=log)
    health_url = f"http://127.0.0.1:{health}"
    try:
        deadline = time.monotonic() + ready_timeout  # its imports take 3-30 s on a busy machine
        while not _ready(health_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"proms-mcp did not start; see {folder / 'soak-server.log'}")
            time.sleep(0.05)
        startup = time.perf_counter() - started
        mcp_url = f"http://127.0.0.1:{port}/mcp/"
        yield ServerProcess(process, mcp_url, health_url, startup, cpu_seconds(process.pid))
    finally:
        local.stop(process, timeout=15)
        log.close()


def _ready(health_url: str) -> bool:
    try:
        return httpx.get(f"{health_url}/ready", timeout=1, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


# --- raw JSON-RPC calls ------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    request_id: int
    tool: str
    arguments: dict[str, Any]
    expect: str  # "ok", an error code, or "ok:<value>" for query_instant of vector(i)


@dataclass(frozen=True)
class Outcome:
    call: Call
    seconds: float
    answered_id: int | None
    got: str  # "ok", "ok:<value>", "error:<code>", or "exception:<type>: <message>"

    @property
    def as_expected(self) -> bool:
        return self.answered_id == self.call.request_id and self.got == _expected(self.call)


def _expected(call: Call) -> str:
    return call.expect if call.expect.startswith("ok") else f"error:{call.expect}"


async def call_tool(
    http: httpx.AsyncClient, url: str, request_id: int, tool: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    """One JSON-RPC tools/call (stateless HTTP, JSON answer): the whole JSON-RPC response."""
    request = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    response = await http.post(url, json=request, headers=MCP_HEADERS)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def error_code(result: dict[str, Any]) -> str | None:
    """The stable error code of a failed tool result (None when it succeeded)."""
    if not result.get("isError"):
        return None
    try:
        return str(json.loads(result["content"][0]["text"])["error"]["code"])
    except (KeyError, IndexError, TypeError, ValueError):
        return "unparsable-error"


def client_limits(connections: int) -> httpx.Limits:
    """A pool that drops idle connections after 2 s, before uvicorn's 5 s keep-alive
    timeout closes them. With both at 5 s (httpx's and uvicorn's defaults) a request sent
    on a connection the server is closing at that moment dies with a reset (ReadError): 4
    times in 60,000 calls here, whenever the load generator left connections idle ~5 s.
    That race is the client's to avoid (retry, or expire first), not what a soak measures."""
    return httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2.0
    )


async def run(
    http: httpx.AsyncClient, url: str, calls: Iterable[Call], concurrency: int
) -> list[Outcome]:
    """Every call once, `concurrency` at a time; exceptions are outcomes, not failures."""
    pending = iter(calls)
    outcomes: list[Outcome] = []

    async def worker() -> None:
        for call in pending:
            started = time.perf_counter()
            answered: int | None = None
            try:
                answer = await call_tool(http, url, call.request_id, call.tool, call.arguments)
                answered = answer.get("id")
                got = _describe(call, answer.get("result") or {})
            except (httpx.HTTPError, ValueError) as exc:
                got = f"exception:{type(exc).__name__}: {exc}"
            outcomes.append(Outcome(call, time.perf_counter() - started, answered, got))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def _describe(call: Call, result: dict[str, Any]) -> str:
    code = error_code(result)
    if code is not None:
        return f"error:{code}"
    if call.expect.startswith("ok:"):
        series = (result.get("structuredContent") or {}).get("series") or [{}]
        return f"ok:{series[0].get('value')}"
    return "ok"


def soak_calls(total: int, *, first_id: int = 1) -> list[Call]:
    """Mostly query_instant of vector(i) (the answer proves it belongs to its request), one
    call in ten a discovery tool, round-robin over the healthy and the failing datasources."""
    targets = [*HEALTHY, FAILING]
    end = prometheus_process.SYNTHETIC_END
    found: list[Call] = []
    for index in range(total):
        request_id = first_id + index
        datasource = targets[index % len(targets)]
        failing = datasource == FAILING
        if index % 10 == 3:
            found.append(Call(request_id, "list_datasources", {}, "ok"))
        elif index % 10 == 7:
            arguments = {"datasource_id": datasource, "pattern": "demo_.*", "end": end}
            expect = FAILING_CODE if failing else "ok"
            found.append(Call(request_id, "find_metrics_by_pattern", arguments, expect))
        else:
            value = request_id % 100_000
            arguments = {"datasource_id": datasource, "promql": f"vector({value})"}
            expect = FAILING_CODE if failing else f"ok:{value}"
            found.append(Call(request_id, "query_instant", arguments, expect))
    return found


# --- the report --------------------------------------------------------------------------


@dataclass
class Report:
    rss_of: str
    calls: int
    concurrency: int
    seconds: float
    rss_start_mb: float
    rss_warm_mb: float
    rss_end_mb: float
    p50_ms: float
    p99_ms: float
    unexpected: list[Outcome] = field(default_factory=list)
    unanswered_ids: list[int] = field(default_factory=list)

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_warm_mb

    def summary(self) -> str:
        return (
            f"soak: {self.calls} calls at concurrency {self.concurrency} in "
            f"{self.seconds:.1f} s ({self.calls / self.seconds:.0f} calls/s), "
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms; "
            f"unexpected {len(self.unexpected)}, unanswered {len(self.unanswered_ids)}; "
            f"RSS of {self.rss_of}: {self.rss_start_mb:.1f} MB at start, {self.rss_warm_mb:.1f} MB "
            f"warm, {self.rss_end_mb:.1f} MB after ({self.rss_growth_mb:+.1f} MB)"
        )


async def soak(server: Target, total: int, concurrency: int = 32) -> Report:
    limits = client_limits(concurrency)
    async with httpx.AsyncClient(trust_env=False, limits=limits, timeout=60) as http:
        rss_start = server.rss_mb()
        warm_up = soak_calls(min(200, total), first_id=10_000_000)
        await run(http, server.mcp_url, warm_up, concurrency)
        rss_warm = server.rss_mb()
        calls = soak_calls(total)
        started = time.perf_counter()
        outcomes = await run(http, server.mcp_url, calls, concurrency)
        seconds = time.perf_counter() - started
        rss_end = server.rss_mb()
    answered = {o.answered_id for o in outcomes}
    latencies = sorted(o.seconds for o in outcomes)
    return Report(
        rss_of=server.rss_of,
        calls=len(outcomes),
        concurrency=concurrency,
        seconds=seconds,
        rss_start_mb=rss_start,
        rss_warm_mb=rss_warm,
        rss_end_mb=rss_end,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))] * 1000,
        unexpected=[o for o in outcomes if not o.as_expected],
        unanswered_ids=[c.request_id for c in calls if c.request_id not in answered],
    )


def describe_unexpected(outcomes: Sequence[Outcome], limit: int = 5) -> str:
    shown = [
        f"id {o.call.request_id} {o.call.tool} {o.call.arguments.get('datasource_id')}: "
        f"expected {_expected(o.call)}, got {o.got} (answered id {o.answered_id})"
        for o in itertools.islice(outcomes, limit)
    ]
    return "; ".join(shown)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--calls", type=int, default=ISSUE_CALLS)
    parser.add_argument("--concurrency", type=int, default=32)
    arguments = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as name,
        prometheus_process.running_prometheus(pathlib.Path(name)) as prom,
    ):
        folder = pathlib.Path(name)
        refused = f"http://127.0.0.1:{harness.free_port()}"
        with server_process(folder, provisioning(prom.url, refused)) as server:
            report = asyncio.run(soak(server, arguments.calls, arguments.concurrency))
    print(report.summary(), flush=True)
    if report.unexpected:
        print("unexpected:", describe_unexpected(report.unexpected))
    if report.unexpected or report.unanswered_ids:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
