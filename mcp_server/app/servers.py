"""The process's two HTTP servers (MCP and health), as uvicorn runs them here.

uvicorn leaves signals to the application, serves sockets bound beforehand (`listeners`),
and logs through our JSON formatter. The process runs two servers, and uvicorn logs the
same lifecycle lines for each ("Started server process", "Shutting down", ...): every
uvicorn line logged from the task that runs one of them (or from the tasks it starts, such
as the lifespan) names the server and its port, a `server` and `port` field, and the message
prefixed with "MCP server (port 8000): ". Health probes and metrics scrapes leave no access
line.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from ..core import settings

KEEP_ALIVE_SECONDS = 75
"""Longer than clients' and load balancers' idle timeouts (httpx 5 s, most LBs 60 s): with
uvicorn's 5 s default, a call sent on a connection the server is just closing was reset."""

UVICORN_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {
        "uvicorn": {"handlers": [], "propagate": True},
        "uvicorn.error": {"handlers": [], "propagate": True},
        "uvicorn.access": {"handlers": [], "propagate": True},
    },
}
"""Passed to uvicorn so it does not install its own text handlers."""


@dataclass(frozen=True, slots=True)
class ServerName:
    """Which of the process's HTTP servers logged a line."""

    label: str
    """How messages name it: "MCP" or "health"."""
    port: int

    @property
    def field(self) -> str:
        return self.label.lower()

    def prefix(self, message: str) -> str:
        return f"{self.label} server (port {self.port}): {message}"


class Server(uvicorn.Server):
    """uvicorn without its own signal handling (the Application owns the signals), named in
    its log lines."""

    def __init__(self, name: ServerName, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.name = name

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    @property
    def url(self) -> str:
        host = self.config.host
        return (
            f"http://[{host}]:{self.name.port}"
            if ":" in host
            else f"http://{host}:{self.name.port}"
        )

    async def serve_sockets(self, sockets: list[socket.socket]) -> None:
        """Serve on `sockets`; run in a task of its own, whose log lines name this server."""
        lifecycle = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _NameTheServer) for f in lifecycle.filters):
            lifecycle.addFilter(_NameTheServer())
        _SERVER.set(self.name)  # this task's lines, and its lifespan task's
        await self.serve(sockets=sockets)


def mcp_server(config: settings.ServerSettings, app: ASGIApp) -> Server:
    return Server(
        ServerName("MCP", config.port),
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_config=UVICORN_LOG_CONFIG,
            timeout_graceful_shutdown=int(config.shutdown_timeout_seconds),
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            lifespan="on",
            http="httptools",  # C parser: a quarter of h11's cost per request
            access_log=True,
        ),
    )


def health_server(config: settings.ServerSettings, app: ASGIApp) -> Server | None:
    """None when HEALTH_METRICS_PORT is 0."""
    if not config.health_metrics_port:
        return None
    return Server(
        ServerName("health", config.health_metrics_port),
        uvicorn.Config(
            _without_access_lines(app),
            host=config.host,
            port=config.health_metrics_port,
            log_config=UVICORN_LOG_CONFIG,
            lifespan="off",
            http="httptools",
            # access_log=False would switch uvicorn's one access logger off for the MCP port
            # too: probes and scrapes are left out by the wrapper.
        ),
    )


_SERVER: contextvars.ContextVar[ServerName | None] = contextvars.ContextVar(
    "proms_mcp_server", default=None
)
_QUIET = contextvars.ContextVar("proms_mcp_quiet_access", default=False)


class _NameTheServer(logging.Filter):
    """On `uvicorn.error` (uvicorn's lifecycle and error lines): name the server."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)  # the same text with terminal colours
        name = _SERVER.get()
        if name is not None and "server" not in record.__dict__:
            record.msg = name.prefix(record.getMessage())
            record.args = ()
            record.server = name.field
            record.port = name.port
        return True


class _LeaveOutQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _QUIET.get()


def _without_access_lines(app: ASGIApp) -> ASGIApp:
    """Requests to `app` leave no access line (health probes, metrics scrapes).

    uvicorn has one `uvicorn.access` logger for every server in the process, and
    `access_log=False` on one server switches it off for all of them.
    """
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _LeaveOutQuiet) for f in access.filters):
        access.addFilter(_LeaveOutQuiet())

    async def quiet(scope: Scope, receive: Receive, send: Send) -> None:
        _QUIET.set(True)  # this request's task only: uvicorn logs from inside `send`
        await app(scope, receive, send)

    return quiet
