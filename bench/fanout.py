"""`python -m bench.fanout`: one fleet question to 20 datasources against the slowest of them.

One real Prometheus behind 20 loopback proxies that add 5, 10, ... 100 ms; the shipped
`proms-mcp` (standalone, the datasources in a provisioning file) asks all 20 with
`query_instant(labels="fleet=bench")`. The goal: the fleet answer within 1.5x the slowest
backend's latency (measured directly through its proxy) plus 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx

from bench import save, soak
from tests.support import harness, prometheus_process

FLEET = 20
STEP_MS = 5


def _proxy(upstream: str, delay_ms: int) -> type[harness.Handler]:
    class Delayed(harness.Handler):
        def _forward(self, body: bytes | None) -> None:
            time.sleep(delay_ms / 1000)
            request = urllib.request.Request(
                upstream + self.path,
                data=body,
                method=self.command,
                headers={"Content-Type": self.headers.get("Content-Type", "text/plain")},
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                self.reply(answer.read(), status=answer.status)

        def do_GET(self) -> None:
            self._forward(None)

        def do_POST(self) -> None:
            self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    return Delayed


def _direct_ms(url: str, calls: int) -> float:
    """Median latency of an instant query straight to one proxied backend."""
    took = []
    with httpx.Client(trust_env=False) as http:
        for n in range(calls):
            started = time.perf_counter()
            http.post(f"{url}/api/v1/query", data={"query": "up", "time": str(time.time() - n)})
            took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


async def _fleet_ms(mcp_url: str, calls: int) -> list[float]:
    took = []
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        for n in range(calls):
            arguments = {"promql": "up", "labels": "fleet=bench", "time": time.time() - n}
            started = time.perf_counter()
            answer = await soak.call_tool(http, mcp_url, n + 1, "query_instant", arguments)
            took.append((time.perf_counter() - started) * 1000)
            coverage = answer["result"]["structuredContent"]["coverage"]
            if coverage["answered"] != FLEET:
                raise RuntimeError(f"not every datasource answered: {coverage}")
    return took


def run(calls: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as folder,
        prometheus_process.running_prometheus(Path(folder) / "prometheus") as prometheus,
    ):
        proxies = []
        with contextlib.ExitStack() as stack:
            for n in range(1, FLEET + 1):
                handler = _proxy(prometheus.url, n * STEP_MS)
                proxies.append(stack.enter_context(harness.http_server(handler)))
            document = {
                "apiVersion": 1,
                "datasources": [
                    {
                        "name": f"fleet-{n:02d}",
                        "type": "prometheus",
                        "url": url,
                        "jsonData": {"labels": {"fleet": "bench"}},
                    }
                    for n, url in enumerate(proxies, 1)
                ],
            }
            direct = [_direct_ms(url, calls) for url in proxies]
            with soak.server_process(Path(folder), document) as server:
                asyncio.run(_fleet_ms(server.mcp_url, 3))  # warm: connections, reviews
                fleet = asyncio.run(_fleet_ms(server.mcp_url, calls))
    slowest = max(direct)
    return {
        "datasources": FLEET,
        "slowest_backend_ms": round(slowest, 1),
        "fleet_p50_ms": round(statistics.median(fleet), 1),
        "fleet_p90_ms": round(sorted(fleet)[int(len(fleet) * 0.9) - 1], 1),
        "goal_ms": round(1.5 * slowest + 20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout")
    parser.add_argument("--calls", type=int, default=30)
    report = run(parser.parse_args().calls)
    table = (
        "| fleet | slowest backend p50 ms | fleet answer p50 / p90 ms | goal (1.5x + 20 ms) |\n"
        "|---|---|---|---|\n"
        f"| {report['datasources']} datasources, `proms-mcp` standalone | "
        f"{report['slowest_backend_ms']} | {report['fleet_p50_ms']} / {report['fleet_p90_ms']} "
        f"| {report['goal_ms']} |\n"
    )
    save("fanout", report, table)


if __name__ == "__main__":
    main()
