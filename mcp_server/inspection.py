"""Tools that read a backend's own state: alerts, rules, targets, series, TSDB status,
build and runtime information, exemplars."""

from __future__ import annotations

from fastmcp import FastMCP

from . import backends


def register(app: FastMCP, live: backends.Backends) -> None:
    """Attach the inspection tools to `app`."""
