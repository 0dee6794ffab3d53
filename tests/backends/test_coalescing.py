"""Identical requests in flight share one upstream request; one backend never gets more than
its share of concurrent requests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from mcp_server.backends import prometheus
from mcp_server.sources import datasources
from tests.support import harness


class CountingBackend(harness.ScalarBackend):
    """Slow enough for requests to overlap; counts requests and the most at once."""

    lock = threading.Lock()
    requests = 0
    active = 0
    most = 0

    def answer(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.requests += 1
            cls.active += 1
            cls.most = max(cls.most, cls.active)
        time.sleep(0.3)
        with cls.lock:
            cls.active -= 1


@pytest.fixture
def backend() -> Iterator[str]:
    CountingBackend.requests = CountingBackend.active = CountingBackend.most = 0
    with harness.http_server(CountingBackend) as url:
        yield url


def client(url: str) -> prometheus.PrometheusClient:
    datasource = datasources.Datasource(
        id=datasources.DatasourceId("counted"),
        name="counted",
        source=datasources.Source(datasources.SourceKind.FILE, "test"),
        connection=datasources.Connection(url=url),
    )
    return prometheus.PrometheusClient(datasource, default_timeout=10, max_response_bytes=1 << 20)


async def test_identical_concurrent_queries_share_one_upstream_request(backend: str) -> None:
    upstream = client(backend)
    try:
        params = [("query", "up"), ("time", "1700000000")]
        answers = await asyncio.gather(*(upstream.get("/api/v1/query", params) for _ in range(10)))
        assert CountingBackend.requests == 1
        assert {a.data["result"][1] for a in answers} == {"1"}  # type: ignore[index,call-overload]
        await upstream.get("/api/v1/query", [("query", "up"), ("time", "1700000001")])
        assert CountingBackend.requests == 2  # a different request is not shared
    finally:
        await upstream.aclose()


async def test_one_backend_gets_at_most_its_share_of_concurrent_requests(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prometheus, "MAX_CONCURRENT_PER_DATASOURCE", 2)
    upstream = client(backend)
    try:
        queries = [upstream.get("/api/v1/query", [("query", f"q{i}")]) for i in range(6)]
        await asyncio.gather(*queries)
        assert CountingBackend.requests == 6
        assert CountingBackend.most == 2
    finally:
        await upstream.aclose()


async def test_discovery_answers_are_cached_briefly(backend: str) -> None:
    upstream = client(backend)
    try:
        path, params = "/api/v1/labels", [("start", "0"), ("end", "60")]  # sent as POST
        await upstream.get(path, params, cache_seconds=15)
        await upstream.get(path, params, cache_seconds=15)
        assert CountingBackend.requests == 1
        await upstream.get(path, params)  # queries (no cache_seconds) always go upstream
        assert CountingBackend.requests == 2
    finally:
        await upstream.aclose()
