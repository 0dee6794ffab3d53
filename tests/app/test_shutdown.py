"""SIGTERM with a call in flight: the call completes, /ready turns 503 at once, new
connections are refused (after SHUTDOWN_DELAY_SECONDS, still accepted until then), and the
process exits 0 within its grace period."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from bench import soak
from tests.support import harness
from tests.support.prometheus_process import RunningPrometheus

DELAY_SECONDS = 2.0


class SlowBackend(harness.ScalarBackend):
    scalar = "7"

    def answer(self) -> None:
        time.sleep(DELAY_SECONDS)


@pytest.fixture
def slow_backend() -> Iterator[str]:
    with harness.http_server(SlowBackend) as url:
        yield url


async def test_sigterm_lets_the_call_in_flight_finish_and_exits_cleanly(
    tmp_path: pathlib.Path, slow_backend: str
) -> None:
    provisioning = tmp_path / "ds.json"
    provisioning.write_text(
        json.dumps({"datasources": [{"name": "slow", "type": "prometheus", "url": slow_backend}]})
    )
    port, health = harness.free_port(), harness.free_port()
    environment = {k: v for k, v in os.environ.items() if k not in ("HOST", "AUTH_MODE")}
    environment.update(
        PORT=str(port),
        HEALTH_METRICS_PORT=str(health),
        GRAFANA_DATASOURCES_PATH=str(provisioning),
        SHUTDOWN_TIMEOUT_SECONDS="8",
    )
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_server"], env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        async with httpx.AsyncClient() as http:

            async def ready_status() -> int:
                try:
                    return (await http.get(f"http://127.0.0.1:{health}/ready")).status_code
                except httpx.HTTPError:
                    return 0

            deadline = time.monotonic() + 30
            while await ready_status() != 200:
                assert time.monotonic() < deadline and process.poll() is None
                await asyncio.sleep(0.05)
            # One raw tools/call: a client library may open more connections around it.
            request = {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {
                    "name": "query_instant",
                    "arguments": {"datasource_id": "slow", "promql": "vector(7)"},
                },
            }
            call = asyncio.create_task(
                http.post(
                    f"http://127.0.0.1:{port}/mcp/",
                    json=request,
                    headers={"Accept": "application/json, text/event-stream"},
                    timeout=15,
                )
            )
            await asyncio.sleep(DELAY_SECONDS / 2)  # the call is now waiting on the backend
            assert not call.done()
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            assert await ready_status() == 503, "not ready while draining"
            response = await call
            assert response.status_code == 200
            assert response.json()["result"]["structuredContent"]["scalar"] == 7
        with pytest.raises(httpx.ConnectError):
            httpx.post(f"http://127.0.0.1:{port}/mcp/", json=harness.INITIALIZE, timeout=2)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


async def test_with_a_shutdown_delay_new_calls_are_still_answered_while_not_ready(
    tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    """SHUTDOWN_DELAY_SECONDS: the Service keeps routing to a terminating pod until its
    endpoint is removed, so the pod keeps accepting new calls with /ready false."""
    document = {"datasources": [{"name": "prom", "type": "prometheus", "url": prometheus.url}]}
    with soak.server_process(tmp_path, document, SHUTDOWN_DELAY_SECONDS="60") as server:
        server.process.send_signal(signal.SIGTERM)
        async with httpx.AsyncClient(trust_env=False) as http:
            deadline = time.monotonic() + 10
            while (await http.get(f"{server.health_url}/ready")).status_code != 503:
                assert time.monotonic() < deadline, "/ready stayed 200 after SIGTERM"
                await asyncio.sleep(0.05)
        async with httpx.AsyncClient(trust_env=False) as fresh:  # a new connection
            answer = await soak.call_tool(
                fresh,
                server.mcp_url,
                1,
                "query_instant",
                {"datasource_id": "prom", "promql": "vector(5)"},
            )
        assert answer["result"]["structuredContent"]["series"] == [{"labels": {}, "value": 5}]
        assert server.process.poll() is None
        server.process.kill()
