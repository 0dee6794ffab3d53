"""The registry: atomic snapshots, one slot per source, collisions reported never hidden."""

from __future__ import annotations

from mcp_server.sources import datasources, registry

FILE = datasources.Source(datasources.SourceKind.FILE, "/etc/ds.yaml")
CONFIGMAP = datasources.Source(datasources.SourceKind.CONFIGMAP, "monitoring/grafana-ds")
CR = datasources.Source(datasources.SourceKind.CUSTOM_RESOURCE, "team-a/thanos")


def record(
    name: str, source: datasources.Source, url: str = "http://prom:9090"
) -> datasources.Datasource:
    return datasources.Datasource(
        id=datasources.DatasourceId(name),
        name=name,
        source=source,
        connection=datasources.Connection(url=url),
        uid=f"{name}-uid",
    )


def test_a_snapshot_is_not_changed_by_later_puts() -> None:
    live = registry.Registry()
    live.put(registry.Contribution(FILE, (record("a", FILE),)))
    before = live.current()
    live.put(registry.Contribution(FILE, (record("b", FILE),)))
    assert set(before.datasources) == {"a"}
    assert set(live.current().datasources) == {"b"}
    assert live.current().generation == before.generation + 1


def test_an_identical_put_publishes_nothing() -> None:
    live = registry.Registry()
    published: list[registry.Snapshot] = []
    live.subscribe(published.append)
    contribution = registry.Contribution(FILE, (record("a", FILE),))
    live.put(contribution)
    live.put(registry.Contribution(FILE, (record("a", FILE),)))
    assert len(published) == 1


def test_a_batch_publishes_once_at_its_end_and_nothing_before() -> None:
    live = registry.Registry()
    live.put(registry.Contribution(FILE, (record("a", FILE),)))
    published: list[registry.Snapshot] = []
    live.subscribe(published.append)
    with live.batch():
        live.put(registry.Contribution(CONFIGMAP, (record("b", CONFIGMAP),)))
        live.put(registry.Contribution(CR, (record("c", CR),)))
        live.remove(FILE)
        with live.batch():  # nested: only the outermost end publishes
            live.put(registry.Contribution(FILE, (record("d", FILE),)))
        assert published == []
        assert set(live.current().datasources) == {"a"}
    (snapshot,) = published
    assert set(snapshot.datasources) == {"b", "c", "d"}
    assert live.current() is snapshot


def test_a_batch_that_changed_nothing_publishes_nothing() -> None:
    live = registry.Registry()
    contribution = registry.Contribution(FILE, (record("a", FILE),))
    live.put(contribution)
    published: list[registry.Snapshot] = []
    live.subscribe(published.append)
    with live.batch():
        live.put(contribution)
        live.remove(CONFIGMAP)
    assert published == []


def test_a_collision_keeps_the_custom_resource_and_reports_the_loser() -> None:
    live = registry.Registry()
    live.put(registry.Contribution(FILE, (record("shared", FILE, "http://file:9090"),)))
    live.put(registry.Contribution(CR, (record("shared", CR, "http://cr:9090"),)))
    snapshot = live.current()
    assert snapshot.datasources[datasources.DatasourceId("shared")].url == "http://cr:9090"
    (problem,) = snapshot.problems
    assert problem.source == FILE
    assert "already served from prometheusdatasource team-a/thanos" in str(problem)


def test_removing_a_source_removes_exactly_its_datasources() -> None:
    live = registry.Registry()
    live.put_many(
        [
            registry.Contribution(FILE, (record("a", FILE),)),
            registry.Contribution(CONFIGMAP, (record("b", CONFIGMAP),)),
        ]
    )
    live.remove(CONFIGMAP)
    assert set(live.current().datasources) == {"a"}


def test_lookup_by_uid_as_well_as_id() -> None:
    live = registry.Registry()
    live.put(registry.Contribution(FILE, (record("a", FILE),)))
    snapshot = live.current()
    assert snapshot.get("a-uid") is snapshot.get("a") is not None
    assert snapshot.get("nope") is None
