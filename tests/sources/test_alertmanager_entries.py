"""Grafana `type: alertmanager` entries -> Alertmanager datasources, with the same auth, TLS
and header options as Prometheus ones, and only the Prometheus implementation served."""

from __future__ import annotations

import json
from collections.abc import Mapping

from mcp_server.sources import datasources, provisioning

SOURCE = datasources.Source(datasources.SourceKind.FILE, "/etc/datasources.yaml")
AM = datasources.DatasourceKind.ALERTMANAGER


def parse_entries(*entries: Mapping[str, object], **env: str) -> provisioning.Provisioned:
    return provisioning.parse_document(json.dumps({"datasources": list(entries)}), SOURCE, env)


def alertmanager(
    json_data: Mapping[str, object] | None = None, **fields: object
) -> dict[str, object]:
    """An Alertmanager entry of the Prometheus implementation, with `json_data` added."""
    return {
        "name": "am",
        "type": "alertmanager",
        "url": "http://am:9093",
        "jsonData": {"implementation": "prometheus", **(json_data or {})},
        **fields,
    }


def test_an_alertmanager_entry_is_served_as_an_alertmanager_with_its_links() -> None:
    result = parse_entries(
        {"name": "prom", "type": "prometheus", "url": "http://prom:9090"},
        alertmanager({"alertsFrom": ["prom", "thanos-uid"]}),
    )
    assert result.problems == ()
    prom, am = result.datasources
    assert prom.kind is datasources.DatasourceKind.PROMETHEUS
    assert prom.type_name == "Prometheus"
    assert am.kind is AM
    assert am.type_name == "Alertmanager"
    assert am.alerts_from == ("prom", "thanos-uid")
    assert am.url == "http://am:9093"


def test_the_type_is_matched_case_insensitively_and_links_may_be_one_comma_separated_string() -> (
    None
):
    result = parse_entries(alertmanager(type="AlertManager", json_data={"alertsFrom": "a, b"}))
    (am,) = result.datasources
    assert am.kind is AM
    assert am.alerts_from == ("a", "b")


def test_auth_tls_headers_timeout_and_parameters_apply_to_an_alertmanager_too() -> None:
    result = parse_entries(
        alertmanager(
            basicAuth=True,
            basicAuthUser="reader",
            json_data={
                "httpHeaderName1": "X-Scope-OrgID",
                "tlsSkipVerify": True,
                "timeout": 12,
                "customQueryParameters": "a=1",
            },
            secureJsonData={"basicAuthPassword": "$AM_PASSWORD", "httpHeaderValue1": "tenant"},
        ),
        AM_PASSWORD="pw",
    )
    (am,) = result.datasources
    connection = am.connection
    assert connection.basic_auth is not None
    assert connection.basic_auth.password.get_secret_value() == "pw"
    assert [(n, v.get_secret_value()) for n, v in connection.headers] == [
        ("X-Scope-OrgID", "tenant")
    ]
    assert connection.tls.insecure_skip_verify is True
    assert connection.timeout_seconds == 12.0
    assert connection.query_parameters == (("a", "1"),)


def test_query_api_fields_are_not_read_for_an_alertmanager() -> None:
    """Grafana ignores them on an Alertmanager too: a stale value there costs nothing."""
    fields = {"httpMethod": "PUT", "prometheusType": "Loki", "timeInterval": "soon"}
    result = parse_entries(alertmanager(fields))
    (am,) = result.datasources
    assert am.scrape_interval_seconds is None


def test_an_implementation_other_than_prometheus_is_a_problem_and_the_entry_is_skipped() -> None:
    result = parse_entries(
        alertmanager({"implementation": "mimir"}),
        alertmanager(name="unset", json_data={"implementation": ""}),
        {"name": "prom", "type": "prometheus", "url": "http://prom:9090"},
    )
    assert [d.id for d in result.datasources] == ["prom"]
    mimir, unset = result.problems
    assert mimir.field == unset.field == "jsonData.implementation"
    assert mimir.datasource_id == "am"
    assert "'mimir'" in mimir.message and "only prometheus" in mimir.message
    assert "not set (Grafana: mimir)" in unset.message


def test_links_that_are_not_names_are_reported_on_their_field() -> None:
    result = parse_entries(alertmanager({"alertsFrom": ["ok", 3]}))
    (problem,) = result.problems
    assert problem.field == "jsonData.alertsFrom"
    assert result.datasources == ()


def test_an_unset_variable_in_a_link_is_reported_like_any_other_field() -> None:
    result = parse_entries(alertmanager({"alertsFrom": ["$PROM_NAME"]}))
    (problem,) = result.problems
    assert problem.field == "jsonData.alertsFrom"
    assert "$PROM_NAME" in problem.message
