"""Connections are shared per origin: many datasources on one backend hold at most
MAX_CONNECTIONS_PER_ORIGIN connections to it, and each request still carries only its own
datasource's headers and parameters."""

from __future__ import annotations

import asyncio
import os
import pathlib
import threading
import urllib.parse
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from pydantic import SecretStr

from mcp_server.backends import connections, pooling
from mcp_server.sources import datasources
from tests.support import harness
from tests.support.prometheus_process import RunningPrometheus

CAP = 4
TENANTS = 200


def _datasource(name: str, url: str, **connection: object) -> datasources.Datasource:
    return datasources.Datasource(
        id=datasources.DatasourceId(name),
        name=name,
        source=datasources.Source(datasources.SourceKind.FILE, "/etc/datasources.yaml"),
        connection=datasources.Connection(url=url, **connection),  # type: ignore[arg-type]
    )


def _tenant(n: int, url: str) -> datasources.Datasource:
    return _datasource(
        f"tenant-{n}",
        url,
        headers=(("X-Scope-OrgID", SecretStr(f"tenant-{n}")),),
        query_parameters=(("tenant", str(n)),),
    )


@pytest.fixture
async def pool() -> AsyncIterator[pooling.ClientPool]:
    pool = pooling.ClientPool(
        default_timeout=30.0, max_response_bytes=1 << 20, max_connections_per_origin=CAP
    )
    yield pool
    await pool.aclose()


def _open_connections_to(port: int) -> int:
    """This process's established TCP connections to `port` on loopback (Linux /proc)."""
    ours = set()
    for fd in pathlib.Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(target[8:-1])
    count = 0
    for line in pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[3] == "01" and fields[9] in ours:
            count += 1
    return count


def test_the_origin_is_what_decides_the_connection_never_the_request() -> None:
    a = _tenant(1, "http://Prom.example:9090/prometheus")
    b = _tenant(2, "http://prom.example:9090/other-path")
    assert connections.Origin.of(a.connection) == connections.Origin.of(b.connection)
    other_port = _tenant(3, "http://prom.example:9091")
    https = _tenant(4, "https://prom.example:9090")
    named = _datasource(
        "sni", "http://prom.example:9090", tls=datasources.TLSSettings(server_name="x")
    )
    origins = {connections.Origin.of(d.connection) for d in (a, other_port, https, named)}
    assert len(origins) == 4


async def test_two_hundred_tenants_on_one_backend_share_at_most_the_cap_of_connections(
    pool: pooling.ClientPool, prometheus: RunningPrometheus
) -> None:
    clients = [pool.client_for(_tenant(n, prometheus.url)) for n in range(TENANTS)]
    before = _open_connections_to(prometheus.port)  # other clients of this test process
    peak = 0
    stop = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _open_connections_to(prometheus.port))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    answers = await asyncio.gather(
        *(c.get("/api/v1/query", [("query", f"vector({n})")]) for n, c in enumerate(clients))
    )
    stop.set()
    await watcher
    assert len(answers) == TENANTS
    assert 0 < peak - before <= CAP
    assert len(pool.sessions.origins()) == 1


class Recorder(harness.ScalarBackend):
    """Records each request's tenant header and the `tenant` parameter of its form body."""

    seen: ClassVar[list[tuple[str | None, list[str]]]] = []
    lock = threading.Lock()

    def answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = urllib.parse.parse_qs(body)
        with self.lock:
            type(self).seen.append((self.headers.get("X-Scope-OrgID"), form.get("tenant", [])))


async def test_a_shared_connection_carries_each_datasources_own_headers_and_parameters(
    pool: pooling.ClientPool,
) -> None:
    with harness.http_server(Recorder) as url:
        clients = [pool.client_for(_tenant(n, url)) for n in range(20)]
        await asyncio.gather(
            *(c.get("/api/v1/query", [("query", str(i))]) for c in clients for i in range(3))
        )
    assert len(Recorder.seen) == 60
    for org, tenant in Recorder.seen:
        assert org is not None and tenant == [org.removeprefix("tenant-")], (org, tenant)
    assert len({org for org, _ in Recorder.seen}) == 20
