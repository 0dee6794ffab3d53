"""The FastMCP and MCP SDK releases whose internals `protocol` was tested against.

The tools/call fast path and the SDK's schema lookup (`mounting.index_tools`) reproduce or
replace what FastMCP and the SDK do inside; on any other pair of releases they stay off and
the SDK answers every request itself: slower, never different.
"""

from __future__ import annotations

import importlib.metadata

TESTED_WITH: tuple[tuple[str, str], ...] = (("4.1.7", "2.3.0"),)
"""(fastmcp, mcp) releases whose tools/call the fast path answers exactly as the SDK does, as
tests/protocol/test_fast_path.py checks for every tool on both protocol eras. Upgrading
either: run that test on the new pair, then add the pair here."""


def installed() -> tuple[str, str]:
    """The installed (fastmcp, mcp) releases."""
    return importlib.metadata.version("fastmcp"), importlib.metadata.version("mcp")


def untested() -> str | None:
    """Why the installed releases are not to be reached into, or None when they were tested."""
    if installed() in TESTED_WITH:
        return None
    pair = "fastmcp {} with mcp {}".format(*installed())
    known = ", ".join("fastmcp {} with mcp {}".format(*tested) for tested in TESTED_WITH)
    return f"{pair} is not a tested pair (tested: {known})"
