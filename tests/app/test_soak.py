"""Load: a bounded soak, and a hanging datasource that must not slow the others.

proms-mcp serves in a thread of the test process (its own process would spend 5-30 s on
imports here; `python -m bench.soak` runs it as its own process) on a real Prometheus
through three datasources, plus one on a closed port and one whose backend accepts
connections and never answers. The soak's size is PROMS_MCP_SOAK_CALLS (default 2000, about
15-40 s here); the issue's figure is 20,000 calls, which `make bench` runs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import statistics
import threading
from collections.abc import Iterator

import httpx
import pytest

from bench import soak
from tests.support import harness
from tests.support.prometheus_process import RunningPrometheus

CALLS = int(os.environ.get("PROMS_MCP_SOAK_CALLS", "2000"))
RSS_GROWTH_LIMIT_MB = 50.0
HANGING = "soak-hanging"
QUERY_TIMEOUT_SECONDS = 3
SLOWDOWN_LIMIT = 3.0
"""Healthy p50 under the fault / its baseline: generous, the machine is shared and noisy."""


@pytest.fixture(scope="module")
def hanging() -> Iterator[tuple[str, list[socket.socket]]]:
    """A backend that accepts every connection, reads nothing, answers nothing: its URL and
    the connections it holds."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    closing = threading.Event()

    def accept() -> None:
        while not closing.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, name="hanging-backend", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", held
    finally:
        closing.set()
        thread.join()
        listener.close()
        for connection in held:
            connection.close()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    prometheus: RunningPrometheus,
    closed_port_url: str,
    hanging: tuple[str, list[socket.socket]],
) -> Iterator[soak.ServerThread]:
    path = tmp_path_factory.mktemp("soak") / "datasources.json"
    path.write_text(
        json.dumps(soak.provisioning(prometheus.url, closed_port_url, **{HANGING: hanging[0]}))
    )
    with harness.serving_file(
        path,
        # The load generator is one caller (one address) with up to 32 calls in flight;
        # tests/protocol/test_caller_limit.py tests the per-caller limit.
        server={"max_calls_per_caller": soak.LOAD_GENERATOR_CALLS},
        prometheus={"query_timeout_seconds": QUERY_TIMEOUT_SECONDS},
        logging={"level": "WARNING"},
    ) as running:
        yield soak.ServerThread(running)


@pytest.mark.timeout(60 + CALLS // 20)
async def test_a_soak_answers_every_call_as_expected_without_growing(
    server: soak.ServerThread,
) -> None:
    report = await soak.soak(server, CALLS, concurrency=32)
    print(report.summary())
    assert report.calls == CALLS
    assert not report.unanswered_ids, f"{len(report.unanswered_ids)} calls got no answer"
    assert not report.unexpected, (
        f"{len(report.unexpected)} unexpected: {soak.describe_unexpected(report.unexpected)}"
    )
    assert report.rss_growth_mb < RSS_GROWTH_LIMIT_MB, report.summary()
    async with httpx.AsyncClient(trust_env=False) as http:
        assert (await http.get(f"{server.health_url}/ready")).status_code == 200


async def _healthy_p50(http: httpx.AsyncClient, url: str, rounds: int = 200) -> float:
    calls = [
        soak.Call(
            100_000 + index,
            "query_instant",
            {"datasource_id": soak.HEALTHY[index % 3], "promql": f"vector({index})"},
            f"ok:{index}",
        )
        for index in range(rounds)
    ]
    outcomes = await soak.run(http, url, calls, concurrency=4)
    unexpected = [o for o in outcomes if not o.as_expected]
    assert not unexpected, soak.describe_unexpected(unexpected)
    return statistics.median(o.seconds for o in outcomes)


def _hanging_calls(stop: asyncio.Event) -> Iterator[soak.Call]:
    for index in itertools.count():
        if stop.is_set():
            return
        arguments = {"datasource_id": HANGING, "promql": f"vector({index})"}  # not coalesced
        yield soak.Call(200_000 + index, "query_instant", arguments, "timeout")


async def test_a_hanging_datasource_does_not_slow_the_others(
    server: soak.ServerThread, hanging: tuple[str, list[socket.socket]]
) -> None:
    _, held = hanging
    limits = soak.client_limits(64)
    async with httpx.AsyncClient(trust_env=False, limits=limits, timeout=60) as http:
        await _healthy_p50(http, server.mcp_url, rounds=40)  # warm-up
        baseline = await _healthy_p50(http, server.mcp_url)

        stop = asyncio.Event()  # 16 calls stuck on the hanging backend until the end
        hung = asyncio.create_task(soak.run(http, server.mcp_url, _hanging_calls(stop), 16))
        await harness.eventually(lambda: len(held) >= 16, timeout=QUERY_TIMEOUT_SECONDS)
        under_fault = await _healthy_p50(http, server.mcp_url)
        stop.set()
        stuck = await hung
        baseline_after = await _healthy_p50(http, server.mcp_url)

    reference = statistics.median([baseline, baseline_after])
    print(
        f"healthy p50: {baseline * 1000:.1f} ms before, {under_fault * 1000:.1f} ms with "
        f"16 calls hanging on {HANGING} ({len(stuck)} timed out), "
        f"{baseline_after * 1000:.1f} ms after"
    )
    assert stuck and all(o.got == "error:timeout" for o in stuck), {o.got for o in stuck}
    assert under_fault <= SLOWDOWN_LIMIT * reference
