"""Structured JSON logs on stderr, one object per line, UTC timestamps.

uvicorn's own loggers (including access lines) are routed through the same formatter so a
log pipeline sees one format. Extra fields come from `logger.info(..., extra={...})`.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import sys
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
