"""One caller cannot starve the others: past MAX_CALLS_PER_CALLER (8) calls in flight, a
caller's next call is refused at once with a retryable `too_many_calls` naming the limit,
on the tools/call fast path and the SDK's path alike, while another caller's calls to the
same datasource are answered.

Callers here are told apart by their address (authentication off): the first calls from
127.0.0.1, the other from 127.0.0.2. The datasource is a proxy in front of the real
Prometheus that holds every query carrying `hold` until the test releases it, so the first
caller's calls stay in flight as long as the test needs; without the limit they took all 32
of the backend's connections and the other caller's calls waited behind them. With
AUTH_MODE=active callers are told apart by their user (tests/auth/test_auth.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest

from tests.support import answers, harness
from tests.support.harness import RunningServer
from tests.support.prometheus_process import RunningPrometheus

LIMIT = 8
OTHER_CALLER = "127.0.0.2"


class HoldingProxy(harness.Handler):
    """Forwards to Prometheus; a query with `hold` in it waits for `release` first."""

    url: ClassVar[str] = ""
    prometheus: ClassVar[str] = ""
    release: ClassVar[threading.Event] = threading.Event()
    held: ClassVar[int] = 0
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if b"hold" in body:
            with self.lock:
                type(self).held += 1
            self.release.wait(timeout=60)
            with self.lock:
                type(self).held -= 1
        request = urllib.request.Request(
            self.prometheus + self.path,
            body,
            {"Content-Type": self.headers.get("Content-Type", "")},
        )
        with urllib.request.urlopen(request, timeout=30) as upstream:
            self.reply(upstream.read(), status=upstream.status)


@pytest.fixture(scope="module")
def proxy(prometheus: RunningPrometheus) -> Iterator[type[HoldingProxy]]:
    HoldingProxy.prometheus = prometheus.url
    with harness.http_server(HoldingProxy) as url:
        HoldingProxy.url = url
        yield HoldingProxy
    HoldingProxy.release.set()


@pytest.fixture(scope="module", params=["fast path", "SDK"])
def limited(
    request: pytest.FixtureRequest,
    proxy: type[HoldingProxy],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningServer]:
    path = tmp_path_factory.mktemp("limit") / "datasources.json"
    document = {"datasources": [{"name": "shared", "type": "prometheus", "url": proxy.url}]}
    path.write_text(json.dumps(document))
    fast = request.param == "fast path"
    with harness.serving_file(path, server={"fast_path": fast}) as running:
        assert running.application.fast_path.status.on is fast
        yield running


async def query(http: httpx.AsyncClient, url: str, promql: str, request_id: int) -> dict[str, Any]:
    """One query_instant on `shared`: its structured answer, or its error object."""
    body, headers = answers.tool_call(
        "query_instant", {"datasource_id": "shared", "promql": promql}, request_id=request_id
    )
    response = await http.post(url, json=body, headers=headers)
    result = response.json()["result"]
    if result.get("isError"):
        error: dict[str, Any] = json.loads(result["content"][0]["text"])["error"]
        return error
    structured: dict[str, Any] = result["structuredContent"]
    return structured


def caller(address: str | None = None) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address) if address else None
    limits = httpx.Limits(max_connections=100)
    return httpx.AsyncClient(transport=transport, trust_env=False, timeout=60, limits=limits)


def held_query(index: int) -> str:
    return f'label_replace(vector({index}), "hold", "yes", "", "")'  # distinct: not coalesced


async def test_a_caller_past_its_limit_is_refused_at_once_while_others_are_answered(
    limited: RunningServer, proxy: type[HoldingProxy]
) -> None:
    proxy.release.clear()
    url = limited.mcp_url
    refused_before = harness.metric(
        limited.health_url, "proms_mcp_tool_calls_total", outcome="too_many_calls"
    )
    async with caller() as first, caller(OTHER_CALLER) as other:
        calls = [asyncio.create_task(query(first, url, held_query(i), i)) for i in range(64)]
        try:
            await harness.eventually(
                lambda: proxy.held == LIMIT and sum(c.done() for c in calls) == 64 - LIMIT
            )
            refused = [c.result() for c in calls if c.done()]
            assert all(r["code"] == "too_many_calls" for r in refused), refused[:3]
            assert all(r["retryable"] is True and r["limit"] == LIMIT for r in refused)
            assert "MAX_CALLS_PER_CALLER" in refused[0]["message"]

            answered = await asyncio.wait_for(
                asyncio.gather(*(query(other, url, f"vector({i})", 100 + i) for i in range(8))),
                timeout=30,
            )
            assert [a["series"][0]["value"] for a in answered] == list(range(8))
            assert proxy.held == LIMIT  # the first caller's calls are still in flight
        finally:
            proxy.release.set()
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
    held_answers = [o for o in outcomes if isinstance(o, dict) and "series" in o]
    assert len(held_answers) == LIMIT, outcomes
    refused_after = harness.metric(
        limited.health_url, "proms_mcp_tool_calls_total", outcome="too_many_calls"
    )
    assert refused_after - refused_before == 64 - LIMIT


async def test_finished_calls_free_their_slots_whatever_their_outcome(
    limited: RunningServer,
) -> None:
    async with caller() as first:
        for i in range(3 * LIMIT):
            promql = f"vector({i})" if i % 2 else "vector("  # an error every other call
            answer = await query(first, limited.mcp_url, promql, i)
            assert answer.get("code") != "too_many_calls", answer
        answered = await asyncio.gather(
            *(query(first, limited.mcp_url, f"vector({i})", i) for i in range(LIMIT))
        )
    assert all("series" in a for a in answered), answered
