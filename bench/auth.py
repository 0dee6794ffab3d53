"""`python -m bench.auth`: what AUTH_MODE=active costs, against an API that takes 5 ms to
answer each TokenReview and SubjectAccessReview.

Configuration: two `proms-mcp serve` processes (the shipped console script, operator mode,
LOG_LEVEL=WARNING) on one KMock over HTTP holding one PrometheusDatasource on the test
Prometheus: one with AUTH_MODE=none, one with AUTH_MODE=active (every token is a user of its
own, allowed to query). The load generator speaks raw HTTP (`bench/rawhttp.py`), one
connection per client, `query_instant` with a distinct `vector(i)` per call.

- steady state: calls/s at concurrency 32 with one token whose reviews are cached, in rounds
  interleaved with the same load on AUTH_MODE=none (the median of each, and their ratio);
- a new token's first call (a TokenReview and a SubjectAccessReview on its way), against a
  cached token's call, one call at a time (medians);
- calls/s at concurrency 32 when every call brings a new token.

KMock is `tests/support/leases.LeasingEmulator`, which trims KMock's request log: KMock scans
it on every request, so with every call bringing a new token (two reviews a call) an untrimmed
log makes KMock, not proms-mcp, the bottleneck.

Writes bench/results/auth.md and auth.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import pathlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import kmock

import bench
from bench import kubeapi, rawhttp, soak
from tests.support import kube, leases, prometheus_process

LATENCY_SECONDS = 0.005
CONCURRENCY, CALLS, ROUNDS, FIRST_CALLS = 32, 2000, 3, 30
DATASOURCE = f"{kubeapi.NAMESPACE}/ds-0000"


class _Reviews:
    """Every token is a user of its own, allowed everything; each answer takes 5 ms."""

    async def token_review(self, request: kmock.Request) -> Any:
        await asyncio.sleep(LATENCY_SECONDS)
        token = request.data["spec"]["token"]
        status = {"authenticated": True, "user": {"username": f"user-{token}"}}
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}
        return kmock.Response(status=200, payload=body)  # type: ignore[attr-defined]

    async def access_review(self, request: kmock.Request) -> Any:
        await asyncio.sleep(LATENCY_SECONDS)
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "status": {"allowed": True},
        }
        return kmock.Response(status=200, payload=body)  # type: ignore[attr-defined]


def _answer_reviews(api: kubeapi.KubeApi) -> None:
    async def react() -> None:
        kube.answer_reviews(api.emulator, _Reviews())

    api.call(react)


Token = Callable[[int], str | None]
"""The bearer token of call number i (None: no Authorization header)."""


async def _calls(url: str, token: Token, concurrency: int, total: int) -> list[float]:
    """`total` tool calls at `concurrency`; each call's latency in seconds."""
    path = "/" + url.split("/", 3)[3]
    serial = itertools.count()
    latencies: list[float] = []

    async def client() -> None:
        connection = rawhttp.Connection(url)
        try:
            while len(latencies) < total:
                number = next(serial)
                arguments = {"datasource_id": DATASOURCE, "promql": f"vector({number})"}
                params = {"name": "query_instant", "arguments": arguments}
                request = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params}
                headers = {"Content-Type": "application/json", **soak.MCP_HEADERS}
                bearer = token(number)
                if bearer is not None:
                    headers["Authorization"] = f"Bearer {bearer}"
                started = time.perf_counter()
                response = await connection.post(path, json.dumps(request).encode(), headers)
                answer = response.json()
                if not isinstance(answer, dict) or answer["result"].get("isError"):
                    raise RuntimeError(response.body[:300].decode())
                latencies.append(time.perf_counter() - started)
        finally:
            await connection.aclose()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


def _rate(latencies: list[float], wall: float) -> float:
    return len(latencies) / wall


async def _timed(url: str, token: Token, concurrency: int, total: int) -> float:
    started = time.perf_counter()
    latencies = await _calls(url, token, concurrency, total)
    return _rate(latencies, time.perf_counter() - started)


async def _measure(none_url: str, active_url: str) -> dict[str, Any]:
    cached: Token = lambda _: "bench-cached"  # noqa: E731
    await _calls(active_url, cached, 1, 1)  # its reviews now cached
    await _calls(none_url, lambda _: None, CONCURRENCY, 200)  # warm both
    await _calls(active_url, cached, CONCURRENCY, 200)
    rounds: dict[str, list[float]] = {"none": [], "active": []}
    for _ in range(ROUNDS):
        rounds["none"].append(await _timed(none_url, lambda _: None, CONCURRENCY, CALLS))
        rounds["active"].append(await _timed(active_url, cached, CONCURRENCY, CALLS))
    fresh = itertools.count()
    first = [
        (await _calls(active_url, lambda _: f"bench-new-{next(fresh)}", 1, 1))[0]
        for _ in range(FIRST_CALLS)
    ]
    warm = await _calls(active_url, cached, 1, FIRST_CALLS)
    every_call_new = await _timed(active_url, lambda i: f"bench-every-{i}", CONCURRENCY, CALLS // 2)
    none, active = statistics.median(rounds["none"]), statistics.median(rounds["active"])
    return {
        "review_latency_ms": LATENCY_SECONDS * 1000,
        "rounds": rounds,
        "none_calls_per_s": none,
        "active_cached_calls_per_s": active,
        "active_over_none": active / none,
        "new_token_first_call_ms": statistics.median(first) * 1000,
        "cached_token_call_ms": statistics.median(warm) * 1000,
        "new_token_every_call_calls_per_s": every_call_new,
    }


@contextlib.contextmanager
def _servers(folder: pathlib.Path, api: kubeapi.KubeApi) -> Iterator[tuple[str, str]]:
    kubeconfig = str(api.kubeconfig)
    with (
        soak.server_process(
            folder / "none",
            None,
            AUTH_MODE="none",
            PROMS_MCP_MODE="operator",
            EGRESS_ALLOW="127.0.0.1",
            KUBECONFIG=kubeconfig,
        ) as none,
        soak.server_process(
            folder / "active",
            None,
            AUTH_MODE="active",
            PROMS_MCP_MODE="operator",
            EGRESS_ALLOW="127.0.0.1",
            KUBECONFIG=kubeconfig,
        ) as active,
    ):
        yield none.mcp_url, active.mcp_url


def run() -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as name,
        prometheus_process.running_prometheus(pathlib.Path(name)) as prom,
    ):
        folder = pathlib.Path(name)
        (folder / "none").mkdir()
        (folder / "active").mkdir()
        body = kube.datasource(kubeapi.NAMESPACE, "ds-0000", url=prom.url)
        with (
            kubeapi.serving(folder, [body], emulator_class=leases.LeasingEmulator) as api,
        ):
            _answer_reviews(api)
            with _servers(folder, api) as (none_url, active_url):
                report = asyncio.run(_measure(none_url, active_url))
    return report


def markdown(report: dict[str, Any]) -> str:
    cached = f"{report['active_cached_calls_per_s']:.0f} ({report['active_over_none']:.0%} of none)"
    rows: list[list[object]] = [
        ["AUTH_MODE=none", f"{report['none_calls_per_s']:.0f}"],
        ["AUTH_MODE=active, one token (reviews cached)", cached],
        [
            "AUTH_MODE=active, a new token (and user) every call",
            f"{report['new_token_every_call_calls_per_s']:.0f}",
        ],
    ]
    header = "`proms-mcp` operator, reviews answered in 5 ms | calls/s at concurrency 32"
    return bench.table(header, rows) + (
        f"\nA new token's first call: {report['new_token_first_call_ms']:.1f} ms "
        f"(a cached token's: {report['cached_token_call_ms']:.1f} ms), one call at a time.\n"
    )


if __name__ == "__main__":
    bench.main("auth", run, markdown, entry_point=soak.PROMS_MCP.name)
