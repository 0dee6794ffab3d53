"""PromQL help without executing the query: check, explain, lint, and estimate its cost."""

from __future__ import annotations

from fastmcp import FastMCP

from . import backends


def register(app: FastMCP, live: backends.Backends) -> None:
    """Attach the PromQL help tools to `app`."""
