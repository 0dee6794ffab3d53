"""What an agent should know about a datasource before querying it: flavour, version,
retention and scrape interval, read from the declaration first and the backend second.

Backend answers are cached (they change on upgrades and reloads, not per query), and every
lookup is best effort: a backend that hides its configuration still gets an answer, with
`source` saying where each figure came from. What the backend says is cleaned
(`hygiene.clean`) like every backend string.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import yaml

from ..core import errors, hygiene, raw, timespec
from ..sources import datasources
from . import capabilities, flavour, prometheus

logger = logging.getLogger(__name__)

DEFAULT_SCRAPE_INTERVAL_SECONDS = 15.0
"""Prometheus's own default `global.scrape_interval` is 1m, but 15s-30s is what nearly every
deployment sets (and the shorter guess errs towards more detail, never towards an empty
rate())."""
CACHE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class ScrapeInterval:
    seconds: float
    source: str  # "declared", "backend" or "assumed"


async def scrape_interval(
    datasource: datasources.Datasource, client: prometheus.PrometheusClient
) -> ScrapeInterval:
    if datasource.scrape_interval_seconds is not None:
        return ScrapeInterval(datasource.scrape_interval_seconds, "declared")
    config = await _config(datasource, client)
    interval = (config.get("global") or {}).get("scrape_interval") if config else None
    if isinstance(interval, str):
        with contextlib.suppress(errors.InvalidArgument):
            return ScrapeInterval(timespec.parse_duration(interval, argument="interval"), "backend")
    return ScrapeInterval(DEFAULT_SCRAPE_INTERVAL_SECONDS, "assumed")


async def _config(
    datasource: datasources.Datasource, client: prometheus.PrometheusClient
) -> dict[str, Any] | None:
    """The backend's loaded configuration, or None where it is not served or not readable."""
    if not capabilities.supports(datasource, capabilities.Api.CONFIG):
        return None
    try:
        answer = await client.get("/api/v1/status/config", cache_seconds=CACHE_SECONDS)
        if not isinstance(answer.data, dict):
            return None
        parsed = yaml.safe_load(str(raw.fields(answer.data, raw.Config).get("yaml", "")))
    except (errors.PromsMcpError, yaml.YAMLError):
        return None
    return parsed if isinstance(parsed, dict) else None


async def build_info(
    client: prometheus.PrometheusClient, *, timeout: float | None = None, cached: bool = False
) -> raw.BuildInfo:
    """The backend's `/api/v1/status/buildinfo` data (empty when it sent no object);
    raises UpstreamError when it does not answer."""
    cache = CACHE_SECONDS if cached else 0.0
    answer = await client.get("/api/v1/status/buildinfo", timeout=timeout, cache_seconds=cache)
    return raw.fields(answer.data, raw.BuildInfo)


async def describe(
    datasource: datasources.Datasource, client: prometheus.PrometheusClient
) -> dict[str, Any]:
    """The facts as one JSON-ready mapping; missing figures are left out, not guessed."""
    detected = await flavour.detect(datasource, client)
    if datasource.kind is datasources.DatasourceKind.PROMETHEUS:
        datasource = dataclasses.replace(datasource, prometheus_type=detected.type)
    facts: dict[str, Any] = {
        "id": datasource.id,
        "name": datasource.name,
        "type": datasource.type_name,
        "type_source": detected.source,
    }
    if datasource.description:
        facts["description"] = datasource.description
    if datasource.labels:
        facts["labels"] = dict(datasource.labels)
    with contextlib.suppress(errors.PromsMcpError):
        build = await build_info(client, cached=True)
        facts["version"] = hygiene.clean(build.get("version", "")) or None
        if build.get("application"):  # Mimir names itself here
            facts["application"] = hygiene.clean(build["application"])
    if capabilities.supports(datasource, capabilities.Api.RUNTIME_INFO, detected.type):
        with contextlib.suppress(errors.PromsMcpError):
            runtime = await client.get("/api/v1/status/runtimeinfo", cache_seconds=CACHE_SECONDS)
            retention = raw.fields(runtime.data, raw.RuntimeInfo).get("storageRetention")
            if retention:
                facts["retention"] = hygiene.clean(retention)
    interval = await scrape_interval(datasource, client)
    facts["scrape_interval"] = timespec.format_duration(interval.seconds)
    facts["scrape_interval_source"] = interval.source
    return {key: value for key, value in facts.items() if value is not None}
