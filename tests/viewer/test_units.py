"""The chart draws with the unit of the metric name's suffix, then asks the metric's
metadata (get_metric_metadata, through the host) and shows its type and help; its `unit`,
when the exporter set one, relabels the axis. Asserted from `window.__chartState`.

Nothing the shared test Prometheus holds has a unit (its metadata comes from text-format
scrapes, which carry none), so the case where the unit decides has a Prometheus of its own
scraping an OpenMetrics target that declares `# UNIT`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.support import app_host, browser, harness, prometheus_process
from tests.support.answers import direct
from tests.support.prometheus_process import RunningPrometheus
from tests.viewer.conftest import ARTIFACTS, host_tab
from tests.viewer.showing import shown

CABLE = "demo_cable_length_meters"


class _MetersTarget(harness.Handler):
    """OpenMetrics for one gauge whose unit (meters) no naming rule of the app knows."""

    def do_GET(self) -> None:
        lines = [
            f"# TYPE {CABLE} gauge",
            f"# UNIT {CABLE} meters",
            f"# HELP {CABLE} Length of the test cable.",
            f'{CABLE}{{cable="a"}} 12.5',
            f'{CABLE}{{cable="b"}} 40',
            "# EOF",
        ]
        self.reply(
            ("\n".join(lines) + "\n").encode(), "application/openmetrics-text; version=1.0.0"
        )


async def described(tab: browser.Tab) -> dict[str, Any]:
    """The app's state once the metric's metadata came and the chart was drawn again."""
    state: dict[str, Any] = await tab.until(
        "window.__chartState", lambda s: bool(s and s.get("metadata")), in_app=True
    )
    return state


async def shown_help(tab: browser.Tab) -> str:
    text: str = await tab.evaluate("document.querySelector('.metadata').textContent", in_app=True)
    return text


async def test_a_metrics_type_and_help_are_shown_and_an_empty_unit_keeps_the_names(
    tab: browser.Tab, prometheus: RunningPrometheus
) -> None:
    await asyncio.to_thread(prometheus_process.wait_until_scraped, prometheus)
    metric = "process_resident_memory_bytes"
    own = direct(prometheus, "/api/v1/metadata", metric=metric)[metric][0]
    assert own["unit"] == "", "Debian's Prometheus publishes no unit for its own metrics"
    arguments = {"promql": metric, "datasource_id": "prom"}
    await shown(tab, "query_instant", arguments)
    state = await described(tab)
    assert state["renders"] >= 3, "waiting, drawn, then drawn again with the metadata"
    assert (state["kind"], state["seriesCount"]) == ("instant", 1)
    assert state["metadata"] == {"metric": metric, **own}
    assert (state["unit"], state["unitSource"]) == ("bytes", "name")
    assert await shown_help(tab) == f"{metric} · gauge · {own['help']}"
    await tab.screenshot(ARTIFACTS / "metadata.png")


@pytest.fixture(scope="module")
def units_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("units")
    with (
        prometheus_process.scraping(_MetersTarget, workdir) as prometheus,
        harness.serving_datasources(
            workdir, {"name": "units", "type": "prometheus", "url": prometheus.url}
        ) as server,
        app_host.serving_host(server.mcp_url) as base,
    ):
        yield base


@pytest.fixture
async def units_tab(chromium: browser.Chromium, units_host: str) -> AsyncIterator[browser.Tab]:
    async with host_tab(chromium, units_host) as opened:
        yield opened


async def test_a_unit_in_the_metrics_metadata_relabels_the_axis(units_tab: browser.Tab) -> None:
    arguments = {"promql": f"max by (cable) ({CABLE})", "datasource_id": "units"}
    # to a minute ahead: the grid of a just-started target may end before its first sample
    window = {"start": "now-1m", "end": "now+1m", "format": "points"}
    _, first = await shown(units_tab, "query_range", arguments | window)
    assert (first["seriesCount"], first["yMax"]) == (2, 40)
    state = await described(units_tab)
    assert state["renders"] >= 3, "waiting, drawn, then drawn again with the metadata"
    assert (state["unit"], state["unitSource"]) == ("meters", "metadata")
    assert state["metadata"]["type"] == "gauge"
    assert (state["seriesCount"], state["yMax"]) == (2, 40), "the same data, drawn again"
    assert await shown_help(units_tab) == f"{CABLE} · gauge · Length of the test cable."
    await units_tab.screenshot(ARTIFACTS / "metadata-unit.png")
    await shown(units_tab, "query_instant", arguments)
    assert (await described(units_tab))["unit"] == "meters"
    values = await units_tab.evaluate(
        "[...document.querySelectorAll('.bar-value')].map((cell) => cell.textContent)",
        in_app=True,
    )
    assert values == ["40 meters", "12.5 meters"]
