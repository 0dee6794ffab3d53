"""How investigate_alert finds the datasource on the other side of an alert: the links an
Alertmanager declares (alertsFrom), read with the caller's own access, so a link never
reaches a datasource the caller may not use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcp_server.auth import authorization, identity
from mcp_server.backends import live, pooling
from mcp_server.sources import datasources, registry
from mcp_server.tools import locating

CR, FILE = datasources.SourceKind.CUSTOM_RESOURCE, datasources.SourceKind.FILE
AM = datasources.DatasourceKind.ALERTMANAGER


def declared(source: datasources.SourceKind, location: str, **fields: Any) -> registry.Contribution:
    ident = fields.pop("id", location)
    datasource = datasources.Datasource(
        id=datasources.DatasourceId(ident),
        name=ident,
        source=datasources.Source(source, location),
        connection=datasources.Connection(url="http://127.0.0.1:9"),
        **fields,
    )
    return registry.Contribution(datasource.source, (datasource,))


class OnlyThese(authorization.Authorizer):
    """Allows the datasources declared at `locations`, whoever asks."""

    def __init__(self, *locations: str) -> None:
        self.locations = set(locations)

    async def allowed(self, who: identity.Identity, source: datasources.Source) -> bool:
        return source.location in self.locations


@pytest.fixture
async def pool() -> AsyncIterator[pooling.ClientPool]:
    pool = pooling.ClientPool(default_timeout=5, max_response_bytes=1 << 20)
    yield pool
    await pool.aclose()


def linked_registry() -> registry.Registry:
    live_registry = registry.Registry()
    live_registry.put_many(
        [
            declared(CR, "mon/am", kind=AM, alerts_from=("prom", "other")),
            declared(CR, "mon/prom"),
            declared(FILE, "/etc/ds.yaml", id="prom"),
            declared(FILE, "/etc/other.yaml", id="other"),
        ]
    )
    return live_registry


async def test_a_bare_link_in_a_custom_resource_means_its_own_namespace_first(
    pool: pooling.ClientPool,
) -> None:
    live_registry = linked_registry()
    backends = live.Backends(live_registry, pool)
    am = live_registry.current().datasources[datasources.DatasourceId("mon/am")]
    notes: list[str] = []
    found = await locating.linked_prometheus(backends, am, notes)
    assert [b.datasource.id for b in found] == ["mon/prom", "other"]
    assert notes == []


async def test_links_reach_only_the_datasources_the_caller_may_use(
    pool: pooling.ClientPool,
) -> None:
    live_registry = linked_registry()
    backends = live.Backends(live_registry, pool, authorizer=OnlyThese("mon/am", "/etc/other.yaml"))
    snapshot = live_registry.current().datasources
    am = snapshot[datasources.DatasourceId("mon/am")]
    token = identity.current.set(identity.Identity(username="on-call"))
    try:
        notes: list[str] = []
        found = await locating.linked_prometheus(backends, am, notes)
        assert [b.datasource.id for b in found] == ["other"]
        assert notes == ["1 linked datasource(s) not served, not Prometheus, or not yours"]
        # From a Prometheus: the Alertmanager that links it is used only when the caller may.
        prom = snapshot[datasources.DatasourceId("mon/prom")]
        backends.authorizer = OnlyThese("mon/prom")
        assert await locating.linked_alertmanager(backends, prom) is None
        backends.authorizer = OnlyThese("mon/prom", "mon/am")
        linked = await locating.linked_alertmanager(backends, prom)
        assert linked is not None and linked.datasource.id == "mon/am"
    finally:
        identity.current.reset(token)
