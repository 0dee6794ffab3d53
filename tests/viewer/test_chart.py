"""The MCP App draws each answer as the data says: asserted from the app's own state
(`window.__chartState`, what it drew), never from pixels; a screenshot per case goes to
tests/viewer/artifacts/."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import alerting, browser
from tests.support import app_host as app_host_support
from tests.support.answers import direct
from tests.support.harness import RunningServer
from tests.support.prometheus_process import SYNTHETIC_END, RunningPrometheus
from tests.viewer.conftest import ARTIFACTS
from tests.viewer.showing import shown

WINDOW = {"start": SYNTHETIC_END - 3600, "end": SYNTHETIC_END}


def raw_range(prometheus: RunningPrometheus, query: str, step: float) -> list[dict[str, Any]]:
    series: list[dict[str, Any]] = direct(
        prometheus, "/api/v1/query_range", query=query, step=step, **WINDOW
    )["result"]
    return series


def assert_local_only(tab: browser.Tab, host: str) -> None:
    """The app made no network load: every request (of the page and its frames) was the
    host page's, on its origin, and the CSP the host derived from the resource (no domain
    declared) refused nothing."""
    outside = [url for url in tab.requested_urls() if not url.startswith((host, "about:"))]
    assert outside == []
    assert tab.logged("security") == []


async def test_a_range_answer_draws_every_series_over_the_datas_own_extents(
    tab: browser.Tab, host: str, prometheus: RunningPrometheus
) -> None:
    query = "demo_queue_depth"
    arguments = {"promql": query, "datasource_id": "prom", "format": "points", **WINDOW}
    got, state = await shown(tab, "query_range", arguments)
    assert (got["uri"], got["mimeType"]) == (
        "ui://proms-mcp/chart.html",
        "text/html;profile=mcp-app",
    )
    step = got["result"]["structuredContent"]["step_seconds"]
    raw = raw_range(prometheus, query, step)
    times = [float(t) for series in raw for t, _ in series["values"]]
    values = [float(v) for series in raw for _, v in series["values"]]
    assert (state["status"], state["kind"], state["seriesCount"]) == ("ready", "range", len(raw))
    assert (state["xMin"], state["xMax"]) == (min(times), max(times))
    assert (state["yMin"], state["yMax"]) == (min(values), max(values))
    assert state["points"] == len(values)
    assert state["notice"] is None
    assert state["differing"] == ["instance", "queue"]
    assert state["series"][0]["name"] == 'instance="worker-0", queue="billing"'
    assert_local_only(tab, host)
    await tab.screenshot(ARTIFACTS / "range.png")


async def test_an_instant_vector_is_bars_largest_first_named_by_the_labels_that_differ(
    tab: browser.Tab, prometheus: RunningPrometheus
) -> None:
    arguments = {"promql": "demo_queue_depth", "datasource_id": "prom", "time": SYNTHETIC_END}
    _, state = await shown(tab, "query_instant", arguments)
    raw = direct(prometheus, "/api/v1/query", query="demo_queue_depth", time=SYNTHETIC_END)
    values = sorted((float(s["value"][1]) for s in raw["result"]), reverse=True)
    assert (state["kind"], state["resultType"]) == ("instant", "vector")
    assert [bar["value"] for bar in state["series"]] == values
    assert (state["yMin"], state["yMax"]) == (min(values), max(values))
    assert state["differing"] == ["instance", "queue"]
    await tab.screenshot(ARTIFACTS / "instant.png")


async def test_a_fleet_answer_gives_each_datasource_its_own_colour_family(
    tab: browser.Tab,
) -> None:
    arguments = {
        "promql": "demo_queue_depth",
        "datasources": "prom,prom-get-slash",
        "format": "points",
        **WINDOW,
    }
    _, state = await shown(tab, "query_range", arguments)
    hues: dict[str, set[float]] = {}
    for series in state["series"]:
        hues.setdefault(series["datasource"], set()).add(series["hue"])
    assert state["seriesCount"] == 8
    assert set(hues) == {"prom", "prom-get-slash"}
    assert all(len(family) == 1 for family in hues.values())
    assert hues["prom"] != hues["prom-get-slash"]
    assert state["differing"][0] == "@datasource"
    await tab.screenshot(ARTIFACTS / "fleet.png")


async def test_a_summarised_answer_says_so_and_loads_the_full_series_through_the_host(
    tab: browser.Tab,
) -> None:
    arguments = {"promql": "demo_cardinality_series", "datasource_id": "prom", **WINDOW}
    arguments["max_tokens"] = 600
    got, state = await shown(tab, "query_range", arguments)
    content = got["result"]["structuredContent"]
    assert content.get("summarized") or content.get("truncated")
    assert state["notice"] and not state["loaded"]
    await tab.screenshot(ARTIFACTS / "summarised.png")
    before = state["points"]
    await tab.evaluate("document.querySelector('.notice button').click()", in_app=True)
    loaded = await tab.until("window.__chartState", lambda s: s.get("loaded"), in_app=True)
    assert loaded["loadError"] is None
    assert loaded["points"] > before
    assert loaded["seriesCount"] >= state["seriesCount"]
    await tab.screenshot(ARTIFACTS / "summarised-loaded.png")


async def test_a_bad_query_is_the_coded_error_not_a_blank_frame(tab: browser.Tab) -> None:
    got, state = await shown(tab, "query_instant", {"promql": "sum(", "datasource_id": "prom"})
    assert got["isError"]
    assert state["status"] == "error"
    assert state["error"]["code"] == "invalid_query"
    assert "unclosed left parenthesis" in state["error"]["message"]
    assert state["error"]["hint"]
    await tab.screenshot(ARTIFACTS / "error.png")


async def test_an_empty_answer_shows_its_hint(tab: browser.Tab) -> None:
    arguments = {"promql": "no_such_metric", "datasource_id": "prom", **WINDOW}
    got, state = await shown(tab, "query_range", arguments)
    content = got["result"]["structuredContent"]
    assert state["status"] == "empty"
    assert content["hint"] in state["hint"]
    assert all(tip in state["hint"] for tip in content["suggestions"])
    await tab.screenshot(ARTIFACTS / "empty.png")


async def test_the_theme_follows_the_host(tab: browser.Tab) -> None:
    arguments = {"promql": "demo_queue_depth", "datasource_id": "prom", **WINDOW}
    _, state = await shown(tab, "query_range", arguments, theme="dark")
    background = "getComputedStyle(document.body).backgroundColor"
    assert state["theme"] == "dark"
    assert await tab.evaluate(background, in_app=True) == "rgb(13, 17, 23)"
    await tab.screenshot(ARTIFACTS / "dark.png")
    await tab.evaluate("window.host.theme('light')")
    await tab.until("window.__chartState.theme", lambda theme: theme == "light", in_app=True)
    assert await tab.evaluate(background, in_app=True) == "rgb(255, 255, 255)"


@pytest.fixture(scope="module")
def alerting_host(alerting_server: RunningServer) -> Iterator[str]:
    with app_host_support.serving_host(alerting_server.mcp_url) as base:
        yield base


async def test_an_investigation_marks_the_threshold_and_the_firing_interval(
    chromium: browser.Chromium, alerting_host: str
) -> None:
    async with await browser.Tab.open(chromium, alerting_host) as tab:
        await tab.until("document.body && document.body.dataset.host", bool)
        arguments = {"datasource_id": "am", "alert": alerting.FIRING}
        got, state = await shown(tab, "investigate_alert", arguments)
        content = got["result"]["structuredContent"]
        condition = content["conditions"][0]
        assert state["kind"] == "investigation"
        assert state["threshold"] == condition["threshold"] == 10
        assert state["comparison"] == ">"
        assert state["firing"], "the firing interval is marked"
        loaded = await tab.until(
            "window.__chartState",
            lambda s: s["conditionLoaded"] or s["loadError"],
            in_app=True,
        )
        assert loaded["loadError"] is None
        assert loaded["series"][0]["name"] == condition["expression"]
        assert loaded["threshold"] == 10
        assert loaded["yMax"] > loaded["threshold"], "the condition holds: it fires"
        await tab.screenshot(ARTIFACTS / "investigation.png")


async def drag_across(tab: browser.Tab, start: float, end: float) -> None:
    """A person's drag over the plot, from `start` to `end` of its width (fractions), as
    mouse events on the page, once the app's frame receives them."""
    await tab.settled_size()
    frame = await tab.evaluate(
        "(() => { const r = document.querySelector('iframe').getBoundingClientRect();"
        " return [r.left, r.top]; })()"
    )
    over = await tab.evaluate(
        "(() => { const r = document.querySelector('.u-over').getBoundingClientRect();"
        " window.__moves = 0;"
        " document.addEventListener('mousemove', () => { window.__moves += 1; }, true);"
        " return [r.left, r.top, r.width, r.height]; })()",
        in_app=True,
    )
    y = frame[1] + over[1] + over[3] / 2
    x0, x1 = (frame[0] + over[0] + over[2] * f for f in (start, end))

    async def mouse(kind: str, x: float, buttons: int) -> None:
        pressed = kind != "mouseMoved" or buttons
        event = {"type": kind, "x": x, "y": y, "buttons": buttons}
        event |= {"button": "left" if pressed else "none", "clickCount": 1 if pressed else 0}
        await tab.send("Input.dispatchMouseEvent", event)

    async def hovering() -> bool:
        await mouse("mouseMoved", x0 + 1, 0)
        await mouse("mouseMoved", x0, 0)
        return bool(await tab.evaluate("window.__moves", in_app=True))

    deadline = time.monotonic() + 30
    while not await hovering():
        assert time.monotonic() < deadline, "the app's frame never received the mouse"
        await asyncio.sleep(0.05)
    await mouse("mousePressed", x0, 1)
    await mouse("mouseMoved", (x0 + x1) / 2, 1)
    await mouse("mouseMoved", x1, 1)
    await mouse("mouseReleased", x1, 0)


async def test_zooming_in_asks_for_the_new_window_at_the_charts_resolution(
    tab: browser.Tab,
) -> None:
    arguments = {"promql": "demo_queue_depth", "datasource_id": "prom", **WINDOW}
    _, state = await shown(tab, "query_range", arguments)
    await drag_across(tab, 0.25, 0.5)
    zoomed = await tab.until(
        "window.__chartState", lambda s: s["loads"] == 1 and s["loaded"], in_app=True
    )
    span = WINDOW["end"] - WINDOW["start"]
    assert WINDOW["start"] + 0.2 * span <= zoomed["xMin"] < zoomed["xMax"]
    assert zoomed["xMax"] <= WINDOW["start"] + 0.55 * span
    assert zoomed["window"]["step"] < state["window"]["step"]
    assert zoomed["seriesCount"] == state["seriesCount"]
    await tab.screenshot(ARTIFACTS / "zoomed.png")
