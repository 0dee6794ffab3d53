"""The Helm chart: it lints, renders valid manifests for every scenario, grants exactly the RBAC
the controller needs, hardens every container, and its helm test speaks MCP.

helm is found through `HELM`, `.tools/bin/helm`, or `PATH`; when there is none,
`scripts/get-helm.sh` installs it once per session. A missing helm fails these tests, it never
turns them into skips. Rendered manifests are checked offline with `kubernetes-validate`
against several Kubernetes versions; the custom resources it has no schema for are checked
against our own CRD (as tests/operator/test_crd.py does) or are known third-party kinds.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from mcp_server.core import settings
from mcp_server.protocol import request_guard
from tests.operator import test_crd
from tests.support import harness

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "proms-mcp"
SCENARIO_DIR = CHART / "ci"
GET_HELM = ROOT / "scripts" / "get-helm.sh"
LOCAL_HELM = ROOT / ".tools" / "bin" / "helm"

RELEASE = "t"
NAMESPACE = "proms"
FULLNAME = "t-proms-mcp"
SERVICE_NAMES = [
    FULLNAME,
    f"{FULLNAME}.{NAMESPACE}",
    f"{FULLNAME}.{NAMESPACE}.svc",
    f"{FULLNAME}.{NAMESPACE}.svc.cluster.local",
]

SCENARIOS = ["default", "auth-active", "namespaced", "clusterwide-servicemonitor", "everything-on"]
KUBE_VERSIONS = ["1.27", "1.29", "1.31", "1.33"]
# Kinds kubernetes-validate has no schema for: ours (checked against the CRD below) and
# prometheus-operator's and OpenShift's.
NOT_IN_KUBERNETES = {"PrometheusDatasource", "ServiceMonitor", "Route"}

Manifest = dict[str, Any]
Rule = tuple[str, str, str]  # apiGroup, resource, verb

CONTROLLER_RULES: frozenset[Rule] = frozenset(
    {
        ("proms-mcp.dev", "prometheusdatasources", "get"),
        ("proms-mcp.dev", "prometheusdatasources", "list"),
        ("proms-mcp.dev", "prometheusdatasources", "watch"),
        ("proms-mcp.dev", "prometheusdatasources/status", "patch"),
        ("", "configmaps", "get"),
        ("", "configmaps", "list"),
        ("", "configmaps", "watch"),
        ("", "secrets", "get"),  # by name only: never listed or watched
        ("", "events", "create"),
    }
)


# --- helm ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Helm:
    path: str

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [self.path, *args], capture_output=True, text=True, timeout=60, check=False
        )
        if check and completed.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed:\n{completed.stderr}")
        return completed

    def template(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(
            "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args, check=check
        )


def find_helm() -> str | None:
    if os.environ.get("HELM"):
        return os.environ["HELM"]
    if os.access(LOCAL_HELM, os.X_OK):
        return str(LOCAL_HELM)
    return shutil.which("helm")


@pytest.fixture(scope="session")
def helm() -> Helm:
    """helm 3, installed by scripts/get-helm.sh when absent; never a skip."""
    path = find_helm()
    if path is None:
        installed = subprocess.run(
            ["bash", str(GET_HELM)], capture_output=True, text=True, timeout=300, check=False
        )
        if installed.returncode != 0:
            pytest.fail(f"no helm, and scripts/get-helm.sh failed:\n{installed.stderr}")
        path = installed.stdout.strip().splitlines()[-1]
    if not os.access(path, os.X_OK):
        pytest.fail(f"helm at {path} is not an executable file (HELM={os.environ.get('HELM')})")
    version = subprocess.run(
        [path, "version", "--short"], capture_output=True, text=True, timeout=30, check=False
    )
    assert version.returncode == 0, f"{path} does not run: {version.stderr}"
    assert version.stdout.startswith("v3."), version.stdout
    return Helm(path)


def values_args(scenario: str) -> list[str]:
    return [] if scenario == "default" else ["-f", str(SCENARIO_DIR / f"{scenario}-values.yaml")]


_rendered: dict[tuple[str, ...], list[Manifest]] = {}


def render(helm: Helm, scenario: str, *extra: str) -> list[Manifest]:
    """Every manifest of one scenario (CRDs and the helm test pod included), cached."""
    key = (scenario, *extra)
    if key not in _rendered:
        output = helm.template("--include-crds", *values_args(scenario), *extra).stdout
        _rendered[key] = [doc for doc in yaml.safe_load_all(output) if doc]
    return copy.deepcopy(_rendered[key])


def of_kind(manifests: Sequence[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: Sequence[Manifest], kind: str) -> Manifest:
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def pod_specs(manifests: Sequence[Manifest]) -> Iterator[tuple[str, Manifest]]:
    for manifest in manifests:
        if manifest["kind"] == "Deployment":
            yield manifest["metadata"]["name"], manifest["spec"]["template"]["spec"]
        elif manifest["kind"] == "Pod":
            yield manifest["metadata"]["name"], manifest["spec"]


def deployment_env(manifests: Sequence[Manifest]) -> dict[str, Any]:
    (container,) = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# --- the chart's files ----------------------------------------------------------------------


def test_the_chart_is_an_application_chart_of_the_current_app_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = (ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', project, re.MULTILINE)
    assert version is not None
    assert chart["apiVersion"] == "v2"
    assert chart["type"] == "application"
    assert chart["appVersion"] == version.group(1)


def test_the_chart_crd_is_a_byte_identical_copy_of_the_crd() -> None:
    chart_crds = sorted(p.name for p in (CHART / "crds").iterdir())
    assert chart_crds == [test_crd.CRD_FILE.name]
    assert (CHART / "crds" / test_crd.CRD_FILE.name).read_bytes() == test_crd.CRD_FILE.read_bytes()


def test_the_scenario_values_files_are_the_ones_these_tests_expect() -> None:
    found = sorted(p.name.removesuffix("-values.yaml") for p in SCENARIO_DIR.glob("*.yaml"))
    assert found == sorted(s for s in SCENARIOS if s != "default")


def values_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def crd_spec_schema() -> dict[str, Any]:
    return test_crd.to_json_schema(test_crd.openapi_schema()["properties"]["spec"])


def write_crd_spec_into_values_schema() -> None:
    """Refresh the copy after a CRD change: `uv run python -c 'from tests import test_chart;
    test_chart.write_crd_spec_into_values_schema()'`."""
    schema = values_schema()
    schema["definitions"]["prometheusDatasourceSpec"] = crd_spec_schema()
    (CHART / "values.schema.json").write_text(json.dumps(schema, indent=2) + "\n")


def test_the_values_schema_checks_datasource_specs_with_the_crd_schema() -> None:
    embedded = values_schema()["definitions"]["prometheusDatasourceSpec"]
    assert embedded == crd_spec_schema(), write_crd_spec_into_values_schema.__doc__


def object_nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "properties" in node:
            yield path or "<root>", node
        for key, child in node.items():
            yield from object_nodes(child, f"{path}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from object_nodes(child, f"{path}/{index}")


def test_every_object_in_the_values_schema_forbids_unknown_keys() -> None:
    """Only Grafana's provisioning entries (Grafana's format, not ours) stay open."""
    open_objects = [
        path
        for path, node in object_nodes(values_schema())
        if node.get("additionalProperties") is not False
    ]
    assert open_objects == ["/definitions/grafanaDatasource"]


def test_the_image_runs_as_the_user_the_chart_expects() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert "\nUSER 10001:10001\n" in dockerfile
    assert values["podSecurityContext"]["runAsUser"] == 10001
    assert values["podSecurityContext"]["runAsGroup"] == 10001
    assert 'ENTRYPOINT ["python", "-m", "proms_operator"]' in dockerfile
    assert "HEALTHCHECK" not in dockerfile


# --- lint and schema ------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_chart_lints_cleanly(helm: Helm, scenario: str) -> None:
    linted = helm.run("lint", "--strict", str(CHART), *values_args(scenario))
    assert "0 chart(s) failed" in linted.stdout


BAD_VALUES = [
    pytest.param(["--set", "replicas=2"], "Additional property replicas is not allowed", id="key"),
    pytest.param(["--set", "image.tgs=x"], "Additional property tgs is not allowed", id="nested"),
    pytest.param(["--set", "replicaCount=two"], "replicaCount: Invalid type", id="type"),
    pytest.param(["--set-string", "rbac.create=yes"], "rbac.create: Invalid type", id="bool"),
    pytest.param(["--set", "auth.mode=maybe"], "auth.mode must be one of", id="enum"),
    pytest.param(["--set", "logLevel=TRACE"], "logLevel must be one of", id="log level"),
    pytest.param(["--set", "queryTimeout=0"], "queryTimeout", id="zero timeout"),
    pytest.param(["--set", "maxCallsPerCaller=0"], "maxCallsPerCaller", id="no calls"),
    pytest.param(
        ["--set", "requestGuard.allowedHosts={https://mcp.example.com}"],
        "requestGuard.allowedHosts.0: Does not match pattern",
        id="an origin as a host",
    ),
    pytest.param(
        ["--set", "requestGuard.allowedOrigins={agents.example.com}"],
        "requestGuard.allowedOrigins.0: Does not match pattern",
        id="a host as an origin",
    ),
    pytest.param(
        ["--set", "datasources[0].name=x", "--set", "datasources[0].spec.url=ftp://x"],
        "datasources.0.spec.url: Does not match pattern",
        id="crd spec",
    ),
    pytest.param(
        ["--set", "datasources[0].name=x", "--set", "datasources[0].spec.urll=http://x"],
        "Additional property urll is not allowed",
        id="crd spec key",
    ),
]


@pytest.mark.parametrize(("arguments", "message"), BAD_VALUES)
def test_the_values_schema_rejects_unknown_keys_and_wrong_types(
    helm: Helm, arguments: list[str], message: str
) -> None:
    rendered = helm.template(*arguments, check=False)
    assert rendered.returncode != 0
    assert "values don't meet the specifications of the schema" in rendered.stderr
    assert message in rendered.stderr


def test_a_datasource_outside_the_watched_namespaces_is_refused(helm: Helm) -> None:
    rendered = helm.template(
        "--set-json",
        'datasources=[{"name": "p", "namespace": "elsewhere", "spec": {"url": "http://p"}}]',
        "--set",
        "watch.namespaces={monitoring}",
        check=False,
    )
    assert rendered.returncode != 0
    assert "PrometheusDatasource elsewhere/p is outside watch.namespaces" in rendered.stderr


# --- valid manifests ------------------------------------------------------------------------


def kubernetes_validate() -> Any:
    """The `kubernetes-validate` package (a dev dependency; it ships no type information)."""
    try:
        return importlib.import_module("kubernetes_validate")
    except ModuleNotFoundError:
        pytest.fail("kubernetes-validate is not installed: it is a dev dependency")


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_manifest_is_valid_for_the_kubernetes_version(
    helm: Helm, scenario: str, version: str
) -> None:
    validator = kubernetes_validate()
    manifests = render(helm, scenario, "--kube-version", f"{version}.0")
    unknown = set()
    problems = []
    for manifest in manifests:
        try:
            validator.validate(manifest, version, strict=True)
        except validator.SchemaNotFoundError:
            unknown.add(manifest["kind"])
        except validator.ValidationError as exc:
            problems.append(f"{manifest['kind']} {manifest['metadata']['name']}: {exc}")
    assert problems == []
    assert unknown <= NOT_IN_KUBERNETES


def test_the_validator_catches_a_misspelt_field(helm: Helm) -> None:
    """So that the test above cannot pass by validating nothing."""
    validator = kubernetes_validate()
    deployment = one(render(helm, "default"), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(validator.ValidationError):
        validator.validate(deployment, KUBE_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_rendered_datasource_is_valid_against_the_crd(helm: Helm, scenario: str) -> None:
    for datasource in of_kind(render(helm, scenario), test_crd.KIND):
        assert datasource["apiVersion"] == test_crd.API_VERSION
        assert test_crd.schema_errors(datasource) == []
        assert test_crd.list_map_duplicates(datasource) == []
        if test_crd.HAVE_CELPY:
            assert test_crd.cel_violations(datasource) == []


def test_the_datasources_and_configmaps_from_values_are_rendered_where_they_are_watched(
    helm: Helm,
) -> None:
    manifests = render(helm, "everything-on")
    datasources = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d
        for d in of_kind(manifests, test_crd.KIND)
    }
    assert set(datasources) == {
        ("monitoring", "prometheus"),
        ("monitoring", "thanos"),
        ("team-a", "mimir"),
    }
    assert datasources["monitoring", "prometheus"]["metadata"]["labels"]["team"] == "sre"
    assert datasources["team-a", "mimir"]["spec"]["suspend"] is True
    configmap = one(manifests, "ConfigMap")
    assert configmap["metadata"]["labels"]["proms_mcp_datasource"] == "enabled"
    document = yaml.safe_load(configmap["data"]["datasources.yaml"])
    assert document["apiVersion"] == 1
    assert [d["name"] for d in document["datasources"]] == ["Thanos", "Mimir team-a"]


def test_a_datasource_configmap_carries_the_grafana_label_any_value_by_default(
    helm: Helm,
) -> None:
    manifests = render(
        helm,
        "default",
        "--set-json",
        'datasourceConfigMaps=[{"name": "ds", "datasources": '
        '[{"name": "p", "type": "prometheus", "url": "http://p:9090"}]}]',
    )
    configmap = one(manifests, "ConfigMap")
    assert configmap["metadata"]["namespace"] == NAMESPACE
    assert configmap["metadata"]["labels"]["grafana_datasource"] == "1"


# --- RBAC -----------------------------------------------------------------------------------


def rules_of(role: Manifest) -> set[Rule]:
    """(group, resource, verb) granted; a rule limited to names gives `resource:name`."""
    flattened: set[Rule] = set()
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs", "resourceNames"}, rule
        assert {"apiGroups", "resources", "verbs"} <= set(rule), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                names = [f"{resource}:{name}" for name in rule.get("resourceNames", [])]
                for verb in rule["verbs"]:
                    flattened.update((group, named, verb) for named in names or [resource])
    return flattened


def granted(manifests: Sequence[Manifest]) -> dict[tuple[str, str], set[Rule]]:
    """(kind, namespace) -> rules, for every Role and ClusterRole the chart renders."""
    found: dict[tuple[str, str], set[Rule]] = {}
    for role in [*of_kind(manifests, "Role"), *of_kind(manifests, "ClusterRole")]:
        key = (role["kind"], role["metadata"].get("namespace", ""))
        assert key not in found, key
        found[key] = rules_of(role)
    return found


def bindings(
    manifests: Sequence[Manifest], subject: dict[str, str]
) -> set[tuple[str, str, str, str]]:
    """(kind, namespace, roleRef kind, roleRef name) of every binding, all to `subject`."""
    found = set()
    for binding in [*of_kind(manifests, "RoleBinding"), *of_kind(manifests, "ClusterRoleBinding")]:
        assert binding["subjects"] == [subject]
        assert binding["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
        found.add(
            (
                binding["kind"],
                binding["metadata"].get("namespace", ""),
                binding["roleRef"]["kind"],
                binding["roleRef"]["name"],
            )
        )
    return found


@dataclass(frozen=True)
class Scope:
    """What a scenario should be granted: watched namespaces (none: cluster-wide) and auth."""

    namespaces: tuple[str, ...]
    auth_active: bool
    fullname: str = FULLNAME
    service_account: str = FULLNAME

    def roles(self) -> dict[tuple[str, str], set[Rule]]:
        lease = {("Role", NAMESPACE): lease_rules(self.fullname)}
        if not self.namespaces:
            return {("ClusterRole", ""): set(CONTROLLER_RULES), **lease}
        return {("Role", ns): set(CONTROLLER_RULES) for ns in self.namespaces} | lease

    def bindings(self) -> set[tuple[str, str, str, str]]:
        found = {("RoleBinding", ns, "Role", self.fullname) for ns in self.namespaces}
        election = f"{self.fullname}-leader-election"
        found.add(("RoleBinding", NAMESPACE, "Role", election))
        if not self.namespaces:
            cluster_name = f"{self.fullname}-{NAMESPACE}"
            found.add(("ClusterRoleBinding", "", "ClusterRole", cluster_name))
        if self.auth_active:
            found.add(DELEGATOR)
        return found

    def subject(self) -> dict[str, str]:
        return {"kind": "ServiceAccount", "name": self.service_account, "namespace": NAMESPACE}


def lease_rules(lease: str) -> set[Rule]:
    """The one Lease by name; create for any name (RBAC cannot restrict create by name)."""
    group = "coordination.k8s.io"
    named = {(group, f"leases:{lease}", verb) for verb in ("get", "update", "patch")}
    return named | {(group, "leases", "create")}


DELEGATOR = ("ClusterRoleBinding", "", "ClusterRole", "system:auth-delegator")
SCOPES = {
    "default": Scope((), auth_active=True),
    "auth-active": Scope((), auth_active=True),
    "namespaced": Scope(("monitoring", "team-a"), auth_active=False),
    "clusterwide-servicemonitor": Scope((), auth_active=True),
    "everything-on": Scope(
        ("monitoring", "team-a"),
        auth_active=True,
        fullname="proms-mcp",
        service_account="proms-mcp-agent-gateway",
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rbac_grants_exactly_what_the_controller_needs_in_its_scope(
    helm: Helm, scenario: str
) -> None:
    manifests = render(helm, scenario)
    scope = SCOPES[scenario]
    assert granted(manifests) == scope.roles()
    assert bindings(manifests, scope.subject()) == scope.bindings()


RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_wildcard_appears_in_any_rbac_object(helm: Helm, scenario: str) -> None:
    manifests = render(helm, scenario)
    for kind in RBAC_KINDS:
        for manifest in of_kind(manifests, kind):
            assert "*" not in json.dumps(manifest), manifest["metadata"]["name"]


def test_the_auth_delegator_binding_comes_only_with_active_authentication(helm: Helm) -> None:
    subject = SCOPES["default"].subject()
    active = bindings(render(helm, "default", "--set", "auth.mode=active"), subject)
    off = bindings(render(helm, "default", "--set", "auth.mode=none"), subject)
    assert DELEGATOR in active
    assert off == active - {DELEGATOR}


def test_rbac_and_the_service_account_can_be_left_to_the_cluster_admin(helm: Helm) -> None:
    manifests = render(
        helm,
        "default",
        "--set",
        "rbac.create=false",
        "--set",
        "serviceAccount.create=false",
        "--set",
        "serviceAccount.name=provided",
    )
    kinds = {m["kind"] for m in manifests}
    assert not kinds & {"ServiceAccount", *RBAC_KINDS}
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "provided"


# --- the pod --------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_pod_and_container_is_hardened(helm: Helm, scenario: str) -> None:
    specs = list(pod_specs(render(helm, scenario)))
    fullname = SCOPES[scenario].fullname
    assert sorted(name for name, _ in specs) == [fullname, f"{fullname}-test-tools-list"]
    for name, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (10001, 10001, 10001)
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["enableServiceLinks"] is False, name
        containers = [*spec["containers"], *spec.get("initContainers", [])]
        for container in containers:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context.get("privileged") is not True, name
            assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, name
            assert container["resources"]["limits"]["memory"], name
        tmp = {v["name"]: v for v in spec["volumes"]}["tmp"]
        assert "emptyDir" in tmp, name


def test_the_deployment_configures_the_server_from_values(helm: Helm) -> None:
    assert deployment_env(render(helm, "default")) == {
        "PROMS_MCP_MODE": "operator",
        "HOST": "0.0.0.0",
        "PORT": "8000",
        "HEALTH_METRICS_PORT": "8080",
        "ALLOWED_HOSTS": ",".join(SERVICE_NAMES),
        "ALLOWED_ORIGINS": "",
        "MAX_CALLS_PER_CALLER": "8",
        "LOG_LEVEL": "INFO",
        "QUERY_TIMEOUT": "30",
        "PROBE_INTERVAL": "60",
        "AUTH_MODE": "active",
        "TOKEN_REVIEW_AUDIENCES": "",
        "AUTHORIZATION_VERB": "query",
        "WATCH_NAMESPACES": "",
        "DATASOURCE_CONFIGMAP_LABEL": "grafana_datasource",
        "DATASOURCE_CONFIGMAP_LABEL_VALUE": "",
        "SHUTDOWN_DELAY_SECONDS": "5",
        "LEADER_ELECTION": "on",
        "LEASE_NAME": FULLNAME,
        "LEASE_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        "POD_NAME": {"fieldRef": {"fieldPath": "metadata.name"}},
        "LEASE_DURATION_SECONDS": "15",
        "LEASE_RENEW_DEADLINE_SECONDS": "10",
        "LEASE_RETRY_PERIOD_SECONDS": "2",
        "FORWARD_TOKEN_ALLOWED_URLS": "",
        "EGRESS_ALLOW": "",
        "EGRESS_DENY": "",
    }
    env = deployment_env(render(helm, "everything-on"))
    assert env["WATCH_NAMESPACES"] == "monitoring,team-a"
    assert env["TOKEN_REVIEW_AUDIENCES"] == "proms-mcp,https://kubernetes.default.svc"
    assert env["AUTHORIZATION_VERB"] == "get"
    assert env["DATASOURCE_CONFIGMAP_LABEL"] == "proms_mcp_datasource"
    assert env["DATASOURCE_CONFIGMAP_LABEL_VALUE"] == "enabled"
    assert (env["LOG_LEVEL"], env["QUERY_TIMEOUT"], env["PROBE_INTERVAL"]) == (
        "DEBUG",
        "45.5",
        "30",
    )
    assert env["MAX_RESPONSE_BYTES"] == "16777216"
    assert env["TENANT_TOKEN"] == {"secretKeyRef": {"name": "mimir-tenant", "key": "token"}}


def test_the_server_settings_accept_the_environment_the_chart_sets(helm: Helm) -> None:
    def literal_env(scenario: str) -> dict[str, str]:
        env = deployment_env(render(helm, scenario))
        return {name: value for name, value in env.items() if isinstance(value, str)}

    default = settings.from_environ(literal_env("default"))
    assert default.operator.mode is settings.RunMode.OPERATOR
    assert default.auth.mode is settings.AuthMode.ACTIVE
    assert (default.server.host, default.server.port) == ("0.0.0.0", 8000)
    assert default.server.health_metrics_port == 8080
    assert default.operator.namespaces == ()
    assert default.operator.configmap_label_value is None
    assert default.server.allowed_hosts == tuple(SERVICE_NAMES)
    assert default.server.allowed_origins == ()
    assert default.server.max_calls_per_caller == 8
    everything = settings.from_environ(literal_env("everything-on"))
    assert everything.operator.namespaces == ("monitoring", "team-a")
    assert everything.operator.configmap_label_value == "enabled"
    assert everything.prometheus.query_timeout_seconds == 45.5
    assert everything.operator.probe_interval_seconds == 30
    assert everything.logging.level == "DEBUG"
    lease = default.lease
    assert lease.election is settings.LeaderElection.ON and lease.name == FULLNAME
    assert (lease.duration_seconds, lease.renew_deadline_seconds) == (15, 10.0)
    assert lease.retry_period_seconds == 2.0
    assert default.server.shutdown_delay_seconds == 5.0
    destinations = everything.destinations
    assert destinations.forwarding_policy().allows(
        "https://prometheus-k8s.openshift-monitoring.svc"
    )
    assert destinations.egress_allow == ("10.0.0.0/8", "*.monitoring.svc.cluster.local")
    assert destinations.egress_deny == ("10.96.0.0/12",)
    assert default.destinations == settings.DestinationSettings()  # the safe defaults


def test_the_probes_use_health_and_ready_on_the_metrics_port(helm: Helm) -> None:
    (container,) = one(render(helm, "default"), "Deployment")["spec"]["template"]["spec"][
        "containers"
    ]
    probes = {
        kind: (container[kind]["httpGet"]["path"], container[kind]["httpGet"]["port"])
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes == {
        "startupProbe": ("/health", "http-metrics"),
        "livenessProbe": ("/health", "http-metrics"),
        "readinessProbe": ("/ready", "http-metrics"),
    }
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"mcp": 8000, "http-metrics": 8080}


def test_the_deployment_runs_the_versioned_image_with_its_service_account_token(
    helm: Helm,
) -> None:
    spec = one(render(helm, "default"), "Deployment")["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == "ghcr.io/proms-mcp/proms-mcp:0.1.0"
    assert spec["automountServiceAccountToken"] is True
    assert spec["serviceAccountName"] == FULLNAME
    digest = "sha256:" + "a" * 64
    pinned = one(render(helm, "default", "--set", f"image.digest={digest}"), "Deployment")
    assert pinned["spec"]["template"]["spec"]["containers"][0]["image"].endswith("@" + digest)


def test_the_service_exposes_mcp_and_metrics(helm: Helm) -> None:
    service = one(render(helm, "default"), "Service")
    ports = {(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {("mcp", 8000, "mcp"), ("http-metrics", 8080, "http-metrics")}
    assert service["spec"]["type"] == "ClusterIP"


def test_a_single_replica_has_no_disruption_budget_and_no_spread(helm: Helm) -> None:
    manifests = render(helm, "default")
    assert of_kind(manifests, "PodDisruptionBudget") == []
    assert (
        "topologySpreadConstraints" not in one(manifests, "Deployment")["spec"]["template"]["spec"]
    )


def test_several_replicas_get_a_disruption_budget_and_spread_over_nodes_and_zones(
    helm: Helm,
) -> None:
    manifests = render(helm, "everything-on")  # autoscaled: 3 to 6
    deployment = one(manifests, "Deployment")
    assert one(manifests, "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    constraints = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in constraints] == [
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    ]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert all(c["labelSelector"]["matchLabels"] == selector for c in constraints)
    two = render(helm, "default", "--set", "replicaCount=2")
    assert one(two, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


# --- optional parts -------------------------------------------------------------------------


def test_the_optional_parts_are_off_by_default(helm: Helm) -> None:
    kinds = sorted(m["kind"] for m in render(helm, "default"))
    assert kinds == sorted(
        [
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Deployment",
            "Pod",
        ]
    )


def test_the_service_monitor_scrapes_the_metrics_port_of_this_release(helm: Helm) -> None:
    manifests = render(helm, "clusterwide-servicemonitor")
    monitor = one(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint == {
        "port": "http-metrics",
        "path": "/metrics",
        "scheme": "http",
        "interval": "15s",
        "scrapeTimeout": "10s",
    }
    service = one(manifests, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}


def test_the_network_policy_admits_mcp_clients_and_the_monitoring_namespace_only(
    helm: Helm,
) -> None:
    policy = one(render(helm, "everything-on"), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    mcp, metrics = policy["ingress"]
    assert mcp["ports"] == [{"port": "mcp", "protocol": "TCP"}]
    assert len(mcp["from"]) == 2
    assert metrics["ports"] == [{"port": "http-metrics", "protocol": "TCP"}]
    (scraper,) = metrics["from"]
    assert scraper["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
    }
    assert len(policy["egress"]) == 2
    open_egress = one(
        render(helm, "default", "--set", "networkPolicy.enabled=true"), "NetworkPolicy"
    )
    assert open_egress["spec"]["policyTypes"] == ["Ingress"]
    assert "from" not in open_egress["spec"]["ingress"][0]


def test_the_ingress_and_the_route_lead_to_the_mcp_port(helm: Helm) -> None:
    manifests = render(helm, "everything-on")
    ingress = one(manifests, "Ingress")["spec"]
    (rule,) = ingress["rules"]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "proms-mcp", "port": {"name": "mcp"}}
    assert ingress["tls"] == [{"hosts": ["proms-mcp.example.com"], "secretName": "proms-mcp-tls"}]
    route = one(manifests, "Route")
    assert route["apiVersion"] == "route.openshift.io/v1"
    assert route["spec"]["to"]["name"] == "proms-mcp"
    assert route["spec"]["port"] == {"targetPort": "mcp"}
    assert route["spec"]["tls"]["termination"] == "reencrypt"


def allowed_by(env: dict[str, Any]) -> request_guard.Allowed:
    return request_guard.Allowed.of(
        env["ALLOWED_HOSTS"].split(","), [o for o in env["ALLOWED_ORIGINS"].split(",") if o]
    )


def test_the_server_answers_the_services_names_and_the_charts_ingress_and_route_hosts(
    helm: Helm,
) -> None:
    allowed = allowed_by(deployment_env(render(helm, "everything-on")))
    for host in (
        "proms-mcp",
        "proms-mcp.proms:80",
        "proms-mcp.proms.svc:80",
        "proms-mcp.proms.svc.cluster.local",
        "proms-mcp.example.com",
        "proms-mcp.apps.example.com:443",
        "localhost:8000",
    ):
        assert allowed.host(host), host
    assert not allowed.host("proms-mcp.evil.example.com")
    assert not allowed.origin("https://proms-mcp.example.com")


def test_more_hosts_origins_and_the_call_limit_come_from_values(helm: Helm) -> None:
    env = deployment_env(
        render(
            helm,
            "default",
            "--set",
            "requestGuard.allowedHosts={mcp.gateway.example.com:8443}",
            "--set",
            "requestGuard.allowedOrigins={https://agents.example.com}",
            "--set",
            "maxCallsPerCaller=32",
        )
    )
    assert env["ALLOWED_HOSTS"] == ",".join([*SERVICE_NAMES, "mcp.gateway.example.com:8443"])
    assert env["ALLOWED_ORIGINS"] == "https://agents.example.com"
    assert env["MAX_CALLS_PER_CALLER"] == "32"


def test_a_route_without_a_host_needs_its_generated_name_in_allowed_hosts(helm: Helm) -> None:
    refused = helm.template("--set", "route.enabled=true", check=False)
    assert refused.returncode != 0
    assert "route.enabled without route.host" in refused.stderr
    named = "requestGuard.allowedHosts={proms-mcp-proms.apps.example.com}"
    env = deployment_env(render(helm, "default", "--set", "route.enabled=true", "--set", named))
    assert env["ALLOWED_HOSTS"] == ",".join([*SERVICE_NAMES, "proms-mcp-proms.apps.example.com"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_helm_test_calls_the_server_by_a_name_it_answers(helm: Helm, scenario: str) -> None:
    manifests = render(helm, scenario)
    (container,) = the_test_pod(manifests)["spec"]["containers"]
    url = next(e["value"] for e in container["env"] if e["name"] == "MCP_URL")
    assert allowed_by(deployment_env(manifests)).host(urllib.parse.urlsplit(url).netloc)


# --- NOTES and helm test --------------------------------------------------------------------


def render_notes(helm: Helm, tmp_path: pathlib.Path, *extra: str) -> str:
    """NOTES.txt through a probe template in a copy of the chart (`helm template` omits it)."""
    copy_dir = tmp_path / "proms-mcp"
    shutil.copytree(CHART, copy_dir)
    (copy_dir / "templates" / "notes-probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  notes: {{ include "proms-mcp/templates/NOTES.txt" . | toJson }}\n'
    )
    output = helm.run(
        "template",
        RELEASE,
        str(copy_dir),
        "--namespace",
        NAMESPACE,
        "--show-only",
        "templates/notes-probe.yaml",
        *extra,
    ).stdout
    notes: str = yaml.safe_load(output)["data"]["notes"]
    return notes


def test_the_notes_give_the_url_a_token_command_and_a_role_granting_queries(
    helm: Helm, tmp_path: pathlib.Path
) -> None:
    notes = render_notes(helm, tmp_path, *values_args("auth-active"))
    assert f"http://{FULLNAME}.{NAMESPACE}.svc:8000/mcp/" in notes
    assert "kubectl create token agent -n agents --duration 24h --audience proms-mcp" in notes
    assert 'resources: ["prometheusdatasources"]' in notes
    assert 'resourceNames: ["prometheus"]' in notes
    assert 'verbs: ["query"]' in notes
    assert f"helm test {RELEASE} -n {NAMESPACE}" in notes


def test_the_notes_warn_when_authentication_is_off(helm: Helm, tmp_path: pathlib.Path) -> None:
    notes = render_notes(helm, tmp_path, *values_args("namespaced"))
    assert "Authentication is OFF" in notes
    assert "kubectl create token" not in notes
    assert "monitoring, team-a" in notes


def the_test_pod(manifests: Sequence[Manifest]) -> Manifest:
    pod = one(manifests, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    return pod


def test_the_helm_test_lists_the_tools_of_a_real_proms_mcp(
    helm: Helm, tmp_path: pathlib.Path
) -> None:
    """The test pod's own script, run here against proms-mcp on loopback."""
    pod = the_test_pod(render(helm, "default", "--set", "auth.mode=none"))
    (container,) = pod["spec"]["containers"]
    assert container["env"] == [
        {"name": "MCP_URL", "value": f"http://{FULLNAME}.{NAMESPACE}.svc:8000/mcp/"}
    ]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["tmp"]
    command = container["command"]
    assert command[:2] == ["python", "-c"]
    token = tmp_path / "token"
    token.write_text("not-checked-when-auth-is-off\n")
    with harness.serve_in_thread(harness.make_settings()) as running:
        completed = subprocess.run(
            [sys.executable, "-c", command[2]],
            env={**os.environ, "MCP_URL": running.mcp_url, "TOKEN_FILE": str(token)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "query_instant" in completed.stdout
    assert completed.stdout.strip().endswith("ok")


def test_with_authentication_the_helm_test_sends_a_token_for_the_first_audience(
    helm: Helm,
) -> None:
    pod = the_test_pod(render(helm, "auth-active"))
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TOKEN_FILE"] == "/var/run/secrets/proms-mcp-test/token"
    assert pod["spec"]["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    (source,) = volumes["token"]["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "proms-mcp"
    assert source["serviceAccountToken"]["path"] == "token"


# --- replicas -------------------------------------------------------------------------------


def test_the_autoscaler_is_optional_scales_the_deployment_on_cpu_and_owns_its_count(
    helm: Helm,
) -> None:
    assert of_kind(render(helm, "default"), "HorizontalPodAutoscaler") == []
    assert one(render(helm, "default"), "Deployment")["spec"]["replicas"] == 1
    manifests = render(helm, "everything-on")
    autoscaler = one(manifests, "HorizontalPodAutoscaler")
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "proms-mcp",
    }
    assert (autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"]) == (3, 6)
    (metric,) = autoscaler["spec"]["metrics"]
    assert metric["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 70},
    }
    assert "replicas" not in one(manifests, "Deployment")["spec"], "the autoscaler owns it"


def test_an_autoscaler_needs_a_cpu_request(helm: Helm) -> None:
    refused = helm.template(
        "--set", "autoscaling.enabled=true", "--set", "resources.requests.cpu=null", check=False
    )
    assert refused.returncode != 0 and "resources.requests.cpu" in refused.stderr


def test_an_autoscaler_of_two_or_more_gets_a_disruption_budget_and_spread(helm: Helm) -> None:
    manifests = render(helm, "default", "--set", "autoscaling.enabled=true")
    assert one(manifests, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    spec = one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert len(spec["topologySpreadConstraints"]) == 2


def test_leader_election_names_the_release_lease_and_can_be_turned_off(helm: Helm) -> None:
    env = deployment_env(render(helm, "everything-on"))
    assert env["LEASE_NAME"] == "proms-mcp"
    assert (env["LEASE_DURATION_SECONDS"], env["LEASE_RENEW_DEADLINE_SECONDS"]) == ("20", "12")
    assert env["LEASE_RETRY_PERIOD_SECONDS"] == "3"
    off = render(helm, "default", "--set", "leaderElection.enabled=false")
    assert deployment_env(off)["LEADER_ELECTION"] == "off"
    assert not {"POD_NAME", "LEASE_NAME"} & set(deployment_env(off))
    assert of_kind(off, "Role") == [] and of_kind(off, "RoleBinding") == []


def test_a_terminating_pod_keeps_serving_while_it_leaves_the_service(helm: Helm) -> None:
    spec = one(render(helm, "everything-on"), "Deployment")["spec"]["template"]["spec"]
    env = deployment_env(render(helm, "everything-on"))
    assert env["SHUTDOWN_DELAY_SECONDS"] == "10"
    # The delay, then 8 s for calls in flight, then releasing the Lease, before SIGKILL:
    assert spec["terminationGracePeriodSeconds"] >= 10 + 8 + 2
    refused = helm.template(
        "--set", "shutdownDelaySeconds=25", "--set", "terminationGracePeriodSeconds=30", check=False
    )
    assert refused.returncode != 0 and "terminationGracePeriodSeconds" in refused.stderr
