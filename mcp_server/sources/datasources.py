"""Datasource records: what the registry holds and the backend client is built from.

Every source (provisioning file, ConfigMap, custom resource) converts its input into these
frozen records once; nothing downstream sees raw YAML. Secrets are `pydantic.SecretStr` so a
stray `repr()` or log line prints `**********`, never the value.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, NewType

from pydantic import SecretStr

from ..core import egress
from . import tenancy as tenancy_profiles

DatasourceId = NewType("DatasourceId", str)
"""What agents pass as `datasource_id`: the provisioning `name`, or `namespace/name` for CRs."""

HttpMethod = Literal["GET", "POST"]


class PrometheusType(enum.StrEnum):
    """Backend flavour; decides which APIs can be expected to answer."""

    PROMETHEUS = "Prometheus"
    THANOS = "Thanos"
    MIMIR = "Mimir"
    CORTEX = "Cortex"
    VICTORIAMETRICS = "VictoriaMetrics"

    @classmethod
    def parse(cls, text: str) -> PrometheusType:
        """Case-insensitive lookup, as Grafana stores it lower-case and CRs capitalise it."""
        for member in cls:
            if member.value.lower() == text.strip().lower():
                return member
        choices = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown prometheusType {text!r}; expected one of {choices}")


class DatasourceKind(enum.StrEnum):
    """Which API a datasource serves: Prometheus's query API (in any flavour), or
    Alertmanager's API v2. Tools check it before asking a backend for an API it lacks."""

    PROMETHEUS = "prometheus"
    ALERTMANAGER = "alertmanager"


class SourceKind(enum.StrEnum):
    FILE = "file"
    CONFIGMAP = "configmap"
    CUSTOM_RESOURCE = "prometheusdatasource"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a datasource was declared, so problems and collisions can name the culprit."""

    kind: SourceKind
    location: str  # a file path, or "namespace/name" of the object

    def __str__(self) -> str:
        return f"{self.kind.value} {self.location}"


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """TLS towards the backend; PEM text, not paths, so Secret- and file-sourced look alike."""

    insecure_skip_verify: bool = False
    ca_pem: SecretStr | None = None
    client_cert_pem: SecretStr | None = None
    client_key_pem: SecretStr | None = None
    server_name: str | None = None


@dataclass(frozen=True, slots=True)
class BasicAuth:
    username: str
    password: SecretStr


@dataclass(frozen=True, slots=True)
class Connection:
    """Everything the HTTP client depends on; a change here (and only here) rebuilds it."""

    url: str
    http_method: HttpMethod = "POST"
    timeout_seconds: float | None = None
    headers: tuple[tuple[str, SecretStr], ...] = ()
    basic_auth: BasicAuth | None = None
    tls: TLSSettings = field(default_factory=TLSSettings)
    query_parameters: tuple[tuple[str, str], ...] = ()
    forward_caller_token: bool = False
    egress_policy: egress.EgressPolicy | None = None
    """The addresses the client may connect to: set on datasources declared in the cluster
    (CRs, ConfigMaps); None (files) connects anywhere."""
    tenancy: tenancy_profiles.Tenancy | None = None
    """How a multi-tenant gateway in front of the backend wants to be asked."""


def frozen_labels(labels: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(labels or {}))


@dataclass(frozen=True, slots=True)
class Datasource:
    """One Prometheus-compatible endpoint, or one Alertmanager, as agents see it."""

    id: DatasourceId
    name: str
    source: Source
    connection: Connection
    prometheus_type: PrometheusType = PrometheusType.PROMETHEUS
    """The flavour of a Prometheus-kind datasource; meaningless for an Alertmanager."""
    kind: DatasourceKind = DatasourceKind.PROMETHEUS
    alerts_from: tuple[DatasourceId, ...] = ()
    """An Alertmanager's: the ids (or Grafana uids) of the Prometheus datasources whose
    alerts it receives, where an investigation looks for the rule behind an alert."""
    uid: str | None = None
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=frozen_labels)
    scrape_interval_seconds: float | None = None
    """As declared (Grafana `jsonData.timeInterval`, CR `spec.scrapeInterval`); None: ask the
    backend, or assume 15 s. Sets the smallest useful step and rate() window."""

    @property
    def url(self) -> str:
        return self.connection.url

    @property
    def type_name(self) -> str:
        """What agents see as `type`: the flavour, or "Alertmanager"."""
        if self.kind is DatasourceKind.ALERTMANAGER:
            return "Alertmanager"
        return self.prometheus_type.value


@dataclass(frozen=True, slots=True)
class Problem:
    """A datasource definition that could not be served, with enough context to fix it."""

    source: Source
    message: str
    entry: str | None = None  # e.g. "datasources[2] (name 'thanos')"
    field: str | None = None  # e.g. "jsonData.httpMethod"
    datasource_id: DatasourceId | None = None
    """The id the definition would be served as, when it names one: agents asking for it are
    told why it is not served (`datasource_unavailable`) instead of that it does not exist."""

    def __str__(self) -> str:
        where = str(self.source)
        if self.entry:
            where += f", {self.entry}"
        if self.field:
            where += f", field {self.field}"
        return f"{where}: {self.message}"
