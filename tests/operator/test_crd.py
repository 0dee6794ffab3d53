"""The PrometheusDatasource CRD: structural, documented, strict, and its examples valid.

No kube-apiserver runs here, so the openAPIV3Schema is checked with `jsonschema` (after
dropping the `x-kubernetes-*` extensions, and forbidding unknown fields as `kubectl`'s strict
field validation does), and the CEL rules with cel-python when it is installed. Without
cel-python the rules are still pinned, node by node, by their exact text.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import importlib.util
import pathlib
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from mcp_server.sources import datasources, provisioning

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "prometheusdatasources.proms-mcp.dev.yaml"
EXAMPLES = ROOT / "crds" / "examples"
API_VERSION = "proms-mcp.dev/v1alpha1"
KIND = "PrometheusDatasource"
GRAFANA_CONFIGMAP = EXAMPLES / "grafana-datasources-configmap.yaml"

Schema = dict[str, Any]

HAVE_CELPY = importlib.util.find_spec("celpy") is not None
NO_CELPY = "cel-python is not installed: CEL rules are pinned by text only (see the test above)"

AUTH_ONE_OF = (
    "(has(self.bearerToken) ? 1 : 0) + (has(self.basicAuth) ? 1 : 0) + "
    "((has(self.forwardCallerToken) && self.forwardCallerToken) ? 1 : 0) <= 1"
)
EXPECTED_RULES: dict[str, list[str]] = {
    "spec": ["!has(self.alertsFrom) || (has(self.type) && self.type == 'Alertmanager')"],
    "spec.url": ["!self.matches('^https?://[^/?#]*@')"],
    "spec.auth": [AUTH_ONE_OF],
    "spec.tls": [
        "has(self.cert) == has(self.key)",
        "!has(self.insecureSkipVerify) || !self.insecureSkipVerify || !has(self.ca)",
    ],
    "spec.tls.ca": ["has(self.secretKeyRef) != has(self.configMapKeyRef)"],
    "spec.headers[]": [
        "has(self.value) != has(self.valueFrom)",
        "!self.name.matches('(?i)^authorization$')",
    ],
}


# --- loading -------------------------------------------------------------------------------


@functools.cache
def crd() -> Schema:
    document: Schema = yaml.safe_load(CRD_FILE.read_text())
    return document


def version() -> Schema:
    versions: list[Schema] = crd()["spec"]["versions"]
    assert [v["name"] for v in versions] == ["v1alpha1"]
    return versions[0]


def openapi_schema() -> Schema:
    schema: Schema = version()["schema"]["openAPIV3Schema"]
    return schema


def schema_nodes(node: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node with a dotted path: `spec.headers[]` is an item, `x{}` a map value."""
    yield path or "<root>", node
    for name, child in node.get("properties", {}).items():
        yield from schema_nodes(child, f"{path}.{name}" if path else name)
    if "items" in node:
        yield from schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")


def node_at(path: str) -> Schema:
    nodes = dict(schema_nodes(openapi_schema()))
    return nodes[path]


def example_documents() -> list[tuple[pathlib.Path, Schema]]:
    found: list[tuple[pathlib.Path, Schema]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        found.extend((path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def example_datasources() -> list[Any]:
    return [
        pytest.param(doc, id=f"{path.name}:{doc['metadata']['name']}")
        for path, doc in example_documents()
        if doc["kind"] == KIND
    ]


# --- validating like the API server ---------------------------------------------------------


def to_json_schema(node: Schema) -> Schema:
    """OpenAPI v3 (Kubernetes flavour) -> JSON Schema: drop extensions, forbid unknown fields."""
    out: Schema = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(child) for name, child in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    if "properties" in node and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


def _is_date_time(value: object) -> bool:
    """Lenient RFC 3339: whatever Python's ISO parser takes, with a trailing Z."""
    if isinstance(value, str):
        datetime.datetime.fromisoformat(value.removesuffix("Z") + "+00:00")
    return True


FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("date-time", raises=ValueError)(_is_date_time)


def schema_errors(obj: Schema) -> list[str]:
    validator = jsonschema.Draft7Validator(to_json_schema(openapi_schema()), format_checker=FORMATS)
    return sorted(
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(obj)
    )


def value_nodes(schema: Schema, value: Any, path: str = "") -> Iterator[tuple[str, Schema, Any]]:
    """Walk a value alongside its schema, as the API server does for CEL and list-maps."""
    yield path, schema, value
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            child_schema = properties.get(key, extra if isinstance(extra, dict) else None)
            if child_schema is not None:
                yield from value_nodes(child_schema, child, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and "items" in schema:
        for index, child in enumerate(value):
            yield from value_nodes(schema["items"], child, f"{path}[{index}]")


def list_map_duplicates(obj: Schema) -> list[str]:
    duplicates: list[str] = []
    for path, schema, value in value_nodes(openapi_schema(), obj):
        if schema.get("x-kubernetes-list-type") == "map" and isinstance(value, list):
            keys = [
                tuple(item.get(k) for k in schema["x-kubernetes-list-map-keys"]) for item in value
            ]
            duplicates.extend(
                f"{path}: duplicate {key}" for key in set(keys) if keys.count(key) > 1
            )
    return duplicates


@functools.cache
def _cel_program(rule: str) -> Any:
    celpy = importlib.import_module("celpy")
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def cel_violations(obj: Schema) -> list[str]:
    """The messages of every CEL rule that does not hold (cel-python must be installed)."""
    celpy = importlib.import_module("celpy")
    messages: list[str] = []
    for path, schema, value in value_nodes(openapi_schema(), obj):
        for rule in schema.get("x-kubernetes-validations", []):
            result = _cel_program(rule["rule"]).evaluate({"self": celpy.json_to_cel(value)})
            if not result:
                messages.append(f"{path}: {rule['message']}")
    return messages


def datasource(spec: Schema) -> Schema:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": "thanos", "namespace": "monitoring"},
        "spec": spec,
    }


URL = "http://prometheus.monitoring.svc:9090"
REF = {"name": "creds", "key": "token"}


# --- the CRD itself --------------------------------------------------------------------------


def test_the_crd_names_group_scope_and_version_are_as_designed() -> None:
    spec = crd()["spec"]
    assert crd()["metadata"]["name"] == "prometheusdatasources.proms-mcp.dev"
    assert spec["group"] == "proms-mcp.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "PrometheusDatasource",
        "listKind": "PrometheusDatasourceList",
        "plural": "prometheusdatasources",
        "singular": "prometheusdatasource",
        "shortNames": ["promds"],
        "categories": ["proms-mcp"],
    }
    assert version()["served"] is True
    assert version()["storage"] is True
    assert version()["subresources"] == {"status": {}}


def test_the_printer_columns_show_url_ready_reachable_age_and_wide_type_api_and_reason() -> None:
    columns = [
        (c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
        for c in version()["additionalPrinterColumns"]
    ]
    assert columns == [
        ("URL", "string", ".spec.url", 0),
        ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status', 0),
        ("Reachable", "string", '.status.conditions[?(@.type=="Reachable")].status', 0),
        ("Age", "date", ".metadata.creationTimestamp", 0),
        ("Type", "string", ".spec.prometheusType", 1),
        ("API", "string", ".spec.type", 1),
        ("Reason", "string", '.status.conditions[?(@.type=="Ready")].reason', 1),
    ]


def test_every_schema_node_has_a_type_as_a_structural_schema_requires() -> None:
    untyped = [path for path, node in schema_nodes(openapi_schema()) if "type" not in node]
    assert untyped == []


def test_every_field_has_a_description_for_kubectl_explain() -> None:
    undocumented = [
        path
        for path, node in schema_nodes(openapi_schema())
        if not str(node.get("description", "")).strip()
    ]
    assert undocumented == []


def test_no_object_mixes_properties_with_additional_properties_or_constrains_metadata() -> None:
    mixed = [
        path
        for path, node in schema_nodes(openapi_schema())
        if "properties" in node and "additionalProperties" in node
    ]
    assert mixed == []
    assert set(node_at("metadata")) == {"type", "description"}


def test_every_default_is_valid_against_its_own_field() -> None:
    for path, node in schema_nodes(openapi_schema()):
        if "default" in node:
            jsonschema.Draft7Validator(to_json_schema(node)).validate(node["default"])
            assert path.startswith("spec."), path


def test_the_defaults_are_prometheus_post_not_suspended_and_verifying_tls() -> None:
    defaults = {
        path: node["default"] for path, node in schema_nodes(openapi_schema()) if "default" in node
    }
    assert defaults == {
        "spec.type": "Prometheus",
        "spec.prometheusType": "Prometheus",
        "spec.httpMethod": "POST",
        "spec.suspend": False,
        "spec.tls.insecureSkipVerify": False,
    }
    assert "QUERY_TIMEOUT" in node_at("spec.timeout")["description"]


def test_the_enums_list_the_backend_flavours_methods_and_condition_statuses() -> None:
    assert node_at("spec.prometheusType")["enum"] == [t.value for t in datasources.PrometheusType]
    assert node_at("spec.type")["enum"] == ["Prometheus", "Alertmanager"]
    assert node_at("spec.httpMethod")["enum"] == ["GET", "POST"]
    assert node_at("status.conditions[].status")["enum"] == ["True", "False", "Unknown"]


def test_list_maps_are_keyed_by_a_required_field() -> None:
    for path, key in (("spec.headers", "name"), ("status.conditions", "type")):
        node = node_at(path)
        assert node["x-kubernetes-list-type"] == "map"
        assert node["x-kubernetes-list-map-keys"] == [key]
        assert key in node["items"]["required"], path


def test_every_secret_reference_is_a_name_and_key_in_the_same_namespace() -> None:
    references = [
        (path, node)
        for path, node in schema_nodes(openapi_schema())
        if path.endswith(("secretKeyRef", "SecretKeyRef", "configMapKeyRef"))
    ]
    assert len(references) == 7
    for path, node in references:
        assert set(node["properties"]) == {"name", "key"}, path
        assert node["required"] == ["name", "key"], path
        assert node["properties"]["name"]["maxLength"] == 253, path
        assert node["properties"]["key"]["pattern"] == "^[-._a-zA-Z0-9]+$", path
        assert "own namespace" in node["description"], path


def test_the_status_documents_the_ready_and_reachable_conditions() -> None:
    description = node_at("status.conditions")["description"]
    assert "Ready:" in description
    assert "Reachable:" in description
    assert set(node_at("status.conditions[]")["required"]) == {
        "type",
        "status",
        "lastTransitionTime",
        "reason",
        "message",
    }


# --- CEL rules -------------------------------------------------------------------------------


def test_the_cel_rules_sit_on_the_nodes_they_guard_each_with_a_message() -> None:
    """The targeted check that runs whether or not cel-python can evaluate the rules."""
    found = {
        path: [rule["rule"] for rule in node["x-kubernetes-validations"]]
        for path, node in schema_nodes(openapi_schema())
        if "x-kubernetes-validations" in node
    }
    assert found == EXPECTED_RULES
    for path in EXPECTED_RULES:
        for rule in node_at(path)["x-kubernetes-validations"]:
            assert set(rule) == {"rule", "message"}, path
            assert rule["message"].strip(), path
    assert node_at("spec.url")["x-kubernetes-validations"][0]["message"] == (
        "put credentials in auth, not in the URL"
    )


def test_every_cel_rule_reads_only_bounded_fields_so_its_cost_estimate_is_bounded() -> None:
    """The API server rejects rules whose worst-case cost is unbounded: every list on the way
    to a rule has maxItems, and every string a rule reads has maxLength."""
    for path in EXPECTED_RULES:
        parts = path.split(".")
        for depth in range(1, len(parts) + 1):
            ancestor = ".".join(parts[:depth]).removesuffix("[]")
            node = node_at(ancestor)
            if node["type"] == "array":
                assert "maxItems" in node, ancestor
        node = node_at(path)
        strings = [node] if node["type"] == "string" else list(node["properties"].values())
        for child in strings:
            if child["type"] == "string":
                assert "maxLength" in child, path


CEL_CASES = [
    pytest.param({"url": "https://user:pass@thanos:9091"}, "put credentials", id="userinfo in url"),
    pytest.param({"url": "https://token@thanos:9091/"}, "put credentials", id="token in url"),
    pytest.param({"url": "https://thanos:9091/api?x=a@b"}, None, id="an @ after the host"),
    pytest.param(
        {"auth": {"bearerToken": {"secretKeyRef": REF}, "forwardCallerToken": True}},
        "at most one of bearerToken",
        id="bearer token and forwarded token",
    ),
    pytest.param(
        {
            "auth": {
                "bearerToken": {"secretKeyRef": REF},
                "basicAuth": {"username": "u", "passwordSecretKeyRef": REF},
            }
        },
        "at most one of bearerToken",
        id="bearer token and basic auth",
    ),
    pytest.param(
        {"auth": {"bearerToken": {"secretKeyRef": REF}, "forwardCallerToken": False}},
        None,
        id="bearer token with forwarding switched off",
    ),
    pytest.param({"auth": {}}, None, id="empty auth"),
    pytest.param(
        {"tls": {"cert": {"secretKeyRef": REF}}}, "cert and key together", id="cert without key"
    ),
    pytest.param(
        {"tls": {"key": {"secretKeyRef": REF}}}, "cert and key together", id="key without cert"
    ),
    pytest.param(
        {"tls": {"cert": {"secretKeyRef": REF}, "key": {"secretKeyRef": REF}}},
        None,
        id="cert and key",
    ),
    pytest.param(
        {"tls": {"insecureSkipVerify": True, "ca": {"secretKeyRef": REF}}},
        "ca has no effect",
        id="skip verify with a ca",
    ),
    pytest.param(
        {"tls": {"insecureSkipVerify": False, "ca": {"configMapKeyRef": REF}}},
        None,
        id="verify with a ca",
    ),
    pytest.param(
        {"tls": {"ca": {"secretKeyRef": REF, "configMapKeyRef": REF}}},
        "exactly one of secretKeyRef and configMapKeyRef",
        id="ca from both a secret and a configmap",
    ),
    pytest.param(
        {"tls": {"ca": {}}},
        "exactly one of secretKeyRef and configMapKeyRef",
        id="ca from nowhere",
    ),
    pytest.param(
        {"headers": [{"name": "X-Scope-OrgID", "value": "a", "valueFrom": {"secretKeyRef": REF}}]},
        "exactly one of value and valueFrom",
        id="header with value and valueFrom",
    ),
    pytest.param(
        {"headers": [{"name": "X-Scope-OrgID"}]},
        "exactly one of value and valueFrom",
        id="header without a value",
    ),
    pytest.param(
        {"headers": [{"name": "authorization", "value": "Bearer x"}]},
        "use auth for the Authorization header",
        id="authorization header",
    ),
    pytest.param(
        {"headers": [{"name": "X-Authorization", "value": "x"}]}, None, id="x-authorization header"
    ),
    pytest.param(
        {"type": "Alertmanager", "alertsFrom": ["prometheus", "other/thanos"]},
        None,
        id="an alertmanager linked to its prometheus",
    ),
    pytest.param(
        {"alertsFrom": ["prometheus"]}, "for type Alertmanager only", id="links without the type"
    ),
    pytest.param(
        {"type": "Prometheus", "alertsFrom": ["prometheus"]},
        "for type Alertmanager only",
        id="links on a prometheus",
    ),
]


@pytest.mark.skipif(not HAVE_CELPY, reason=NO_CELPY)
@pytest.mark.parametrize(("spec", "message"), CEL_CASES)
def test_the_cel_rules_accept_and_reject_as_documented(spec: Schema, message: str | None) -> None:
    obj = datasource({"url": URL, **spec})
    assert schema_errors(obj) == []
    violations = cel_violations(obj)
    if message is None:
        assert violations == []
    else:
        assert len(violations) == 1, violations
        assert message in violations[0]


# --- the schema ------------------------------------------------------------------------------


def test_a_minimal_spec_with_only_a_url_is_valid() -> None:
    assert schema_errors(datasource({"url": URL})) == []


INVALID_SPECS = [
    pytest.param({}, "'url' is a required property", id="missing url"),
    pytest.param({"url": "ftp://prometheus:21"}, "does not match", id="ftp url"),
    pytest.param({"url": "http://"}, "does not match", id="url without a host"),
    pytest.param({"url": URL, "httpMethod": "PUT"}, "is not one of", id="httpMethod PUT"),
    pytest.param({"url": URL, "prometheusType": "Influx"}, "is not one of", id="unknown type"),
    pytest.param({"url": URL, "timeout": "30"}, "does not match", id="timeout without a unit"),
    pytest.param({"url": URL, "timeout": "1.5s"}, "does not match", id="fractional timeout"),
    pytest.param(
        {"url": URL, "headers": [{"name": "X Scope", "value": "a"}]},
        "does not match",
        id="header name with a space",
    ),
    pytest.param({"url": URL, "urll": URL}, "Additional properties", id="misspelt field"),
    pytest.param(
        {"url": URL, "auth": {"bearerToken": {"secretKeyRef": {"name": "creds"}}}},
        "'key' is a required property",
        id="secret reference without a key",
    ),
    pytest.param(
        {"url": URL, "auth": {"bearerToken": {"secretKeyRef": {"name": "Creds", "key": "t"}}}},
        "does not match",
        id="secret name that is not a DNS subdomain",
    ),
    pytest.param(
        {"url": URL, "labels": {f"k{i}": "v" for i in range(33)}},
        "too many properties",
        id="33 labels",
    ),
]


@pytest.mark.parametrize(("spec", "message"), INVALID_SPECS)
def test_an_invalid_spec_is_rejected_with_a_pointed_error(spec: Schema, message: str) -> None:
    errors = schema_errors(datasource(spec))
    assert len(errors) == 1, errors
    assert message in errors[0]


def test_a_status_written_by_the_controller_is_valid_and_a_malformed_one_is_not() -> None:
    condition = {
        "type": "Ready",
        "status": "True",
        "observedGeneration": 3,
        "lastTransitionTime": "2026-11-02T10:00:00Z",
        "reason": "Registered",
        "message": "served to agents as monitoring/thanos",
    }
    status = {
        "observedGeneration": 3,
        "datasourceId": "monitoring/thanos",
        "prometheusVersion": "0.36.1",
        "lastProbeTime": "2026-11-02T10:00:05Z",
        "conditions": [condition, {**condition, "type": "Reachable", "reason": "ProbeSucceeded"}],
    }
    assert schema_errors({**datasource({"url": URL}), "status": status}) == []
    bad = {**status, "conditions": [{**condition, "status": "Yes"}]}
    assert len(schema_errors({**datasource({"url": URL}), "status": bad})) == 1
    bad = {**status, "lastProbeTime": "yesterday"}
    assert len(schema_errors({**datasource({"url": URL}), "status": bad})) == 1
    twice = {**status, "conditions": [condition, condition]}
    assert list_map_duplicates({**datasource({"url": URL}), "status": twice}) != []


# --- the examples ----------------------------------------------------------------------------


def test_the_examples_cover_each_documented_setup() -> None:
    names = {path.name for path, doc in example_documents() if doc["kind"] == KIND}
    assert names == {
        "prometheus-basic.yaml",
        "thanos-bearer.yaml",
        "mimir-tenant.yaml",
        "forward-token.yaml",
        "openshift-tenancy.yaml",
    }
    assert GRAFANA_CONFIGMAP.exists()


@pytest.mark.parametrize("obj", example_datasources())
def test_every_example_datasource_is_valid(obj: Schema) -> None:
    assert obj["apiVersion"] == API_VERSION
    assert schema_errors(obj) == []
    assert list_map_duplicates(obj) == []
    if HAVE_CELPY:
        assert cel_violations(obj) == []


def test_every_secret_and_configmap_an_example_references_is_in_the_same_file() -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        provided = {
            (doc["kind"], doc["metadata"]["namespace"], doc["metadata"]["name"], key)
            for doc in documents
            if doc["kind"] in ("Secret", "ConfigMap")
            for key in {**doc.get("data", {}), **doc.get("stringData", {})}
        }
        for doc in documents:
            if doc["kind"] != KIND:
                continue
            for where, _, value in value_nodes(openapi_schema(), doc):
                kind = "ConfigMap" if where.endswith("configMapKeyRef") else "Secret"
                if where.endswith(("secretKeyRef", "SecretKeyRef", "configMapKeyRef")):
                    wanted = (kind, doc["metadata"]["namespace"], value["name"], value["key"])
                    assert wanted in provided, f"{path.name}: {where} -> {wanted}"


def test_the_example_secrets_hold_placeholders_only() -> None:
    secrets = [doc for _, doc in example_documents() if doc["kind"] == "Secret"]
    assert secrets
    for secret in secrets:
        assert "data" not in secret, secret["metadata"]["name"]
        for key, value in secret["stringData"].items():
            if key != "tenant":  # a Mimir tenant id is an identifier, not a credential
                assert "replace-me" in value, f"{secret['metadata']['name']}/{key}"


def grafana_configmap() -> Schema:
    (document,) = yaml.safe_load_all(GRAFANA_CONFIGMAP.read_text())
    assert isinstance(document, dict)
    return document


def test_the_grafana_example_is_a_labelled_configmap_with_three_datasources() -> None:
    configmap = grafana_configmap()
    assert (configmap["apiVersion"], configmap["kind"]) == ("v1", "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_datasource"] == "1"
    provisioning_document = yaml.safe_load(configmap["data"]["datasources.yaml"])
    entries = provisioning_document["datasources"]
    assert [e["type"] for e in entries] == ["prometheus", "prometheus", "loki"]
    assert any("$TENANT_TOKEN" in str(e.get("secureJsonData")) for e in entries)
    assert all("timeout" in e["jsonData"] for e in entries if e["type"] == "prometheus")


def test_the_grafana_example_provisions_its_two_prometheus_datasources() -> None:
    configmap = grafana_configmap()
    source = datasources.Source(datasources.SourceKind.CONFIGMAP, "monitoring/grafana-datasources")
    text = configmap["data"]["datasources.yaml"]
    result = provisioning.parse_document(text, source, {"TENANT_TOKEN": "t0ken"})
    assert result.problems == ()
    by_name = {d.name: d for d in result.datasources}
    assert set(by_name) == {"Thanos", "Mimir team-a"}
    thanos, mimir = by_name["Thanos"], by_name["Mimir team-a"]
    assert thanos.prometheus_type is datasources.PrometheusType.THANOS
    assert thanos.connection.query_parameters == (("dedup", "true"), ("partial_response", "false"))
    assert mimir.connection.timeout_seconds == 120
    headers = {name: value.get_secret_value() for name, value in mimir.connection.headers}
    assert headers == {"X-Scope-OrgID": "team-a", "Authorization": "Bearer t0ken"}
    unset = provisioning.parse_document(text, source, {})
    assert [d.name for d in unset.datasources] == ["Thanos"]
    assert "TENANT_TOKEN" in unset.problems[0].message


def test_the_scrape_interval_of_a_cr_reaches_the_datasource_and_a_bad_one_is_refused() -> None:
    from proms_operator import specs

    spec = specs.parse_spec({"url": "http://prometheus:9090", "scrapeInterval": "30s"})
    record = specs.to_datasource("team-a", "p", spec, lambda reference: "")
    assert record.scrape_interval_seconds == 30.0
    with pytest.raises(specs.SpecError, match="scrapeInterval"):
        specs.parse_spec({"url": "http://prometheus:9090", "scrapeInterval": "often"})
