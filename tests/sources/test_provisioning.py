"""Grafana provisioning documents -> Datasource records, and every way they can be wrong."""

from __future__ import annotations

import json
import pathlib
import textwrap
from collections.abc import Mapping

import pytest
from pydantic import SecretStr

from mcp_server.sources import datasources, provisioning

SOURCE = datasources.Source(datasources.SourceKind.CONFIGMAP, "monitoring/grafana-datasources")
SECRET = "s3cr3t-SENTINEL-value"
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n"
CERT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEkey\n-----END PRIVATE KEY-----\n"


def parse(text: str, env: Mapping[str, str] | None = None) -> provisioning.Provisioned:
    return provisioning.parse_document(textwrap.dedent(text), SOURCE, env or {})


def parse_entry(entry: Mapping[str, object], **env: str) -> provisioning.Provisioned:
    """One entry with type and (unless given) url filled in, as a JSON document."""
    full = {"type": "prometheus", "url": "http://prometheus:9090", **entry}
    return provisioning.parse_document(json.dumps({"datasources": [full]}), SOURCE, env)


def single(result: provisioning.Provisioned) -> datasources.Datasource:
    assert result.problems == ()
    assert len(result.datasources) == 1
    return result.datasources[0]


def only_problem(result: provisioning.Provisioned) -> datasources.Problem:
    assert result.datasources == ()
    assert len(result.problems) == 1, [str(p) for p in result.problems]
    return result.problems[0]


def revealed(secret: SecretStr | None) -> str:
    assert secret is not None
    return secret.get_secret_value()


def write(directory: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_realistic_file_serves_its_two_prometheus_datasources_and_skips_loki() -> None:
    result = parse(
        """
        apiVersion: 1
        prune: true
        datasources:
          - name: Prometheus
            type: prometheus
            uid: prometheus
            access: proxy
            url: http://prometheus-operated.monitoring:9090/
            isDefault: true
            jsonData:
              timeInterval: 30s
          - name: Loki
            type: loki
            url: http://loki:3100
          - name: Thanos
            type: prometheus
            url: https://thanos-query.monitoring.svc:10902
            jsonData:
              prometheusType: Thanos
        """
    )
    assert result.problems == ()
    assert [d.name for d in result.datasources] == ["Prometheus", "Thanos"]
    prometheus, thanos = result.datasources
    assert prometheus.id == datasources.DatasourceId("Prometheus")
    assert prometheus.uid == "prometheus"
    assert prometheus.url == "http://prometheus-operated.monitoring:9090"
    assert prometheus.source == SOURCE
    assert thanos.prometheus_type is datasources.PrometheusType.THANOS
    assert thanos.uid is None


def test_every_supported_field_is_mapped_onto_the_datasource_record() -> None:
    ds = single(
        parse_entry(
            {
                "name": "mimir",
                "uid": "mimir-uid",
                "url": "  https://mimir.example.com/prometheus/  ",
                "basicAuth": True,
                "basicAuthUser": "reader",
                "jsonData": {
                    "httpHeaderName1": "X-Scope-OrgID",
                    "tlsSkipVerify": True,
                    "tlsAuthWithCACert": True,
                    "tlsAuth": True,
                    "serverName": "mimir.internal",
                    "httpMethod": "get",
                    "timeout": 45,
                    "customQueryParameters": "max_source_resolution=5m&dedup=true",
                    "prometheusType": "mimir",
                },
                "secureJsonData": {
                    "basicAuthPassword": "pw",
                    "httpHeaderValue1": "tenant-a",
                    "tlsCACert": CA_PEM,
                    "tlsClientCert": CERT_PEM,
                    "tlsClientKey": KEY_PEM,
                },
            }
        )
    )
    assert ds.id == "mimir"
    assert ds.name == "mimir"
    assert ds.uid == "mimir-uid"
    assert ds.prometheus_type is datasources.PrometheusType.MIMIR
    conn = ds.connection
    assert conn.url == "https://mimir.example.com/prometheus"
    assert conn.http_method == "GET"
    assert conn.timeout_seconds == 45.0
    assert conn.query_parameters == (("max_source_resolution", "5m"), ("dedup", "true"))
    assert conn.basic_auth is not None
    assert conn.basic_auth.username == "reader"
    assert conn.basic_auth.password.get_secret_value() == "pw"
    assert [(n, v.get_secret_value()) for n, v in conn.headers] == [("X-Scope-OrgID", "tenant-a")]
    tls = conn.tls
    assert tls.insecure_skip_verify is True
    assert revealed(tls.ca_pem) == CA_PEM
    assert revealed(tls.client_cert_pem) == CERT_PEM
    assert revealed(tls.client_key_pem) == KEY_PEM
    assert tls.server_name == "mimir.internal"


def test_an_entry_with_only_name_type_and_url_gets_grafana_defaults() -> None:
    ds = single(parse_entry({"name": "plain"}))
    conn = ds.connection
    assert conn.http_method == "POST"
    assert conn.timeout_seconds is None
    assert conn.headers == ()
    assert conn.basic_auth is None
    assert conn.tls == datasources.TLSSettings()
    assert conn.query_parameters == ()
    assert ds.prometheus_type is datasources.PrometheusType.PROMETHEUS


def test_tls_material_is_ignored_when_its_switch_is_off_as_in_grafana() -> None:
    ds = single(
        parse_entry(
            {
                "name": "p",
                "basicAuthUser": "unused",
                "secureJsonData": {"tlsCACert": CA_PEM, "tlsClientKey": KEY_PEM},
            }
        )
    )
    assert ds.connection.tls.ca_pem is None
    assert ds.connection.tls.client_key_pem is None
    assert ds.connection.basic_auth is None


def test_the_type_is_matched_case_insensitively() -> None:
    assert single(parse_entry({"name": "p", "type": " Prometheus "})).name == "p"


def test_every_header_pair_is_read_in_numeric_order_not_text_order() -> None:
    ds = single(
        parse_entry(
            {
                "name": "p",
                "jsonData": {
                    "httpHeaderName10": "X-Ten",
                    "httpHeaderName2": "X-Two",
                    "httpHeaderName1": "X-One",
                },
                "secureJsonData": {
                    "httpHeaderValue1": "1",
                    "httpHeaderValue10": "10",
                    "httpHeaderValue2": "2",
                },
            }
        )
    )
    headers = [(name, value.get_secret_value()) for name, value in ds.connection.headers]
    assert headers == [("X-One", "1"), ("X-Two", "2"), ("X-Ten", "10")]


@pytest.mark.parametrize(
    ("text", "env", "kept", "entry", "field", "named"),
    [
        pytest.param(
            """
            datasources:
              - name: broken
                type: prometheus
                url: http://a:9090
                jsonData: {httpHeaderName1: X-One}
                secureJsonData: {httpHeaderValue1: one, httpHeaderValue2: two}
              - name: fine
                type: prometheus
                url: http://b:9090
            """,
            None,
            "fine",
            "datasources[0] (name 'broken')",
            "jsonData.httpHeaderName2",
            ("secureJsonData.httpHeaderValue2",),
            id="a header value without a name",
        ),
        pytest.param(
            """
            datasources:
              - name: prom
                type: prometheus
                url: http://prom:9090
                secureJsonData:
                  httpHeaderValue1: Bearer ${PROM_TOKEN}
                jsonData:
                  httpHeaderName1: Authorization
              - name: other
                type: prometheus
                url: http://other:9090
            """,
            {"UNRELATED": "x"},
            "other",
            "datasources[0] (name 'prom')",
            "secureJsonData.httpHeaderValue1",
            ("$PROM_TOKEN", "not set"),
            id="a missing environment variable, naming field and variable",
        ),
    ],
)
def test_a_broken_entry_is_reported_on_its_field_and_the_other_entries_load(
    text: str,
    env: dict[str, str] | None,
    kept: str,
    entry: str,
    field: str,
    named: tuple[str, ...],
) -> None:
    result = parse(text, env)
    assert [d.name for d in result.datasources] == [kept]
    (problem,) = result.problems
    assert problem.entry == entry
    assert problem.field == field
    for text_named in named:
        assert text_named in problem.message


@pytest.mark.parametrize("header", ["X Bad", "X-Bad:", "Ünïcode", ""])
def test_header_names_that_are_not_http_tokens_are_reported(header: str) -> None:
    problem = only_problem(
        parse_entry(
            {
                "name": "p",
                "jsonData": {"httpHeaderName1": header or "$EMPTY"},
                "secureJsonData": {"httpHeaderValue1": "v"},
            },
            EMPTY="",
        )
    )
    assert problem.field == "jsonData.httpHeaderName1"
    assert "not a valid HTTP header name" in problem.message


def test_dollar_name_braced_name_and_double_dollar_are_expanded_like_grafana() -> None:
    env = {"HOST": "prom.example", "PORT": "9443", "USER": "svc", "PASS": "pa$$word$X"}
    ds = single(
        parse(
            """
            datasources:
              - name: prom-$$literal
                type: prometheus
                url: https://$HOST:${PORT}/api$$v1
                basicAuth: true
                basicAuthUser: ${USER}_ro
                secureJsonData:
                  basicAuthPassword: $PASS
            """,
            env,
        )
    )
    assert ds.name == "prom-$literal"
    assert ds.url == "https://prom.example:9443/api$v1"
    assert ds.connection.basic_auth is not None
    assert ds.connection.basic_auth.username == "svc_ro"
    # one pass: an expanded value is not expanded again
    assert ds.connection.basic_auth.password.get_secret_value() == "pa$$word$X"


def test_a_dollar_not_followed_by_a_name_stays_literal() -> None:
    ds = single(parse_entry({"name": "costs $5 / 100%", "url": "http://p:9090/$"}))
    assert ds.name == "costs $5 / 100%"
    assert ds.url == "http://p:9090/$"


def test_booleans_may_come_from_the_environment() -> None:
    ds = single(parse_entry({"name": "p", "jsonData": {"tlsSkipVerify": "$SKIP"}}, SKIP="true"))
    assert ds.connection.tls.insecure_skip_verify is True


def test_a_missing_variable_in_the_name_leaves_the_entry_labelled_by_index() -> None:
    problem = only_problem(parse_entry({"name": "$NAME"}))
    assert problem.entry == "datasources[0]"
    assert problem.field == "name"
    assert "$NAME" in problem.message


def test_an_unset_variable_in_a_field_we_do_not_read_does_not_cost_the_datasource() -> None:
    ds = single(
        parse_entry(
            {
                "name": "p",
                "jsonData": {"exemplarTraceIdDestinations": [{"url": "http://tempo/${TRACE}"}]},
            }
        )
    )
    assert ds.name == "p"


def test_invalid_yaml_is_one_document_problem_with_line_and_column() -> None:
    problem = only_problem(
        parse(
            """\
            apiVersion: 1
            datasources:
              - name: a
                url: [unclosed
            """
        )
    )
    assert problem.entry is None
    assert problem.source == SOURCE
    assert "is not valid YAML at line 5, column 1" in problem.message


def test_a_yaml_error_message_never_quotes_the_document() -> None:
    problem = only_problem(parse(f"datasources:\n  - password: {SECRET}\n   bad: : :\n"))
    assert "line" in problem.message
    assert SECRET not in str(problem)


@pytest.mark.parametrize(
    ("text", "kind"), [("- name: a\n", "list"), ("just text\n", "single value")]
)
def test_a_document_that_is_not_a_mapping_is_reported(text: str, kind: str) -> None:
    problem = only_problem(parse(text))
    assert problem.entry is None
    assert f"must be a mapping with apiVersion and datasources, not a {kind}" in problem.message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("datasources: {name: a}\n", "datasources"),
        ("deleteDatasources: a\ndatasources: []\n", "deleteDatasources"),
        ("apiVersion: 2\ndatasources: []\n", "apiVersion"),
    ],
)
def test_a_wrongly_shaped_document_is_one_problem_and_declares_nothing(
    text: str, field: str
) -> None:
    problem = only_problem(parse(text))
    assert problem.entry is None
    assert problem.field == field


def test_an_empty_document_declares_nothing_and_is_not_a_problem() -> None:
    assert parse("# nothing here yet\n") == provisioning.Provisioned((), ())


def test_apiversion_may_be_missing_or_a_string() -> None:
    text = "apiVersion: '1'\ndatasources: [{name: a, type: prometheus, url: 'http://a:1'}]\n"
    assert single(parse(text)).name == "a"


def test_tab_indented_json_is_accepted_even_though_pyyaml_rejects_tabs() -> None:
    text = json.dumps(
        {"datasources": [{"name": "j", "type": "prometheus", "url": "http://j:9090"}]}, indent="\t"
    )
    assert single(parse(text)).url == "http://j:9090"


@pytest.mark.parametrize(
    ("entry", "field", "fragment"),
    [
        ({"url": "http://p:9090"}, "name", "is required"),
        ({"name": "  ", "url": "http://p:9090"}, "name", "is required"),
        ({"name": ["a"], "url": "http://p:9090"}, "name", "must be a string"),
        ({"name": "p", "url": None}, "url", "is required"),
        ({"name": "p", "url": "ftp://p:9090"}, "url", "uses scheme 'ftp'"),
        ({"name": "p", "url": "prometheus:9090"}, "url", "must start with http://"),
        ({"name": "p", "url": "http:///path"}, "url", "has no host"),
        ({"name": "p", "url": "http://p:port"}, "url", "not a valid URL"),
        ({"name": "p", "url": "http://p 1:9090"}, "url", "spaces"),
        ({"name": "p", "jsonData": "x"}, "jsonData", "must be a mapping"),
        # a header name without a value, the same header twice, a malformed ${...} reference
        (
            {"name": "p", "jsonData": {"httpHeaderName3": "Authorization"}},
            "secureJsonData.httpHeaderValue3",
            "jsonData.httpHeaderName3",
        ),
        (
            {
                "name": "p",
                "jsonData": {"httpHeaderName1": "X-Org", "httpHeaderName2": "x-org"},
                "secureJsonData": {"httpHeaderValue1": "a", "httpHeaderValue2": "b"},
            },
            "jsonData.httpHeaderName2",
            "jsonData.httpHeaderName1",
        ),
        ({"name": "p", "url": "http://${HOST:9090"}, "url", "${NAME}"),
    ],
)
def test_a_missing_or_bad_field_is_reported_on_that_field(
    entry: dict[str, object], field: str, fragment: str
) -> None:
    problem = only_problem(parse_entry(entry))
    assert problem.field == field
    assert fragment in problem.message


def test_credentials_in_the_url_are_rejected_without_echoing_them() -> None:
    problem = only_problem(parse_entry({"name": "p", "url": f"http://user:{SECRET}@p:9090"}))
    assert problem.field == "url"
    assert "basicAuth" in problem.message
    assert SECRET not in str(problem)


def test_an_entry_without_type_is_reported_but_other_types_are_skipped_silently() -> None:
    result = parse(
        """
        datasources:
          - name: untyped
            url: http://p:9090
          - name: tempo
            type: tempo
            url: not even a url
        """
    )
    problem = only_problem(result)
    assert problem.entry == "datasources[0] (name 'untyped')"
    assert problem.field == "type"


def test_an_entry_that_is_not_a_mapping_is_reported_by_index() -> None:
    result = parse(
        "datasources:\n  - just a string\n  - {name: b, type: prometheus, url: 'http://b:1'}\n"
    )
    assert [d.name for d in result.datasources] == ["b"]
    (problem,) = result.problems
    assert problem.entry == "datasources[0]"


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        ({"basicAuthUser": "u"}, "secureJsonData.basicAuthPassword"),
        ({"secureJsonData": {"basicAuthPassword": "pw"}}, "basicAuthUser"),
        ({"basicAuthUser": "", "secureJsonData": {"basicAuthPassword": "pw"}}, "basicAuthUser"),
    ],
)
def test_incomplete_basic_auth_is_reported(auth: dict[str, object], field: str) -> None:
    problem = only_problem(parse_entry({"name": "p", "basicAuth": True, **auth}))
    assert problem.field == field
    assert "basicAuth is true" in problem.message


def test_the_legacy_top_level_basic_auth_password_gets_a_hint_to_move_it() -> None:
    problem = only_problem(
        parse_entry(
            {"name": "p", "basicAuth": True, "basicAuthUser": "u", "basicAuthPassword": SECRET}
        )
    )
    assert problem.field == "secureJsonData.basicAuthPassword"
    assert "move the top-level one here" in problem.message


@pytest.mark.parametrize(
    ("secure", "missing"),
    [
        ({"tlsClientCert": CERT_PEM}, "secureJsonData.tlsClientKey"),
        ({"tlsClientKey": KEY_PEM}, "secureJsonData.tlsClientCert"),
    ],
)
def test_tls_client_auth_needs_both_certificate_and_key(
    secure: dict[str, str], missing: str
) -> None:
    problem = only_problem(
        parse_entry({"name": "p", "jsonData": {"tlsAuth": True}, "secureJsonData": secure})
    )
    assert problem.field == missing
    assert "jsonData.tlsAuth is true" in problem.message


def test_a_ca_certificate_is_required_when_tls_auth_with_ca_cert_is_on() -> None:
    problem = only_problem(parse_entry({"name": "p", "jsonData": {"tlsAuthWithCACert": "true"}}))
    assert problem.field == "secureJsonData.tlsCACert"


def test_a_file_path_instead_of_pem_text_is_reported() -> None:
    problem = only_problem(
        parse_entry(
            {
                "name": "p",
                "jsonData": {"tlsAuthWithCACert": True},
                "secureJsonData": {"tlsCACert": "/etc/ssl/ca.pem"},
            }
        )
    )
    assert problem.field == "secureJsonData.tlsCACert"
    assert "not PEM" in problem.message


def test_a_non_boolean_switch_is_reported() -> None:
    problem = only_problem(parse_entry({"name": "p", "jsonData": {"tlsSkipVerify": "maybe"}}))
    assert problem.field == "jsonData.tlsSkipVerify"
    assert "true or false" in problem.message


@pytest.mark.parametrize("method", ["PUT", "get it", 1.5])
def test_an_http_method_other_than_get_or_post_is_reported(method: object) -> None:
    problem = only_problem(parse_entry({"name": "p", "jsonData": {"httpMethod": method}}))
    assert problem.field == "jsonData.httpMethod"


@pytest.mark.parametrize("method", ["post", "POST", "Post", ""])
def test_post_is_accepted_in_any_case_and_is_the_default(method: str) -> None:
    ds = single(parse_entry({"name": "p", "jsonData": {"httpMethod": method}}))
    assert ds.connection.http_method == "POST"


@pytest.mark.parametrize("timeout", [0, -5, "abc", "inf", "nan", True, [30]])
def test_a_timeout_that_is_not_a_positive_number_is_reported(timeout: object) -> None:
    problem = only_problem(parse_entry({"name": "p", "jsonData": {"timeout": timeout}}))
    assert problem.field == "jsonData.timeout"
    assert "positive number of seconds" in problem.message


@pytest.mark.parametrize(("timeout", "seconds"), [(30, 30.0), (2.5, 2.5), (" 60 ", 60.0)])
def test_a_timeout_may_be_an_int_a_float_or_a_numeric_string(
    timeout: object, seconds: float
) -> None:
    ds = single(parse_entry({"name": "p", "jsonData": {"timeout": timeout}}))
    assert ds.connection.timeout_seconds == seconds


def test_custom_query_parameters_are_url_decoded_and_keep_their_order() -> None:
    ds = single(
        parse_entry(
            {"name": "p", "jsonData": {"customQueryParameters": "b=x%20y&a=1%262&empty=&b=z"}}
        )
    )
    assert ds.connection.query_parameters == (("b", "x y"), ("a", "1&2"), ("empty", ""), ("b", "z"))


@pytest.mark.parametrize("params", ["novalue", "a=1&&b=2"])
def test_malformed_custom_query_parameters_are_reported(params: str) -> None:
    problem = only_problem(
        parse_entry({"name": "p", "jsonData": {"customQueryParameters": params}})
    )
    assert problem.field == "jsonData.customQueryParameters"


def test_an_unknown_prometheus_type_is_reported_with_the_choices() -> None:
    problem = only_problem(parse_entry({"name": "p", "jsonData": {"prometheusType": "Influx"}}))
    assert problem.field == "jsonData.prometheusType"
    assert "VictoriaMetrics" in problem.message


def test_every_problem_of_an_entry_is_reported_at_once() -> None:
    result = parse_entry(
        {"name": "p", "url": "ftp://p", "jsonData": {"httpMethod": "PUT", "timeout": -1}}
    )
    assert result.datasources == ()
    fields = {p.field for p in result.problems}
    assert fields == {"url", "jsonData.httpMethod", "jsonData.timeout"}


def test_a_problem_reads_as_source_entry_field_and_message() -> None:
    problem = only_problem(parse_entry({"name": "p", "jsonData": {"httpMethod": "PUT"}}))
    assert str(problem) == (
        "configmap monitoring/grafana-datasources, datasources[0] (name 'p'), "
        "field jsonData.httpMethod: must be GET or POST, got 'PUT'"
    )


def test_duplicate_names_in_one_document_keep_the_first_and_report_the_second() -> None:
    result = parse(
        """
        datasources:
          - {name: prom, type: prometheus, url: "http://first:9090"}
          - {name: prom, type: prometheus, url: "http://second:9090"}
        """
    )
    assert [d.url for d in result.datasources] == ["http://first:9090"]
    (problem,) = result.problems
    assert problem.entry == "datasources[1] (name 'prom')"
    assert problem.field == "name"
    assert problem.message == (
        "duplicate datasource name 'prom' (already declared in configmap "
        "monitoring/grafana-datasources, datasources[0]); rename it or remove one"
    )


def test_secret_values_never_appear_in_any_problem() -> None:
    env = {"TOKEN": SECRET}
    entries: list[dict[str, object]] = [
        {  # basic auth without user, header with a line break, CA that is not PEM
            "name": "a",
            "basicAuth": True,
            "jsonData": {
                "httpHeaderName1": "X-Token",
                "httpHeaderName2": "Bad Name",
                "tlsAuthWithCACert": True,
                "tlsAuth": True,
            },
            "secureJsonData": {
                "basicAuthPassword": SECRET,
                "httpHeaderValue1": f"{SECRET}\r\nInjected: 1",
                "httpHeaderValue2": SECRET,
                "httpHeaderValue3": SECRET,
                "tlsCACert": SECRET,
                "tlsClientCert": SECRET,
                "tlsClientKey": ["not", "a", "string", SECRET],
            },
        },
        {  # a secret pulled from env into fields that then fail validation
            "name": "b",
            "url": "http://p:9090",
            "jsonData": {"customQueryParameters": "$TOKEN", "httpHeaderName1": "X"},
            "secureJsonData": {"httpHeaderValue1": "${TOKEN}\n", "httpHeaderValue4": "$UNSET"},
        },
        {"name": "a", "url": "http://dup:9090", "secureJsonData": {"x": SECRET}},
    ]
    for entry in entries:
        entry.setdefault("type", "prometheus")
        entry.setdefault("url", "http://p:9090")
    result = provisioning.parse_document(json.dumps({"datasources": entries}), SOURCE, env)
    assert result.datasources == ()
    assert len(result.problems) >= 9
    for problem in result.problems:
        assert SECRET not in str(problem)
        assert SECRET not in repr(problem)


def test_secrets_are_held_as_secret_strings_that_do_not_print() -> None:
    ds = single(
        parse_entry(
            {
                "name": "p",
                "basicAuth": True,
                "basicAuthUser": "u",
                "jsonData": {"httpHeaderName1": "Authorization"},
                "secureJsonData": {"basicAuthPassword": SECRET, "httpHeaderValue1": SECRET},
            }
        )
    )
    assert SECRET not in repr(ds)
    assert SECRET not in str(ds)


def test_deletes_in_the_same_document_do_not_remove_its_own_declarations() -> None:
    result = parse(
        """
        deleteDatasources:
          - {name: prom, orgId: 1}
          - {orgId: 1}
        datasources:
          - {name: prom, type: prometheus, url: "http://p:9090"}
        """
    )
    assert [d.name for d in result.datasources] == ["prom"]
    (problem,) = result.problems
    assert problem.entry == "deleteDatasources[1]"
    assert problem.field == "name"


def test_a_missing_path_raises_provisioning_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(provisioning.ProvisioningError, match="does-not-exist"):
        provisioning.load_path(tmp_path / "does-not-exist.yaml", {})


def test_a_single_file_of_any_extension_is_loaded_with_its_path_as_source(
    tmp_path: pathlib.Path,
) -> None:
    path = write(tmp_path, "datasources.conf", "datasources: [{name: a, url: 'http://a:1'}]\n")
    problem = only_problem(provisioning.load_path(path, {}))
    assert problem.source == datasources.Source(datasources.SourceKind.FILE, str(path))
    assert problem.field == "type"


def test_a_directory_loads_yaml_yml_and_json_files_in_name_order_and_ignores_the_rest(
    tmp_path: pathlib.Path,
) -> None:
    write(tmp_path, "b.yml", "datasources: [{name: b, type: prometheus, url: 'http://b:1'}]\n")
    write(
        tmp_path,
        "c.json",
        '{"datasources": [{"name": "c", "type": "prometheus", "url": "http://c:1"}]}',
    )
    write(tmp_path, "a.yaml", "datasources: [{name: a, type: prometheus, url: 'http://a:1'}]\n")
    write(tmp_path, "d.YAML", "datasources: [{name: d, type: prometheus, url: 'http://d:1'}]\n")
    write(
        tmp_path, "notes.txt", "datasources: [{name: txt, type: prometheus, url: 'http://t:1'}]\n"
    )
    write(
        tmp_path, ".hidden.yaml", "datasources: [{name: h, type: prometheus, url: 'http://h:1'}]\n"
    )
    write(tmp_path, "broken.yaml.bak", "{{{{\n")
    (tmp_path / "sub.yaml").mkdir()
    write(
        tmp_path / "sub.yaml",
        "e.yaml",
        "datasources: [{name: e, type: prometheus, url: 'http://e:1'}]\n",
    )
    result = provisioning.load_path(tmp_path, {})
    assert result.problems == ()
    assert [d.name for d in result.datasources] == ["a", "b", "c", "d"]
    assert result.datasources[2].source.location == str(tmp_path / "c.json")


def test_a_mounted_configmap_directory_is_read_once_through_its_symlinks(
    tmp_path: pathlib.Path,
) -> None:
    timestamped = tmp_path / "..2026_11_01_10_00_00.123"
    timestamped.mkdir()
    write(
        timestamped, "prom.yaml", "datasources: [{name: p, type: prometheus, url: 'http://p:1'}]\n"
    )
    (tmp_path / "..data").symlink_to(timestamped.name)
    (tmp_path / "prom.yaml").symlink_to("..data/prom.yaml")
    result = provisioning.load_path(tmp_path, {})
    assert result.problems == ()
    assert [d.name for d in result.datasources] == ["p"]


def test_a_broken_file_in_a_directory_does_not_hide_the_others(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "a.yaml", "datasources: [{name: a, type: prometheus, url: 'http://a:1'}]\n")
    write(tmp_path, "b.yaml", "datasources: [\n")
    (tmp_path / "c.yaml").write_bytes(b"\xff\xfe not utf-8")
    result = provisioning.load_path(tmp_path, {})
    assert [d.name for d in result.datasources] == ["a"]
    assert [(p.source.location, p.entry) for p in result.problems] == [
        (str(tmp_path / "b.yaml"), None),
        (str(tmp_path / "c.yaml"), None),
    ]
    assert "UTF-8" in result.problems[1].message


@pytest.mark.parametrize(
    ("files", "attribute", "served"),
    [
        pytest.param(
            {
                "10-prom.yaml": """
                datasources:
                  - {name: old, type: prometheus, url: "http://old:9090"}
                  - {name: keep, type: prometheus, url: "http://keep:9090"}
                """,
                "20-cleanup.yaml": "deleteDatasources:\n  - {name: old, orgId: 1}\n",
            },
            "name",
            ["keep"],
            id="a delete in a later file removes a name declared by an earlier file",
        ),
        pytest.param(
            {
                "a.yaml": "datasources: [{name: p, type: prometheus, url: 'http://old:1'}]\n",
                "b.yaml": """
                deleteDatasources: [{name: p, orgId: 1}]
                datasources: [{name: p, type: prometheus, url: "http://new:1"}]
                """,
            },
            "url",
            ["http://new:1"],
            id="a name deleted and declared again later is the new one, without a duplicate",
        ),
    ],
)
def test_deletes_apply_in_file_order(
    tmp_path: pathlib.Path, files: dict[str, str], attribute: str, served: list[str]
) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    result = provisioning.load_path(tmp_path, {})
    assert result.problems == ()
    assert [getattr(d, attribute) for d in result.datasources] == served


def test_a_delete_in_an_earlier_file_does_not_remove_a_later_declaration(
    tmp_path: pathlib.Path,
) -> None:
    write(tmp_path, "a.yaml", "deleteDatasources: [{name: p}]\n")
    write(tmp_path, "b.yaml", "datasources: [{name: p, type: prometheus, url: 'http://p:1'}]\n")
    assert [d.name for d in provisioning.load_path(tmp_path, {}).datasources] == ["p"]


def test_duplicate_names_across_files_keep_the_first_file_and_report_the_later(
    tmp_path: pathlib.Path,
) -> None:
    first = write(
        tmp_path, "a.yaml", "datasources: [{name: p, type: prometheus, url: 'http://a:1'}]\n"
    )
    second = write(
        tmp_path,
        "b.yaml",
        """
        datasources:
          - {name: q, type: prometheus, url: "http://q:1"}
          - {name: p, type: prometheus, url: "http://b:1"}
        """,
    )
    result = provisioning.load_path(tmp_path, {})
    assert [(d.name, d.url) for d in result.datasources] == [
        ("p", "http://a:1"),
        ("q", "http://q:1"),
    ]
    (problem,) = result.problems
    assert problem.source.location == str(second)
    assert problem.entry == "datasources[1] (name 'p')"
    assert f"already declared in file {first}, datasources[0]" in problem.message


def test_a_broken_first_declaration_still_claims_its_name(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "a.yaml", "datasources: [{name: p, type: prometheus, url: 'ftp://a'}]\n")
    write(tmp_path, "b.yaml", "datasources: [{name: p, type: prometheus, url: 'http://b:1'}]\n")
    result = provisioning.load_path(tmp_path, {})
    assert result.datasources == ()
    assert [p.field for p in result.problems] == ["url", "name"]


def test_environment_values_are_applied_to_every_file_of_a_directory(
    tmp_path: pathlib.Path,
) -> None:
    write(tmp_path, "a.yaml", "datasources: [{name: a, type: prometheus, url: '$A_URL'}]\n")
    write(
        tmp_path,
        "b.json",
        '{"datasources": [{"name": "b", "type": "prometheus", "url": "${B_URL}"}]}',
    )
    result = provisioning.load_path(tmp_path, {"A_URL": "http://a:1/", "B_URL": "http://b:2"})
    assert [d.url for d in result.datasources] == ["http://a:1", "http://b:2"]


def test_the_scrape_interval_comes_from_grafanas_time_interval() -> None:
    assert single(parse_entry({"name": "p"})).scrape_interval_seconds is None
    declared = single(parse_entry({"name": "p", "jsonData": {"timeInterval": "1m"}}))
    assert declared.scrape_interval_seconds == 60.0
    problem = only_problem(parse_entry({"name": "p", "jsonData": {"timeInterval": "often"}}))
    assert problem.field == "jsonData.timeInterval" and "15s" in problem.message
