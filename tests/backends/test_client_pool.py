"""ClientPool: one HTTP client per datasource, kept while its Connection is unchanged,
retired (closed after a grace) when it changes or its datasource goes away."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from mcp_server.backends import pooling, prometheus
from mcp_server.sources import datasources
from tests.support import harness

GRACE_TIMEOUT = 0.1
"""Datasource timeout for these tests: a replaced client is closed after timeout + 1 s."""


def datasource(
    name: str = "alpha", *, org: str = "tenant-1", timeout: float | None = GRACE_TIMEOUT
) -> datasources.Datasource:
    return datasources.Datasource(
        id=datasources.DatasourceId(name),
        name=name,
        source=datasources.Source(datasources.SourceKind.FILE, "/etc/datasources.yaml"),
        connection=datasources.Connection(
            url="http://127.0.0.1:9/prometheus",
            timeout_seconds=timeout,
            headers=(("X-Scope-OrgID", SecretStr(org)),),
        ),
    )


def closed(client: prometheus.PrometheusClient) -> bool:
    return client.is_closed


eventually = harness.eventually


@pytest.fixture
async def pool() -> AsyncIterator[pooling.ClientPool]:
    pool = pooling.ClientPool(default_timeout=30.0, max_response_bytes=1024 * 1024)
    yield pool
    await pool.aclose()


async def test_the_same_connection_reuses_the_same_client(pool: pooling.ClientPool) -> None:
    first = pool.client_for(datasource())
    again = pool.client_for(datasource())  # an equal record, built anew as a reload would
    assert again is first
    assert not closed(first)


async def test_a_change_outside_the_connection_keeps_the_client(
    pool: pooling.ClientPool,
) -> None:
    original = datasource()
    client = pool.client_for(original)
    described = dataclasses.replace(original, description="now with a description")
    assert pool.client_for(described) is client


async def test_each_datasource_gets_its_own_client_even_with_equal_connections(
    pool: pooling.ClientPool,
) -> None:
    alpha = pool.client_for(datasource("alpha"))
    beta = pool.client_for(datasource("beta"))
    assert alpha is not beta
    assert (alpha.datasource_id, beta.datasource_id) == ("alpha", "beta")


async def test_the_datasource_timeout_wins_over_the_default(pool: pooling.ClientPool) -> None:
    assert pool.client_for(datasource("own", timeout=7.0)).timeout == 7.0
    assert pool.client_for(datasource("default", timeout=None)).timeout == 30.0


async def test_a_rotated_header_gives_a_new_client_and_the_old_one_closes_after_the_grace(
    pool: pooling.ClientPool,
) -> None:
    old = pool.client_for(datasource(org="tenant-1"))
    new = pool.client_for(datasource(org="tenant-2"))
    assert new is not old
    assert new.connection.headers[0][1].get_secret_value() == "tenant-2"
    assert not closed(old), "calls already using the old client must be able to finish"
    started = time.monotonic()
    await eventually(lambda: closed(old), timeout=old.timeout + 1.0 + 3.0)
    assert time.monotonic() - started < old.timeout + 1.0 + 3.0
    assert not closed(new)
    assert pool.client_for(datasource(org="tenant-2")) is new


async def test_prune_drops_clients_of_removed_datasources_and_keeps_the_others(
    pool: pooling.ClientPool,
) -> None:
    kept_record = datasource("kept")
    kept = pool.client_for(kept_record)
    gone = pool.client_for(datasource("gone"))
    pool.prune({kept_record.id: kept_record})
    assert pool.client_for(kept_record) is kept
    await eventually(lambda: closed(gone), timeout=gone.timeout + 1.0 + 3.0)
    assert not closed(kept)
    fresh = pool.client_for(datasource("gone"))
    assert fresh is not gone and not closed(fresh)


async def test_prune_drops_clients_whose_connection_changed(pool: pooling.ClientPool) -> None:
    old = pool.client_for(datasource(org="tenant-1"))
    rotated = datasource(org="tenant-2")
    pool.prune({rotated.id: rotated})
    await eventually(lambda: closed(old), timeout=old.timeout + 1.0 + 3.0)
    assert pool.client_for(rotated) is not old


async def test_aclose_closes_every_current_client() -> None:
    pool = pooling.ClientPool(default_timeout=30.0, max_response_bytes=1024 * 1024)
    clients = [pool.client_for(datasource(name)) for name in ("alpha", "beta", "gamma")]
    assert not any(closed(c) for c in clients)
    await pool.aclose()
    assert all(closed(c) for c in clients)


async def test_aclose_also_closes_clients_still_in_their_grace() -> None:
    pool = pooling.ClientPool(default_timeout=30.0, max_response_bytes=1024 * 1024)
    retiring = pool.client_for(datasource(org="tenant-1"))
    current = pool.client_for(datasource(org="tenant-2"))
    await pool.aclose()
    assert closed(current)
    assert closed(retiring)
