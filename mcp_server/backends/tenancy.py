"""A datasource's tenancy profile applied to one request: which base URL, which method,
which extra parameters and headers (see `sources.tenancy` for what each profile means).

The namespace a caller asks for travels as `requested_namespace`, set by the tool from its
`namespace` argument after access to it was checked (`live.Backends.admit_namespace`).
"""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass

from ..auth import identity
from ..core import errors, hygiene
from ..sources import tenancy

requested_namespace: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "proms_mcp_requested_namespace", default=None
)

_QUERY_PORT_PATHS = re.compile(r"^/api/v1/(query|query_range|series|labels|label/[^/]+/values)$")
_RULES_PORT_PATHS = frozenset({"/api/v1/rules", "/api/v1/alerts"})
TENANT_HEADER = "X-Scope-OrgID"


@dataclass(frozen=True, slots=True)
class Shaped:
    """What the profile adds to one request to `path`."""

    base: str
    get_only: bool = False
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


def shape(profile: tenancy.Tenancy | None, base: str, path: str, datasource_id: str) -> Shaped:
    """Raises our errors for a request the gateway would refuse, before it is sent."""
    if isinstance(profile, tenancy.OpenShift):
        return _openshift(profile, base, path, datasource_id)
    if isinstance(profile, tenancy.VictoriaMetrics):
        params = [("extra_label", label) for label in profile.extra_labels]
        params += [("extra_filters[]", selector) for selector in profile.extra_filters]
        return Shaped(base + profile.path, params=tuple(params))
    if isinstance(profile, tenancy.Mimir):
        tenants = profile.tenants or _callers_tenants(profile, datasource_id)
        return Shaped(base, headers=((TENANT_HEADER, "|".join(tenants)),))
    return Shaped(base)


def _openshift(profile: tenancy.OpenShift, base: str, path: str, datasource_id: str) -> Shaped:
    if path in _RULES_PORT_PATHS:
        base = profile.rules_url
    elif not _QUERY_PORT_PATHS.match(path):
        raise errors.EndpointNotFound(
            f"datasource {hygiene.quoted(datasource_id)} is an OpenShift tenancy port, which "
            "serves only query, query_range, series, labels and label values (and rules and "
            "alerts on its rules port)"
        )
    asked = requested_namespace.get()
    namespace = profile.namespace or asked
    if asked is not None and asked != namespace:
        raise errors.InvalidArgument(
            f"datasource {hygiene.quoted(datasource_id)} serves namespace "
            f"{hygiene.quoted(namespace or '')} only; leave namespace out"
        )
    if namespace is None:
        raise errors.InvalidArgument(
            f"datasource {hygiene.quoted(datasource_id)} answers for one namespace at a time; "
            "pass namespace (one whose pods you may read)"
        )
    return Shaped(base, get_only=True, params=(("namespace", namespace),))


def _callers_tenants(profile: tenancy.Mimir, datasource_id: str) -> tuple[str, ...]:
    """The tenants of the caller's groups, in declared order, each once."""
    who = identity.current.get()
    groups = set(who.groups) if who is not None else set()
    tenants = [t for group, ts in profile.group_tenants if group in groups for t in ts]
    if not tenants:
        raise errors.DatasourceUnavailable(
            f"datasource {hygiene.quoted(datasource_id)} maps tenants from the caller's "
            "groups, and none of yours has one"
            + ("" if who is not None else " (it needs AUTH_MODE=active)")
        )
    return tuple(dict.fromkeys(tenants))
