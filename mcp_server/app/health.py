"""The operations port: /health (liveness), /ready (readiness with detail), /metrics.

It is a separate small Starlette app on HEALTH_METRICS_PORT so probes and scrapers never
need the MCP endpoint's credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core import observability
from ..protocol import fast_path
from ..sources import readiness, registry


def build_app(
    live: registry.Registry,
    status: readiness.Readiness,
    shortcut: Callable[[], fast_path.Status],
) -> Starlette:
    """`shortcut` says whether tools/call takes the fast path, and why not (on /ready)."""

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(_: Request) -> Response:
        snapshot = live.current()
        body: dict[str, Any] = {
            "ready": status.ready,
            "datasources": {
                ds.id: {"source": str(ds.source), "type": ds.type_name}
                for ds in snapshot.datasources.values()
            },
            "problems": [str(p) for p in snapshot.problems],
            "sources": {
                name: {
                    "synced": state.synced,
                    "last_success": state.last_success,
                    "last_error": state.last_error,
                }
                for name, state in status.sources().items()
            },
            "fast_path": _fast_path(shortcut()),
            **status.details(),
        }
        return JSONResponse(body, status_code=200 if status.ready else 503)

    async def metrics(_: Request) -> Response:
        snapshot = live.current()
        observability.DATASOURCES.set(len(snapshot.datasources))
        observability.DATASOURCE_PROBLEMS.set(len(snapshot.problems))
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/healthz", health),
            Route("/ready", ready),
            Route("/readyz", ready),
            Route("/metrics", metrics),
        ]
    )


def _fast_path(state: fast_path.Status) -> dict[str, Any]:
    return {"on": state.on} if state.reason is None else {"on": state.on, "reason": state.reason}
