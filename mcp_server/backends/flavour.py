"""Which flavour a backend is, when its declaration does not say: what the backend itself
tells, with where that came from (`source`), so an agent can weigh it.

A declared type other than Prometheus (the default, which a CR always carries) wins, then a
tenancy profile. Otherwise: Mimir names itself in buildinfo's `application`; a Thanos
querier answers `/api/v1/stores` and vmselect `/api/v1/status/active_queries`, which a
Prometheus answers with 404 (buildinfo cannot tell VictoriaMetrics: it reports a Prometheus
version). Answers are cached like other facts; the result is kept on the client, so
`known` costs nothing and capability checks use it once a detection has run.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core import errors
from ..sources import datasources, tenancy
from . import prometheus

CACHE_SECONDS = 300.0
_T = datasources.PrometheusType
_BY_PROFILE = {
    tenancy.OpenShift: _T.THANOS,
    tenancy.VictoriaMetrics: _T.VICTORIAMETRICS,
    tenancy.Mimir: _T.MIMIR,
}
_ENDPOINTS = ((_T.THANOS, "/api/v1/stores"), (_T.VICTORIAMETRICS, "/api/v1/status/active_queries"))


@dataclass(frozen=True, slots=True)
class Flavour:
    type: datasources.PrometheusType
    source: str
    """"declared", "tenancy profile", "buildinfo application", "endpoint <path>",
    "buildinfo" (it answered, and nothing else told) or "assumed" (nothing answered)."""


async def detect(
    datasource: datasources.Datasource, client: prometheus.PrometheusClient
) -> Flavour:
    declared = datasource.prometheus_type
    if (
        declared is not _T.PROMETHEUS
        or datasource.kind is not datasources.DatasourceKind.PROMETHEUS
    ):
        return Flavour(declared, "declared")
    profile = datasource.connection.tenancy
    if profile is not None:
        return Flavour(_BY_PROFILE[type(profile)], "tenancy profile")
    found = await _asked(client)
    client.flavour = found
    return found


def known(
    datasource: datasources.Datasource, client: prometheus.PrometheusClient
) -> datasources.PrometheusType:
    """The type to plan by now, without asking: a detected one once `detect` has run."""
    if datasource.prometheus_type is _T.PROMETHEUS and isinstance(client.flavour, Flavour):
        return client.flavour.type
    return datasource.prometheus_type


async def _asked(client: prometheus.PrometheusClient) -> Flavour:
    told = "assumed"
    try:
        build = await client.get("/api/v1/status/buildinfo", cache_seconds=CACHE_SECONDS)
        application = build.data.get("application") if isinstance(build.data, dict) else None
        if isinstance(application, str) and "mimir" in application.lower():
            return Flavour(_T.MIMIR, "buildinfo application")
        told = "buildinfo"
    except errors.PromsMcpError:
        pass  # not every backend serves buildinfo; the endpoints may still tell
    for flavour, path in _ENDPOINTS:
        try:
            await client.get(path, cache_seconds=CACHE_SECONDS)
        except errors.PromsMcpError:
            continue
        return Flavour(flavour, f"endpoint {path}")
    return Flavour(_T.PROMETHEUS, told)
