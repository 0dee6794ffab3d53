"""Driving the test host: a tool called through it, and the app's state once it drew."""

from __future__ import annotations

import json
from typing import Any

from tests.support import browser

DONE = ("ready", "error", "empty")


async def shown(
    tab: browser.Tab, tool: str, arguments: dict[str, Any], *, theme: str = "light"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Call `tool` through the host page and wait for the app to draw its answer: (what the
    host got, the app's state)."""
    call = {"tool": tool, "arguments": arguments, "theme": theme}
    got = await tab.evaluate(f"window.host.run({json.dumps(call)})")
    state = await settled(tab)
    return got, state


async def settled(tab: browser.Tab, since: int = 0) -> dict[str, Any]:
    state: dict[str, Any] = await tab.until(
        "window.__chartState",
        lambda s: bool(s) and s["status"] in DONE and s["renders"] > since,
        in_app=True,
    )
    return state
