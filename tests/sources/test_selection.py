"""Datasource selectors: what a label, glob or id matches, and what a datasource cannot
declare about itself."""

from __future__ import annotations

import pytest

from mcp_server.core import errors
from mcp_server.sources import datasources, selection
from tests.sources.test_provisioning import only_problem, parse_entry, single


def _datasource(
    name: str, kind: datasources.SourceKind, location: str, **labels: str
) -> datasources.Datasource:
    return datasources.Datasource(
        id=datasources.DatasourceId(name),
        name=name,
        source=datasources.Source(kind, location),
        connection=datasources.Connection(url="http://prometheus:9090"),
        labels=datasources.frozen_labels(labels),
    )


def test_namespace_type_and_source_come_from_where_a_datasource_is_declared() -> None:
    posing = _datasource(
        "team-a/p",
        datasources.SourceKind.CUSTOM_RESOURCE,
        "team-a/p",
        namespace="team-b",
        type="Thanos",
        env="prod",
    )
    assert selection.attributes(posing) == {
        "namespace": "team-a",
        "type": "Prometheus",
        "source": "prometheusdatasource",
        "env": "prod",
    }
    assert not selection.parse(None, "namespace=team-b").matches(posing)
    from_file = _datasource("f", datasources.SourceKind.FILE, "/etc/ds.yaml", namespace="x")
    assert "namespace" not in selection.attributes(from_file)


def test_a_label_the_datasource_lacks_never_matches_even_a_match_all_glob() -> None:
    ds = _datasource("p", datasources.SourceKind.FILE, "/f", env="prod")
    assert selection.parse(None, "env=*").matches(ds)
    assert not selection.parse(None, "team=*").matches(ds)


def test_ids_are_exact_unless_they_are_globs() -> None:
    ds = _datasource("prod-1", datasources.SourceKind.FILE, "/f")
    assert selection.parse("prod-1", None).matches(ds)
    assert not selection.parse("prod", None).matches(ds)
    assert selection.parse(["x", "prod-?"], None).matches(ds)


def test_too_many_names_are_refused_with_the_way_to_say_it_shorter() -> None:
    with pytest.raises(errors.InvalidArgument, match="use a glob"):
        selection.parse([f"d{n}" for n in range(selection.MAX_NAMES + 1)], None)


def test_grafana_json_data_labels_become_the_datasource_labels() -> None:
    ds = single(parse_entry({"name": "p", "jsonData": {"labels": {"env": "prod", "shard": 3}}}))
    assert dict(ds.labels) == {"env": "prod", "shard": "3"}
    problem = only_problem(parse_entry({"name": "p", "jsonData": {"labels": ["env=prod"]}}))
    assert problem.field == "jsonData.labels" and "{env: prod}" in problem.message
