"""PrometheusDatasource specs -> Datasource records (the CR's trust boundary).

The API server validates CRs against the CRD's schema and CEL rules, but not every cluster
enforces CEL and objects may predate a schema change, so the spec is validated again here
with the same rules. A spec that cannot be served raises `SpecError` with a reason and a
message fit for a status condition; neither ever contains a secret's value.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from mcp_server.core import errors as mcp_errors
from mcp_server.core import timespec
from mcp_server.sources import datasources
from mcp_server.sources import tenancy as profiles

GROUP = "proms-mcp.dev"
VERSION = "v1alpha1"
PLURAL = "prometheusdatasources"
KIND = "PrometheusDatasource"

_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
_USERINFO = re.compile(r"^https?://[^/?#]*@")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h))+$")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]+$")


def _check_ca(ca: SecretStr) -> None:
    try:
        ssl.create_default_context(cadata=ca.get_secret_value())
    except (ssl.SSLError, ValueError):
        raise SpecError(
            "InvalidCertificate", "tls.ca is not a PEM-encoded CA certificate"
        ) from None


class SpecError(Exception):
    """Why a CR cannot be served: `reason` is a CamelCase condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Reference:
    """A key of a Secret or ConfigMap in the CR's namespace."""

    kind: Literal["Secret", "ConfigMap"]
    namespace: str
    name: str
    key: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name} key {self.key!r}"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class KeyRef(_Spec):
    name: str = Field(min_length=1, max_length=253)
    key: str = Field(min_length=1, max_length=253)


class SecretSource(_Spec):
    secret_key_ref: KeyRef = Field(alias="secretKeyRef")


class CASource(_Spec):
    secret_key_ref: KeyRef | None = Field(None, alias="secretKeyRef")
    config_map_key_ref: KeyRef | None = Field(None, alias="configMapKeyRef")

    @model_validator(mode="after")
    def _exactly_one(self) -> CASource:
        if (self.secret_key_ref is None) == (self.config_map_key_ref is None):
            raise ValueError("tls.ca needs exactly one of secretKeyRef and configMapKeyRef")
        return self


class BasicAuthSpec(_Spec):
    username: str = Field(min_length=1)
    password_secret_key_ref: KeyRef = Field(alias="passwordSecretKeyRef")


class AuthSpec(_Spec):
    bearer_token: SecretSource | None = Field(None, alias="bearerToken")
    basic_auth: BasicAuthSpec | None = Field(None, alias="basicAuth")
    forward_caller_token: bool = Field(False, alias="forwardCallerToken")

    @model_validator(mode="after")
    def _at_most_one(self) -> AuthSpec:
        chosen = [self.bearer_token is not None, self.basic_auth is not None]
        if sum(chosen) + int(self.forward_caller_token) > 1:
            raise ValueError("set at most one of bearerToken, basicAuth and forwardCallerToken")
        return self


class TLSSpec(_Spec):
    ca: CASource | None = None
    cert: SecretSource | None = None
    key: SecretSource | None = None
    server_name: str | None = Field(None, alias="serverName")
    insecure_skip_verify: bool = Field(False, alias="insecureSkipVerify")

    @model_validator(mode="after")
    def _pairs(self) -> TLSSpec:
        if (self.cert is None) != (self.key is None):
            raise ValueError("tls.cert and tls.key go together")
        if self.insecure_skip_verify and self.ca is not None:
            raise ValueError("tls.insecureSkipVerify excludes tls.ca")
        return self


class HeaderSpec(_Spec):
    name: str = Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", max_length=256)
    value: str | None = None
    value_from: SecretSource | None = Field(None, alias="valueFrom")

    @model_validator(mode="after")
    def _one_value(self) -> HeaderSpec:
        if (self.value is None) == (self.value_from is None):
            raise ValueError(f"header {self.name}: set exactly one of value and valueFrom")
        if self.name.lower() == "authorization":
            raise ValueError("set the Authorization header through spec.auth")
        return self


class PrometheusDatasourceSpec(_Spec):
    url: str = Field(max_length=2048)
    display_name: str | None = Field(None, alias="displayName", max_length=128)
    description: str | None = Field(None, max_length=1024)
    labels: dict[str, str] = Field(default_factory=dict)
    type: Literal["Prometheus", "Alertmanager"] = "Prometheus"
    alerts_from: list[str] = Field(default_factory=list, alias="alertsFrom", max_length=32)
    prometheus_type: str = Field("Prometheus", alias="prometheusType")
    auth: AuthSpec | None = None
    tls: TLSSpec | None = None
    headers: list[HeaderSpec] = Field(default_factory=list, max_length=32)
    query_parameters: dict[str, str] = Field(default_factory=dict, alias="queryParameters")
    timeout: str | None = None
    scrape_interval: str | None = Field(None, alias="scrapeInterval")
    http_method: Literal["GET", "POST"] = Field("POST", alias="httpMethod")
    tenancy: dict[str, Any] | None = None
    suspend: bool = False

    def profile(self) -> profiles.Tenancy | None:
        """`spec.tenancy` as the server applies it (checked by the validator below)."""
        if self.tenancy is None:
            return None
        return profiles.parse(self.tenancy, self.url, "tenancy", [h.name for h in self.headers])

    def forwarding_field(self) -> str | None:
        """The field that makes the caller's token go to the backend, if any: the explicit
        switch, or the OpenShift profile when auth brings no credentials of its own."""
        auth = self.auth
        if auth is not None and auth.forward_caller_token:
            return "spec.auth.forwardCallerToken"
        own = auth is not None and bool(auth.bearer_token or auth.basic_auth)
        if profiles.forwards_caller_token(self.profile(), own_credentials=own):
            return "spec.tenancy.openshift"
        return None

    @model_validator(mode="after")
    def _url_and_timeout(self) -> PrometheusDatasourceSpec:
        if not _URL.match(self.url):
            raise ValueError("spec.url must be an http or https URL")
        if _USERINFO.match(self.url):
            raise ValueError("spec.url must not carry credentials; use spec.auth")
        if self.timeout is not None and not _DURATION.match(self.timeout):
            raise ValueError("spec.timeout must be a duration such as 30s or 1m30s")
        if self.scrape_interval is not None and not _DURATION.match(self.scrape_interval):
            raise ValueError("spec.scrapeInterval must be a duration such as 15s or 1m")
        datasources.PrometheusType.parse(self.prometheus_type)
        if self.alerts_from and self.type != "Alertmanager":
            raise ValueError("spec.alertsFrom is for type Alertmanager only")
        if any(not link.strip() or len(link) > 317 for link in self.alerts_from):
            raise ValueError("spec.alertsFrom holds datasource ids of 1 to 317 characters")
        if self.tenancy is not None and self.type != "Prometheus":
            raise ValueError("spec.tenancy is for type Prometheus only")
        self.profile()  # raises for a profile that cannot be applied
        return self


def parse_spec(raw: Mapping[str, Any]) -> PrometheusDatasourceSpec:
    try:
        return PrometheusDatasourceSpec.model_validate(dict(raw))
    except pydantic.ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}".removeprefix(
                "Value error, "
            )
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise SpecError("InvalidSpec", details.replace("Value error, ", "")) from None
    except ValueError as exc:
        raise SpecError("InvalidSpec", str(exc)) from None


def references(spec: PrometheusDatasourceSpec, namespace: str) -> tuple[Reference, ...]:
    """Every Secret/ConfigMap key the spec needs, so the controller can fetch and watch them."""
    found: list[Reference] = []

    def secret(ref: KeyRef | None) -> None:
        if ref is not None:
            found.append(Reference("Secret", namespace, ref.name, ref.key))

    if spec.auth is not None:
        secret(spec.auth.bearer_token.secret_key_ref if spec.auth.bearer_token else None)
        secret(spec.auth.basic_auth.password_secret_key_ref if spec.auth.basic_auth else None)
    if spec.tls is not None:
        if spec.tls.ca is not None:
            secret(spec.tls.ca.secret_key_ref)
            if spec.tls.ca.config_map_key_ref is not None:
                ref = spec.tls.ca.config_map_key_ref
                found.append(Reference("ConfigMap", namespace, ref.name, ref.key))
        secret(spec.tls.cert.secret_key_ref if spec.tls.cert else None)
        secret(spec.tls.key.secret_key_ref if spec.tls.key else None)
    for header in spec.headers:
        secret(header.value_from.secret_key_ref if header.value_from else None)
    return tuple(dict.fromkeys(found))


Resolver = Callable[[Reference], str]
"""Returns the referenced value; raises SpecError(SecretNotFound / KeyNotFound) otherwise."""


def datasource_id(namespace: str, name: str) -> datasources.DatasourceId:
    return datasources.DatasourceId(f"{namespace}/{name}")


def to_datasource(
    namespace: str, name: str, spec: PrometheusDatasourceSpec, resolve: Resolver
) -> datasources.Datasource:
    values = _Values(namespace, resolve)
    headers, basic, forward = _credentials(spec, values)
    tls = _tls(spec.tls, values) if spec.tls is not None else datasources.TLSSettings()
    timeout = None
    if spec.timeout is not None:
        try:
            timeout = timespec.parse_duration(spec.timeout, argument="spec.timeout")
        except mcp_errors.InvalidArgument as exc:
            raise SpecError("InvalidSpec", exc.message) from None
    return datasources.Datasource(
        id=datasource_id(namespace, name),
        name=spec.display_name or name,
        source=datasources.Source(datasources.SourceKind.CUSTOM_RESOURCE, f"{namespace}/{name}"),
        connection=datasources.Connection(
            url=spec.url.rstrip("/"),
            http_method=spec.http_method,
            timeout_seconds=timeout,
            headers=tuple(headers),
            basic_auth=basic,
            tls=tls,
            query_parameters=tuple(sorted(spec.query_parameters.items())),
            forward_caller_token=forward,
            tenancy=spec.profile(),
        ),
        prometheus_type=datasources.PrometheusType.parse(spec.prometheus_type),
        kind=datasources.DatasourceKind(spec.type.lower()),
        alerts_from=tuple(datasources.DatasourceId(link.strip()) for link in spec.alerts_from),
        description=spec.description or "",
        labels=datasources.frozen_labels(spec.labels),
        scrape_interval_seconds=(
            timespec.parse_duration(spec.scrape_interval, argument="spec.scrapeInterval")
            if spec.scrape_interval is not None
            else None
        ),
    )


class _Values:
    """The values a spec refers to, in the CR's namespace."""

    def __init__(self, namespace: str, resolve: Resolver) -> None:
        self._namespace = namespace
        self._resolve = resolve

    def secret(self, ref: KeyRef) -> SecretStr:
        return SecretStr(self._resolve(Reference("Secret", self._namespace, ref.name, ref.key)))

    def config_map(self, ref: KeyRef) -> SecretStr:
        return SecretStr(self._resolve(Reference("ConfigMap", self._namespace, ref.name, ref.key)))


def _header_value(value: str, what: str) -> SecretStr:
    """Secrets made from files end in a newline; anything else unsendable is an error here,
    not a confusing failure at query time (and never echoes the value)."""
    cleaned = value.strip()
    if not cleaned or not _HEADER_VALUE.match(cleaned):
        raise SpecError(
            "InvalidSecretValue",
            f"{what} must be non-empty printable ASCII (no line breaks) to go in a header",
        )
    return SecretStr(cleaned)


def _credentials(
    spec: PrometheusDatasourceSpec, values: _Values
) -> tuple[list[tuple[str, SecretStr]], datasources.BasicAuth | None, bool]:
    """(headers, basic auth, whether the caller's token is forwarded)."""
    headers: list[tuple[str, SecretStr]] = []
    basic = None
    forward = False
    if spec.auth is not None:
        if spec.auth.bearer_token is not None:
            ref = spec.auth.bearer_token.secret_key_ref
            token = _header_value(values.secret(ref).get_secret_value(), "the bearer token")
            headers.append(("Authorization", SecretStr(f"Bearer {token.get_secret_value()}")))
        if spec.auth.basic_auth is not None:
            basic = datasources.BasicAuth(
                spec.auth.basic_auth.username,
                values.secret(spec.auth.basic_auth.password_secret_key_ref),
            )
    forward = spec.forwarding_field() is not None
    for header in spec.headers:
        raw = (
            header.value
            if header.value is not None
            else values.secret(header.value_from.secret_key_ref).get_secret_value()  # type: ignore[union-attr]
        )
        headers.append((header.name, _header_value(raw, f"header {header.name}")))
    return headers, basic, forward


def _tls(tls: TLSSpec, values: _Values) -> datasources.TLSSettings:
    ca = None
    if tls.ca is not None:
        if tls.ca.secret_key_ref is not None:
            ca = values.secret(tls.ca.secret_key_ref)
        elif tls.ca.config_map_key_ref is not None:
            ca = values.config_map(tls.ca.config_map_key_ref)
    if ca is not None:
        _check_ca(ca)
    return datasources.TLSSettings(
        insecure_skip_verify=tls.insecure_skip_verify,
        ca_pem=ca,
        client_cert_pem=values.secret(tls.cert.secret_key_ref) if tls.cert else None,
        client_key_pem=values.secret(tls.key.secret_key_ref) if tls.key else None,
        server_name=tls.server_name,
    )
