"""Tenancy profiles: how a multi-tenant gateway in front of a backend wants to be asked.

Declared once per datasource (CR `spec.tenancy`, Grafana `jsonData.tenancy`, the same shape
read by `parse` for both), applied to every request by `backends.tenancy`. Exactly one of:

- `openshift`: OpenShift's thanos-querier tenancy port (kube-rbac-proxy + prom-label-proxy,
  9092): GET only, a `namespace` parameter on every request (fixed here, or the caller's
  `namespace` argument), the caller's token forwarded, rules and alerts on `rulesUrl` (9093).
- `victoriaMetrics`: a vmselect cluster: `/select/<accountID>[:<projectID>]/prometheus` under
  the URL, and `extra_label` / `extra_filters[]` on every request.
- `mimir`: `X-Scope-OrgID` from `tenants` (joined with `|`, Mimir's and Cortex's federation),
  or from the caller's groups through `groupTenants`.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

_NAMESPACE: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_TENANT: Final = re.compile(r"^[A-Za-z0-9!._*'()-]{1,150}$")  # Mimir's tenant id alphabet
_MATCHER: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*=.*$")
_MAX_ID: Final = 2**32 - 1
PROFILES: Final = ("openshift", "victoriaMetrics", "mimir")
OPENSHIFT_QUERY_PORT: Final = 9092
OPENSHIFT_RULES_PORT: Final = 9093


@dataclass(frozen=True, slots=True)
class OpenShift:
    namespace: str | None
    """Every request's `namespace`; None: the caller names one per call."""
    rules_url: str
    """Base URL of the rules port, which alone serves /api/v1/rules and /api/v1/alerts."""


@dataclass(frozen=True, slots=True)
class VictoriaMetrics:
    account_id: int
    project_id: int | None = None
    extra_labels: tuple[str, ...] = ()
    """`name=value`, each ANDed to every selector by vmselect."""
    extra_filters: tuple[str, ...] = ()
    """Series selectors; vmselect ORs several."""

    @property
    def path(self) -> str:
        tenant = str(self.account_id)
        if self.project_id is not None:
            tenant += f":{self.project_id}"
        return f"/select/{tenant}/prometheus"


@dataclass(frozen=True, slots=True)
class Mimir:
    tenants: tuple[str, ...] = ()
    group_tenants: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(group, tenants) in declared order: a caller's tenants are those of its groups."""


Tenancy = OpenShift | VictoriaMetrics | Mimir


def needs_caller(profile: Tenancy | None) -> bool:
    """Whether only a caller's request can be shaped (no prober can ask on its own)."""
    if isinstance(profile, Mimir):
        return not profile.tenants
    return isinstance(profile, OpenShift)


def asks_namespace(profile: Tenancy | None) -> bool:
    """Whether calls name the namespace (an OpenShift profile that pins none)."""
    return isinstance(profile, OpenShift) and profile.namespace is None


def forwards_caller_token(profile: Tenancy | None, *, own_credentials: bool) -> bool:
    """OpenShift's tenancy port authorises each caller, so theirs is the token to send,
    unless the datasource brings credentials of its own."""
    return isinstance(profile, OpenShift) and not own_credentials


def parse(raw: object, url: str, where: str, header_names: Iterable[str] = ()) -> Tenancy:
    """The declared profile; raises ValueError naming the field under `where` to fix.
    `header_names`: the datasource's own headers, which must leave the profile's alone."""
    if not isinstance(raw, Mapping) or len(raw) != 1 or next(iter(raw)) not in PROFILES:
        raise ValueError(f"{where} must set exactly one of {', '.join(PROFILES)}")
    ((profile, body),) = raw.items()
    if not isinstance(body, Mapping):
        raise ValueError(f"{where}.{profile} must be a mapping of settings")
    path = f"{where}.{profile}"
    if profile == "openshift":
        return _openshift(body, url, path)
    if profile == "victoriaMetrics":
        return _victoria_metrics(body, path)
    if any(name.lower() == "x-scope-orgid" for name in header_names):
        raise ValueError(f"{path} sets X-Scope-OrgID; remove that header")
    return _mimir(body, path)


def _openshift(body: Mapping[object, object], url: str, where: str) -> OpenShift:
    namespace = body.get("namespace")
    if namespace is not None and not (isinstance(namespace, str) and _NAMESPACE.match(namespace)):
        raise ValueError(f"{where}.namespace must be a Kubernetes namespace name")
    rules = body.get("rulesUrl")
    if rules is None:
        parts = urllib.parse.urlsplit(url)
        if parts.port != OPENSHIFT_QUERY_PORT:
            raise ValueError(
                f"{where}.rulesUrl is required when the URL's port is not "
                f"{OPENSHIFT_QUERY_PORT} (rules and alerts are served on another port)"
            )
        host = parts.netloc.rsplit(":", 1)[0]
        rules = urllib.parse.urlunsplit(parts._replace(netloc=f"{host}:{OPENSHIFT_RULES_PORT}"))
    if not isinstance(rules, str) or not re.match(r"^https?://[^\s/@]+[^\s@]*$", rules):
        raise ValueError(f"{where}.rulesUrl must be an http(s) URL without credentials")
    return OpenShift(namespace, rules.rstrip("/"))


def _victoria_metrics(body: Mapping[object, object], where: str) -> VictoriaMetrics:
    account, project = body.get("accountID"), body.get("projectID")
    for name, value in (("accountID", account), ("projectID", project)):
        if value is None and name == "projectID":
            continue
        number = int(value) if isinstance(value, int | str) and str(value).isdigit() else -1
        if isinstance(value, bool) or not 0 <= number <= _MAX_ID:
            raise ValueError(f"{where}.{name} must be a whole number from 0 to {_MAX_ID}")
    labels = _strings(body.get("extraLabels"), f"{where}.extraLabels")
    for label in labels:
        if not _MATCHER.match(label):
            raise ValueError(f"{where}.extraLabels entries look like name=value")
    return VictoriaMetrics(
        account_id=int(str(account)),
        project_id=None if project is None else int(str(project)),
        extra_labels=labels,
        extra_filters=_strings(body.get("extraFilters"), f"{where}.extraFilters"),
    )


def _mimir(body: Mapping[object, object], where: str) -> Mimir:
    tenants = _tenants(body.get("tenants"), f"{where}.tenants")
    groups = body.get("groupTenants") or {}
    if not isinstance(groups, Mapping) or not all(isinstance(g, str) for g in groups):
        raise ValueError(f"{where}.groupTenants must map group names to lists of tenants")
    mapped = tuple(
        (str(group), _tenants(value, f"{where}.groupTenants.{group}"))
        for group, value in groups.items()
    )
    if bool(tenants) == bool(mapped):
        raise ValueError(f"{where} needs exactly one of tenants and groupTenants")
    return Mimir(tenants, mapped)


def _tenants(value: object, where: str) -> tuple[str, ...]:
    found = _strings(value, where)
    for tenant in found:
        if not _TENANT.match(tenant) or tenant in (".", ".."):
            raise ValueError(f"{where} holds {tenant!r}, which is not a Mimir tenant id")
    return found


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where} must be a list of non-empty strings")
    return tuple(value)
