"""Settings, read once from the environment at start-up and passed down explicitly.

The variable names are the seed project's (PORT, HEALTH_METRICS_PORT, LOG_LEVEL,
GRAFANA_DATASOURCES_PATH, QUERY_TIMEOUT, AUTH_MODE, OPENSHIFT_API_URL, OPENSHIFT_CA_CERT_PATH)
so an existing deployment keeps working; everything newer has a safe default.
"""

from __future__ import annotations

import enum
import pathlib
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import egress, errors, forwarding, hosts

SEED_DATASOURCES_PATH = "/etc/grafana/provisioning/datasources/datasources.yaml"


class AuthMode(enum.StrEnum):
    NONE = "none"
    ACTIVE = "active"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerSettings(_Frozen):
    host: str = Field("127.0.0.1", description="HOST: bind address of both ports")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(8000, description="PORT: MCP endpoint")
    health_metrics_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        8080, description="HEALTH_METRICS_PORT: /health, /ready, /metrics; 0 turns it off"
    )
    shutdown_timeout_seconds: Annotated[float, Field(ge=0)] = Field(
        8.0, description="SHUTDOWN_TIMEOUT_SECONDS: grace for in-flight calls on SIGTERM"
    )
    shutdown_delay_seconds: Annotated[float, Field(ge=0, le=300)] = Field(
        0.0,
        description="SHUTDOWN_DELAY_SECONDS: after SIGTERM, keep accepting calls this long "
        "with /ready false, so load balancers take the pod out before it stops accepting",
    )
    max_result_tokens: Annotated[int, Field(ge=200, le=1_000_000)] = Field(
        10_000, description="MAX_RESULT_TOKENS: default token budget of every tool result"
    )
    fast_path: bool = Field(
        True,
        description="MCP_FAST_PATH: on | off; off sends every tools/call through the MCP SDK "
        "(the fast path also stays off by itself on FastMCP/SDK releases it was not tested with)",
    )
    allowed_hosts: tuple[str, ...] = Field(
        (),
        description="ALLOWED_HOSTS: comma-separated Host names (a name alone matches any port, "
        "name:port only that port) the MCP port answers besides localhost, 127.0.0.1 and "
        "[::1]; * answers any; required when HOST is not a loopback address",
    )
    allowed_origins: tuple[str, ...] = Field(
        (),
        description="ALLOWED_ORIGINS: comma-separated browser origins (scheme://host[:port]) "
        "that may call the MCP port besides loopback ones; * allows any",
    )
    max_calls_per_caller: Annotated[int, Field(ge=1, le=100_000)] = Field(
        8,
        description="MAX_CALLS_PER_CALLER: tool calls one caller (token user, else client "
        "address) may have in flight; one more is refused at once with too_many_calls",
    )
    app_max_series: Annotated[int, Field(ge=1, le=10_000)] = Field(
        200,
        description="APP_MAX_SERIES: series one chart_series answer (the MCP App's own, "
        "app-only tool) carries at most; the rest are cut, highest maximum kept",
    )
    app_max_points: Annotated[int, Field(ge=1_000, le=10_000_000)] = Field(
        400_000,
        description="APP_MAX_POINTS: points (series x points per series) one chart_series "
        "answer carries at most; fewer series are kept when a wide chart would pass it",
    )


class AuthSettings(_Frozen):
    mode: AuthMode = Field(AuthMode.NONE, description="AUTH_MODE: none | active")
    mode_explicit: bool = Field(False, description="whether AUTH_MODE was set at all")
    api_url: str | None = Field(None, description="OPENSHIFT_API_URL: Kubernetes API override")
    ca_cert_path: pathlib.Path | None = Field(None, description="OPENSHIFT_CA_CERT_PATH")
    audiences: tuple[str, ...] = Field(
        (), description="TOKEN_REVIEW_AUDIENCES: comma-separated; tokens must carry one"
    )
    authorization_verb: str = Field(
        "query", description="AUTHORIZATION_VERB: RBAC verb checked per datasource"
    )
    file_access: str = Field(
        "allow", description="FILE_DATASOURCE_ACCESS: allow | deny, for file datasources"
    )
    configmap_access: str = Field(
        "sar",
        description="CONFIGMAP_DATASOURCE_ACCESS: sar (the verb on the ConfigMap) | allow | deny",
    )


class PrometheusSettings(_Frozen):
    query_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        30.0, description="QUERY_TIMEOUT: default per-request timeout, sent to Prometheus too"
    )
    max_response_bytes: Annotated[int, Field(ge=1024)] = Field(
        32 * 1024 * 1024, description="MAX_RESPONSE_BYTES: upstream body cap per request"
    )
    max_connections_per_origin: Annotated[int, Field(ge=1, le=4096)] = Field(
        64, description="MAX_CONNECTIONS_PER_ORIGIN: connections to one backend, all datasources"
    )
    fanout_concurrency: Annotated[int, Field(ge=1, le=1024)] = Field(
        16, description="FANOUT_CONCURRENCY: datasources one fleet call asks at once"
    )
    fanout_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        10.0, description="FANOUT_TIMEOUT: how long a fleet call waits for each datasource"
    )


class SourceSettings(_Frozen):
    datasources_path: pathlib.Path | None = Field(
        None, description="GRAFANA_DATASOURCES_PATH: provisioning file or directory"
    )
    path_explicit: bool = Field(False, description="whether GRAFANA_DATASOURCES_PATH was set")
    reload_interval_seconds: Annotated[float, Field(gt=0)] = Field(
        2.0, description="CONFIG_RELOAD_INTERVAL: how often the file(s) are checked for edits"
    )


class RunMode(enum.StrEnum):
    AUTO = "auto"
    STANDALONE = "standalone"
    OPERATOR = "operator"


class OperatorSettings(_Frozen):
    """Read here so there is one settings object; only the operator package acts on them."""

    mode: RunMode = Field(
        RunMode.AUTO,
        description="PROMS_MCP_MODE: auto (operator when a Kubernetes API is configured: "
        "in-cluster or KUBECONFIG), standalone, or operator",
    )
    namespaces: tuple[str, ...] = Field(
        (), description="WATCH_NAMESPACES: comma-separated; empty watches the whole cluster"
    )
    configmap_label: str = Field(
        "grafana_datasource", description="DATASOURCE_CONFIGMAP_LABEL: label selecting ConfigMaps"
    )
    configmap_label_value: str | None = Field(
        None, description="DATASOURCE_CONFIGMAP_LABEL_VALUE: required value; unset = any value"
    )
    probe_interval_seconds: Annotated[float, Field(gt=0)] = Field(
        60.0, description="PROBE_INTERVAL: seconds between reachability probes of CRs"
    )
    kubeconfig: pathlib.Path | None = Field(None, description="KUBECONFIG: outside a cluster")
    resync_interval_seconds: Annotated[float, Field(gt=0)] = Field(
        60.0,
        description="RESYNC_INTERVAL: seconds between full listings that drop objects deleted "
        "while a watch missed it; the longest a deleted datasource stays served",
    )


class LeaderElection(enum.StrEnum):
    AUTO = "auto"
    ON = "on"
    OFF = "off"


class LeaseSettings(_Frozen):
    """Which replica writes statuses and events, and probes (operator/leadership.py)."""

    election: LeaderElection = Field(
        LeaderElection.AUTO,
        description="LEADER_ELECTION: on | off | auto (on in a pod); off: this process writes",
    )
    name: str = Field("proms-mcp", description="LEASE_NAME: the coordination.k8s.io Lease")
    namespace: str | None = Field(
        None, description="LEASE_NAMESPACE: unset = the pod's namespace, else `default`"
    )
    identity: str | None = Field(
        None, description="POD_NAME: this replica's identity; unset = hostname_pid"
    )
    duration_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        15, description="LEASE_DURATION_SECONDS: how long followers wait on a silent leader"
    )
    renew_deadline_seconds: Annotated[float, Field(gt=0)] = Field(
        10.0, description="LEASE_RENEW_DEADLINE_SECONDS: a leader unable to renew this long stops"
    )
    retry_period_seconds: Annotated[float, Field(gt=0)] = Field(
        2.0, description="LEASE_RETRY_PERIOD_SECONDS: between tries to take or renew the Lease"
    )


class DestinationSettings(_Frozen):
    """Where datasources declared in the cluster may send callers' tokens and connect
    (docs/security.md); files are the server operator's own and are not policed."""

    forward_token_allowed_urls: tuple[str, ...] = Field(
        (),
        description="FORWARD_TOKEN_ALLOWED_URLS: comma-separated URL prefixes and hosts a "
        "caller's token may be forwarded to; empty forwards it nowhere",
    )
    egress_allow: tuple[str, ...] = Field(
        (),
        description="EGRESS_ALLOW: comma-separated CIDRs and hosts cluster-declared "
        "datasources may connect to; empty allows all but the built-in denials",
    )
    egress_deny: tuple[str, ...] = Field(
        (), description="EGRESS_DENY: comma-separated CIDRs and hosts they may never connect to"
    )

    def egress_policy(self, api_server: tuple[egress.Address, ...] = ()) -> egress.EgressPolicy:
        return egress.policy(self.egress_allow, self.egress_deny, api_server)

    def forwarding_policy(self) -> forwarding.ForwardingPolicy:
        return forwarding.parse(self.forward_token_allowed_urls)


class LoggingSettings(_Frozen):
    level: str = Field("INFO", description="LOG_LEVEL: DEBUG | INFO | WARNING | ERROR")


class Settings(_Frozen):
    server: ServerSettings = ServerSettings()
    auth: AuthSettings = AuthSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    sources: SourceSettings = SourceSettings()
    operator: OperatorSettings = OperatorSettings()
    lease: LeaseSettings = LeaseSettings()
    destinations: DestinationSettings = DestinationSettings()
    logging: LoggingSettings = LoggingSettings()


_ENV: dict[str, tuple[str, str]] = {
    # variable: (group, field)
    "HOST": ("server", "host"),
    "PORT": ("server", "port"),
    "HEALTH_METRICS_PORT": ("server", "health_metrics_port"),
    "SHUTDOWN_TIMEOUT_SECONDS": ("server", "shutdown_timeout_seconds"),
    "SHUTDOWN_DELAY_SECONDS": ("server", "shutdown_delay_seconds"),
    "MAX_RESULT_TOKENS": ("server", "max_result_tokens"),
    "MCP_FAST_PATH": ("server", "fast_path"),
    "ALLOWED_HOSTS": ("server", "allowed_hosts"),
    "ALLOWED_ORIGINS": ("server", "allowed_origins"),
    "MAX_CALLS_PER_CALLER": ("server", "max_calls_per_caller"),
    "APP_MAX_SERIES": ("server", "app_max_series"),
    "APP_MAX_POINTS": ("server", "app_max_points"),
    "AUTH_MODE": ("auth", "mode"),
    "OPENSHIFT_API_URL": ("auth", "api_url"),
    "OPENSHIFT_CA_CERT_PATH": ("auth", "ca_cert_path"),
    "TOKEN_REVIEW_AUDIENCES": ("auth", "audiences"),
    "AUTHORIZATION_VERB": ("auth", "authorization_verb"),
    "FILE_DATASOURCE_ACCESS": ("auth", "file_access"),
    "CONFIGMAP_DATASOURCE_ACCESS": ("auth", "configmap_access"),
    "QUERY_TIMEOUT": ("prometheus", "query_timeout_seconds"),
    "MAX_RESPONSE_BYTES": ("prometheus", "max_response_bytes"),
    "MAX_CONNECTIONS_PER_ORIGIN": ("prometheus", "max_connections_per_origin"),
    "FANOUT_CONCURRENCY": ("prometheus", "fanout_concurrency"),
    "FANOUT_TIMEOUT": ("prometheus", "fanout_timeout_seconds"),
    "GRAFANA_DATASOURCES_PATH": ("sources", "datasources_path"),
    "CONFIG_RELOAD_INTERVAL": ("sources", "reload_interval_seconds"),
    "LOG_LEVEL": ("logging", "level"),
    "PROMS_MCP_MODE": ("operator", "mode"),
    "WATCH_NAMESPACES": ("operator", "namespaces"),
    "DATASOURCE_CONFIGMAP_LABEL": ("operator", "configmap_label"),
    "DATASOURCE_CONFIGMAP_LABEL_VALUE": ("operator", "configmap_label_value"),
    "PROBE_INTERVAL": ("operator", "probe_interval_seconds"),
    "KUBECONFIG": ("operator", "kubeconfig"),
    "RESYNC_INTERVAL": ("operator", "resync_interval_seconds"),
    "LEADER_ELECTION": ("lease", "election"),
    "LEASE_NAME": ("lease", "name"),
    "LEASE_NAMESPACE": ("lease", "namespace"),
    "POD_NAME": ("lease", "identity"),
    "LEASE_DURATION_SECONDS": ("lease", "duration_seconds"),
    "LEASE_RENEW_DEADLINE_SECONDS": ("lease", "renew_deadline_seconds"),
    "LEASE_RETRY_PERIOD_SECONDS": ("lease", "retry_period_seconds"),
    "FORWARD_TOKEN_ALLOWED_URLS": ("destinations", "forward_token_allowed_urls"),
    "EGRESS_ALLOW": ("destinations", "egress_allow"),
    "EGRESS_DENY": ("destinations", "egress_deny"),
}
_LISTS = frozenset(
    {
        "namespaces",
        "audiences",
        "allowed_hosts",
        "allowed_origins",
        "forward_token_allowed_urls",
        "egress_allow",
        "egress_deny",
    }
)


def from_environ(environ: Mapping[str, str]) -> Settings:
    """Build the settings; raise ConfigurationError naming the variable that is wrong."""
    groups: dict[str, dict[str, object]] = {}
    for variable, (group, name) in _ENV.items():
        value = environ.get(variable, "").strip()
        if value:
            groups.setdefault(group, {})[name] = _shape(name, value)
    auth = groups.setdefault("auth", {})
    auth["mode_explicit"] = "mode" in auth
    sources = groups.setdefault("sources", {})
    sources["path_explicit"] = "datasources_path" in sources
    if not sources["path_explicit"] and pathlib.Path(SEED_DATASOURCES_PATH).exists():
        sources["datasources_path"] = SEED_DATASOURCES_PATH
    if "level" in groups.get("logging", {}):
        groups["logging"]["level"] = str(groups["logging"]["level"]).upper()
    try:
        settings = Settings.model_validate(groups)
    except ValidationError as exc:
        raise errors.ConfigurationError(_describe(exc)) from None
    _check_exposure(settings)
    hosts.check_allowed(
        settings.server.host, settings.server.allowed_hosts, settings.server.allowed_origins
    )
    return settings


def _shape(name: str, value: str) -> object:
    if name in ("mode", "election"):
        return value.lower()
    if name == "fast_path":
        return {"on": True, "off": False}.get(value.lower(), value)
    if name in _LISTS:
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _describe(exc: ValidationError) -> str:
    by_field = {fields: variable for variable, fields in _ENV.items()}
    lines = []
    for error in exc.errors():
        location = tuple(str(part) for part in error["loc"][:2])
        variable = by_field.get((location[0], location[1]) if len(location) == 2 else ("", ""))
        lines.append(f"{variable or '.'.join(location)}: {error['msg']}")
    return "invalid settings: " + "; ".join(lines)


def _check_exposure(settings: Settings) -> None:
    """Refuse to serve every backend's data to the network without an explicit decision."""
    auth = settings.auth
    if (
        auth.mode is AuthMode.NONE
        and not auth.mode_explicit
        and not hosts.is_loopback(settings.server.host)
    ):
        raise errors.ConfigurationError(
            f"HOST={settings.server.host} is not a loopback address and AUTH_MODE is unset: "
            "set AUTH_MODE=active to require Kubernetes bearer tokens, or AUTH_MODE=none to "
            "serve without authentication on purpose"
        )
    if settings.server.port == settings.server.health_metrics_port:
        raise errors.ConfigurationError(
            f"PORT and HEALTH_METRICS_PORT are both {settings.server.port}: the MCP endpoint "
            "and /health, /ready, /metrics need two ports (HEALTH_METRICS_PORT=0 turns it off)"
        )
    if auth.file_access not in ("allow", "deny"):
        raise errors.ConfigurationError("FILE_DATASOURCE_ACCESS: expected allow or deny")
    if auth.configmap_access not in ("sar", "allow", "deny"):
        raise errors.ConfigurationError("CONFIGMAP_DATASOURCE_ACCESS: expected sar, allow or deny")
    lease = settings.lease
    if not lease.retry_period_seconds < lease.renew_deadline_seconds < lease.duration_seconds:
        raise errors.ConfigurationError(
            "LEASE_RETRY_PERIOD_SECONDS < LEASE_RENEW_DEADLINE_SECONDS < LEASE_DURATION_SECONDS "
            "must hold, or a leader could lose the Lease while it still writes"
        )
    try:
        settings.destinations.egress_policy()
        settings.destinations.forwarding_policy()
    except ValueError as exc:  # the message names the variable and the entry
        raise errors.ConfigurationError(str(exc)) from None
    if settings.logging.level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise errors.ConfigurationError(
            f"LOG_LEVEL={settings.logging.level}: expected DEBUG, INFO, WARNING or ERROR"
        )
