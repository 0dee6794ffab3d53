"""Periodic reachability probes of CR-backed datasources -> the Reachable condition.

`/api/v1/status/buildinfo` (an Alertmanager's `/api/v2/status`) tells both that the backend
answers and which version it runs.
A 404 still proves the backend is up (not every Prometheus-compatible API serves buildinfo),
and a 401/403 on a datasource that forwards the caller's token is expected: the prober has
no caller. A tenancy profile that shapes requests from a caller (OpenShift's namespace and
token, Mimir's tenants from groups) cannot be probed: Reachable stays Unknown, saying why.

The backend's words (its version, its error text) reach the CR's status and `kubectl
describe`: they are cleaned (`hygiene.clean`), and the version is quoted in the message.
"""

from __future__ import annotations

import asyncio
import logging

from mcp_server.app import hosting
from mcp_server.core import errors, hygiene
from mcp_server.sources import datasources, tenancy

from . import conditions, customresources

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 10.0
_CONCURRENCY = 8


async def probe(
    build_info: hosting.BuildInfo, datasource: datasources.Datasource
) -> tuple[conditions.Condition, str | None]:
    """The Reachable condition of `datasource`, and the version its buildinfo names."""
    if tenancy.needs_caller(datasource.connection.tenancy):
        message = "its tenancy profile is shaped by each caller, so there is nothing to probe"
        return conditions.Condition(conditions.REACHABLE, "Unknown", "NotProbed", message), None
    try:
        data = await build_info(datasource, timeout=PROBE_TIMEOUT_SECONDS)
    except errors.BadUpstreamResponse:
        return _reachable("Responding", "the backend answers (it does not serve buildinfo)"), None
    except errors.UpstreamUnauthorized as exc:
        if datasource.connection.forward_caller_token:
            return _reachable(
                "AuthenticationRequired", "the backend answers and wants a token"
            ), None
        return _unreachable(exc), None
    except errors.UpstreamError as exc:
        return _unreachable(exc), None
    version = hygiene.clean(data.get("version") or "").strip() or None
    if version is None:
        return _reachable("ProbeSucceeded", "buildinfo answered"), None
    message = f"buildinfo answered (version {hygiene.quoted(version)})"
    return _reachable("ProbeSucceeded", message), version


def _reachable(reason: str, message: str) -> conditions.Condition:
    return conditions.Condition(conditions.REACHABLE, "True", reason, message)


def _unreachable(exc: errors.PromsMcpError) -> conditions.Condition:
    """The error's message may carry the backend's text: cleaned before it reaches the CR."""
    message = hygiene.clean(f"{exc.code}: {exc.message}")
    reason = (
        "DestinationNotAllowed" if isinstance(exc, errors.DestinationNotAllowed) else "ProbeFailed"
    )
    return conditions.Condition(conditions.REACHABLE, "False", reason, message)


async def probe_all(crs: customresources.CustomResources, build_info: hosting.BuildInfo) -> None:
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(key: customresources.ObjectKey, datasource: datasources.Datasource) -> None:
        async with gate:
            condition, version = await probe(build_info, datasource)
            await crs.set_reachability(key, condition, version)

    await asyncio.gather(*(one(key, ds) for key, ds in crs.served()))


async def probe_forever(
    crs: customresources.CustomResources, build_info: hosting.BuildInfo, interval: float
) -> None:
    while True:
        try:
            await probe_all(crs, build_info)
        except Exception:  # one bad round must not end the probing
            logger.exception("reachability probes failed")
        await asyncio.sleep(interval)
