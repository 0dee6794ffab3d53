"""Which APIs each datasource serves, so a tool an endpoint cannot answer says so up front
(`unsupported`) instead of failing with an opaque 404: an Alertmanager serves only its own
API, a Prometheus-compatible backend every Prometheus API its flavour has.

The table only lists what is known to be missing; anything else is tried, a 404 from an
optional API is reported as `unsupported` too, and a success without a body (Prometheus's
HTTP 204 for "no data") as an empty answer (see `fetch`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from ..core import errors, hygiene
from ..sources import datasources
from . import flavour, parsing, prometheus


class Api(enum.StrEnum):
    QUERY = "query"
    ALERTS = "alerts"
    RULES = "rules"
    TARGETS = "targets"
    TSDB_STATUS = "TSDB status"
    RUNTIME_INFO = "runtime info"
    CONFIG = "configuration"
    EXEMPLARS = "exemplars"
    ALERTMANAGER = "Alertmanager"


_T = datasources.PrometheusType
_MISSING: dict[datasources.PrometheusType, frozenset[Api]] = {
    _T.PROMETHEUS: frozenset(),
    _T.THANOS: frozenset({Api.TSDB_STATUS, Api.RUNTIME_INFO, Api.CONFIG}),
    _T.MIMIR: frozenset({Api.TARGETS, Api.TSDB_STATUS, Api.RUNTIME_INFO, Api.CONFIG}),
    _T.CORTEX: frozenset({Api.TARGETS, Api.TSDB_STATUS, Api.RUNTIME_INFO, Api.CONFIG}),
    _T.VICTORIAMETRICS: frozenset({Api.EXEMPLARS, Api.RUNTIME_INFO, Api.CONFIG}),
}


_ALERTMANAGER = datasources.DatasourceKind.ALERTMANAGER
ALERTMANAGER_TOOLS = "list_alertmanager_alerts, list_silences, list_alert_groups, investigate_alert"


def supports(
    datasource: datasources.Datasource,
    api: Api,
    flavour: datasources.PrometheusType | None = None,
) -> bool:
    """By `flavour` when known (`flavour.known`: detected), else the declared type."""
    if datasource.kind is _ALERTMANAGER or api is Api.ALERTMANAGER:
        return datasource.kind is _ALERTMANAGER and api is Api.ALERTMANAGER
    return api not in _MISSING.get(flavour or datasource.prometheus_type, frozenset())


def require(
    datasource: datasources.Datasource,
    api: Api,
    flavour: datasources.PrometheusType | None = None,
) -> None:
    """Raise `Unsupported` before asking a backend for an API it lacks."""
    if supports(datasource, api, flavour):
        return
    name = hygiene.quoted(datasource.id)
    if datasource.kind is _ALERTMANAGER:
        raise errors.Unsupported(
            f"datasource {name} is an Alertmanager, which has no {api.value} API; use "
            f"{ALERTMANAGER_TOOLS} on it, and a Prometheus datasource (list_datasources) "
            "for metrics"
        )
    if api is Api.ALERTMANAGER:
        raise errors.Unsupported(
            f"datasource {name} is {datasource.type_name}, not an Alertmanager; "
            "list_datasources shows which datasources are of type Alertmanager"
        )
    kind = flavour.value if flavour else datasource.type_name
    raise errors.Unsupported(f"datasource {name} is {kind}, which has no {api.value} API")


def any_supports(candidates: Iterable[datasources.Datasource], api: Api) -> bool:
    return any(supports(d, api) for d in candidates)


async def fetch(
    datasource: datasources.Datasource,
    client: prometheus.PrometheusClient,
    api: Api,
    path: str,
    params: prometheus.Params = (),
    *,
    cache_seconds: float = 0.0,
    promql: str | None = None,
) -> prometheus.ApiResult:
    """`client.get` for an optional API: refused up front when the flavour lacks it, a 404
    (an older or differently built backend) reported as `unsupported`, not as a bug, and a
    success without a body (Prometheus's HTTP 204 for "no data") answered as nothing.
    `promql` is the agent's PromQL when the request carries it (see `parsing.send`)."""
    require(datasource, api, flavour.known(datasource, client))
    try:
        if promql is not None:
            return await parsing.send(client, path, params, promql, cache_seconds=cache_seconds)
        return await client.get(path, params, cache_seconds=cache_seconds)
    except errors.EmptyResponse:
        return prometheus.ApiResult(data=None)
    except errors.EndpointNotFound:
        raise errors.Unsupported(
            f"datasource {hygiene.quoted(datasource.id)} does not serve the {api.value} API "
            "(HTTP 404)"
        ) from None
