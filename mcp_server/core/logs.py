"""Structured JSON logs on stderr, one object per line, UTC timestamps.

uvicorn's own loggers (including access lines) are routed through the same formatter so a
log pipeline sees one format. Extra fields come from `logger.info(..., extra={...})`.

The process runs two uvicorn servers (MCP and health), and uvicorn logs the same lifecycle
lines for each ("Started server process", "Shutting down", ...). `name_this_server` marks
the task that runs one of them, and every uvicorn line logged from that task (or from the
tasks it starts, such as the lifespan) names the server and its port: a `server` and `port`
field, and the message prefixed with "MCP server (port 8000): ".
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import sys
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.levelno >= logging.ERROR:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


_QUIET = contextvars.ContextVar("proms_mcp_quiet_access", default=False)


class _LeaveOutQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _QUIET.get()


def without_access_lines(app: ASGIApp) -> ASGIApp:
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


_SERVER: contextvars.ContextVar[ServerName | None] = contextvars.ContextVar(
    "proms_mcp_server", default=None
)


def name_this_server(name: ServerName) -> None:
    """uvicorn lines logged from the current task and the tasks it starts name `name`.

    Call it first thing in the task that runs the server: a task's context is its own copy.
    """
    lifecycle = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _NameTheServer) for f in lifecycle.filters):
        lifecycle.addFilter(_NameTheServer())
    _SERVER.set(name)


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


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "kopf"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    for noisy in ("httpx", "httpcore", "mcp", "fastmcp", "sse_starlette"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


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
