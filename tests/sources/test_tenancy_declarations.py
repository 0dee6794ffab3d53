"""Declaring a tenancy profile: the same shape in Grafana's `jsonData.tenancy` and a CR's
`spec.tenancy`, each mistake reported on the field, never served half-understood."""

from __future__ import annotations

import json
from typing import Any

import pytest
from proms_operator import specs

from mcp_server.sources import datasources, provisioning, tenancy

SOURCE = datasources.Source(datasources.SourceKind.FILE, "/etc/ds.yaml")


def _entry(url: str, profile: object, **extra: Any) -> provisioning.Provisioned:
    entry: dict[str, Any] = {"name": "t", "type": "prometheus", "url": url}
    entry["jsonData"] = {"tenancy": profile}
    for key, value in extra.items():
        entry.setdefault(key, {}).update(value)
    return provisioning.parse_documents([(json.dumps({"datasources": [entry]}), SOURCE)], {})


def test_an_openshift_query_port_gets_the_rules_port_beside_it_and_forwards_the_token() -> None:
    (served,) = _entry("https://thanos-querier.svc:9092", {"openshift": {}}).datasources
    assert served.connection.tenancy == tenancy.OpenShift(None, "https://thanos-querier.svc:9093")
    assert served.connection.forward_caller_token


def test_a_configmap_entry_never_forwards_the_callers_token() -> None:
    """Writing a labelled ConfigMap must not be a way to collect callers' tokens."""
    entry = {
        "name": "t",
        "type": "prometheus",
        "url": "https://thanos-querier.svc:9092",
        "jsonData": {"tenancy": {"openshift": {}}},
    }
    source = datasources.Source(datasources.SourceKind.CONFIGMAP, "team-a/grafana-datasources")
    (served,) = provisioning.parse_documents(
        [(json.dumps({"datasources": [entry]}), source)], {}
    ).datasources
    assert isinstance(served.connection.tenancy, tenancy.OpenShift)
    assert not served.connection.forward_caller_token


def test_an_entry_with_its_own_credentials_does_not_forward_the_callers_token() -> None:
    result = _entry(
        "https://thanos-querier.svc:9092",
        {"openshift": {"namespace": "team-a"}},
        jsonData={"httpHeaderName1": "Authorization"},
        secureJsonData={"httpHeaderValue1": "Bearer service-token"},
    )
    (served,) = result.datasources
    assert not served.connection.forward_caller_token


@pytest.mark.parametrize(
    ("url", "profile", "message"),
    [
        ("http://q:9092", {"openshift": {}, "mimir": {"tenants": ["a"]}}, "exactly one of"),
        ("http://q:9092", {"kerberos": {}}, "exactly one of"),
        ("http://q:9091", {"openshift": {}}, "openshift.rulesUrl is required"),
        ("http://q:9092", {"openshift": {"namespace": "Team_A"}}, "namespace name"),
        ("http://q", {"victoriaMetrics": {"accountID": -1}}, "accountID must be"),
        ("http://q", {"victoriaMetrics": {"accountID": 2**32}}, "accountID must be"),
        ("http://q", {"victoriaMetrics": {"accountID": 1, "extraLabels": ["x"]}}, "name=value"),
        ("http://q", {"mimir": {}}, "exactly one of tenants and groupTenants"),
        ("http://q", {"mimir": {"tenants": ["a|b"]}}, "not a Mimir tenant id"),
    ],
)
def test_a_mistaken_profile_is_a_problem_on_json_data_tenancy(
    url: str, profile: object, message: str
) -> None:
    result = _entry(url, profile)
    assert result.datasources == ()
    (problem,) = result.problems
    assert problem.field == "jsonData.tenancy" and message in problem.message


def test_mimir_tenancy_and_its_own_tenant_header_are_refused_together() -> None:
    result = _entry(
        "http://mimir",
        {"mimir": {"tenants": ["a"]}},
        jsonData={"httpHeaderName1": "X-Scope-OrgID"},
        secureJsonData={"httpHeaderValue1": "b"},
    )
    assert [p.message for p in result.problems] == ["mimir sets X-Scope-OrgID; remove that header"]


def test_a_victoriametrics_tenant_becomes_the_select_path() -> None:
    profile = tenancy.parse({"victoriaMetrics": {"accountID": 7}}, "http://vm", "tenancy")
    assert isinstance(profile, tenancy.VictoriaMetrics) and profile.path == "/select/7/prometheus"


def test_a_cr_declares_the_same_profiles_and_its_mistakes_are_invalid_specs() -> None:
    spec = specs.parse_spec(
        {"url": "https://q.svc:9092", "tenancy": {"openshift": {"namespace": "team-a"}}}
    )
    served = specs.to_datasource("team-a", "q", spec, lambda ref: "")
    assert served.connection.tenancy == tenancy.OpenShift("team-a", "https://q.svc:9093")
    assert served.connection.forward_caller_token
    with pytest.raises(specs.SpecError, match=r"tenancy\.openshift\.rulesUrl is required"):
        specs.parse_spec({"url": "https://q.svc", "tenancy": {"openshift": {}}})
    with pytest.raises(
        specs.SpecError, match=r"tenancy\.mimir sets X-Scope-OrgID; remove that header"
    ):
        specs.parse_spec(
            {
                "url": "http://mimir",
                "tenancy": {"mimir": {"groupTenants": {"sre": ["a", "b"]}}},
                "headers": [{"name": "X-Scope-OrgID", "value": "a"}],
            }
        )
