"""chart_series, the MCP App's own tool: query_range's answer at the chart's resolution,
every point exactly as Prometheus gives it, under the app's cap instead of the model's
budget; and the viewer resource, served whether or not the viewer was built."""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from mcp_server.tools import charting
from tests.support import harness
from tests.support import prometheus_process as synthetic
from tests.support.answers import apps_client, call, call_error, direct, labels_of, points_of
from tests.support.harness import McpClient, RunningServer
from tests.support.prometheus_process import RunningPrometheus

END = synthetic.SYNTHETIC_END
START = END - 6 * 3600
RATES = "rate(demo_http_requests_total[5m])"


async def _chart(
    client: McpClient, promql: str, width: int, start: int = START, **datasource: Any
) -> dict[str, Any]:
    """chart_series over [start, END] on `datasource` (default: the test Prometheus)."""
    where = datasource or {"datasource_id": "prom"}
    return await call(
        client, "chart_series", promql=promql, start=start, end=END, width=width, **where
    )


def _by_labels(result: dict[str, Any]) -> dict[str, list[list[float]]]:
    return {
        json.dumps(labels_of(result, s), sort_keys=True): points_of(result, s)
        for s in result["series"]
    }


def _prometheus_points(
    prometheus: RunningPrometheus, query: str, step: int
) -> dict[str, list[list[float]]]:
    want = direct(prometheus, "/api/v1/query_range", query=query, start=START, end=END, step=step)
    return {
        json.dumps(s["metric"], sort_keys=True): [[t, float(v)] for t, v in s["values"]]
        for s in want["result"]
    }


async def test_chart_series_gives_every_point_prometheus_gives_at_one_step_per_pixel(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    """All 12 series, float for float, at ceil(6 h / 360 px) = 60 s."""
    got = await _chart(mcp, RATES, 360)
    assert got["step_seconds"] == 60 and got["format"] == "points"
    assert "summarized" not in got and "truncated" not in got
    assert got["total_series"] == len(got["series"]) == 12
    assert _by_labels(got) == _prometheus_points(prometheus, RATES, 60)
    assert any(not float(v).is_integer() for _, v in next(iter(_by_labels(got).values())))


async def test_chart_series_rounds_the_step_up_to_whole_seconds(mcp: McpClient) -> None:
    got = await _chart(mcp, "sum(demo_queue_depth)", 800, start=END - 1000)
    assert got["step_seconds"] == math.ceil(1000 / 800) == 2
    assert len(got["series"][0]["values"]) == 1000 // 2 + 1


async def test_a_fleet_chart_names_each_series_datasource(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    query = 'demo_queue_depth{instance="worker-0"}'
    got = await _chart(mcp, query, 72, datasources=["prom", "prom-get-slash"])
    assert got["step_seconds"] == 300 and "summarized" not in got
    assert sorted(labels_of(got, s)["@datasource"] for s in got["series"]) == [
        "prom",
        "prom",
        "prom-get-slash",
        "prom-get-slash",
    ]
    assert sorted(got["coverage"]["latency_ms"]) == ["prom", "prom-get-slash"]
    theirs = _prometheus_points(prometheus, query, 300)
    for series in got["series"]:
        labels = {k: v for k, v in labels_of(got, series).items() if k != "@datasource"}
        assert points_of(got, series) == theirs[json.dumps(labels, sort_keys=True)]


async def test_chart_series_keeps_app_max_series_of_the_highest(mcp: McpClient) -> None:
    got = await _chart(mcp, "demo_cardinality_series", 60, start=END - 3600)
    assert got["total_series"] == synthetic.CARDINALITY_SHARDS
    assert len(got["series"]) == 200 and "summarized" not in got
    assert got["truncated"]["returned"] == 200 and got["truncated"]["total"] == 500


@pytest.fixture(scope="module")
def capped(datasources_file: pathlib.Path) -> Iterator[RunningServer]:
    with harness.serving_file(
        datasources_file,
        server={"app_max_series": 5, "app_max_points": 1000, "max_result_tokens": 200},
    ) as running:
        yield running


async def test_the_chart_is_not_held_to_the_models_budget(capped: RunningServer) -> None:
    """MAX_RESULT_TOKENS=200 summarises query_range's answer; the chart keeps its points."""
    window = {"datasource_id": "prom", "promql": RATES, "start": START, "end": END}
    async with apps_client(capped.mcp_url) as client:
        for_model = await call(client, "query_range", **window, step="432s")
        chart = await call(client, "chart_series", **window, width=50)
    assert "summarized" in for_model or "truncated" in for_model
    assert chart["step_seconds"] == 432 and "summarized" not in chart
    assert len(chart["series"]) == 5 and all(len(s["values"]) == 51 for s in chart["series"])


@pytest.mark.parametrize(
    ("width", "kept"),
    [(50, 5), (360, 2)],
    ids=["APP_MAX_SERIES binds", "APP_MAX_POINTS binds: 361 points a series"],
)
async def test_the_app_caps_are_settings(capped: RunningServer, width: int, kept: int) -> None:
    async with apps_client(capped.mcp_url) as client:
        got = await _chart(client, RATES, width)
    assert len(got["series"]) == kept and got["truncated"]["total"] == 12


ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "bad PromQL": ({"datasource_id": "prom", "promql": "up(", "width": 800}, "invalid_query"),
    "too narrow": ({"datasource_id": "prom", "promql": "up", "width": 49}, "invalid_argument"),
    "too wide": ({"datasource_id": "prom", "promql": "up", "width": 4001}, "invalid_argument"),
    "unknown datasource": ({"datasource_id": "nope", "promql": "up"}, "datasource_not_found"),
    "no datasource": ({"promql": "up"}, "invalid_argument"),
    "start after end": (
        {"datasource_id": "prom", "promql": "up", "start": "now", "end": "now-1h"},
        "invalid_argument",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
async def test_chart_series_errors_are_query_ranges_coded_errors(mcp: McpClient, case: str) -> None:
    arguments, code = ERRORS[case]
    assert (await call_error(mcp, "chart_series", **arguments))["code"] == code


async def test_the_viewer_resource_says_how_to_build_it_when_it_is_not_built(
    mcp: McpClient, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setattr(charting, "VIEWER", tmp_path / "missing" / "chart.html")
    [content] = await mcp.read_resource(charting.RESOURCE_URI)
    text = getattr(content, "text", "")
    assert text.startswith("<!doctype html>") and "viewer not built: run make install" in text
    built = tmp_path / "chart.html"
    built.write_text("<!doctype html><title>chart</title>", encoding="utf-8")
    monkeypatch.setattr(charting, "VIEWER", built)
    [content] = await mcp.read_resource(charting.RESOURCE_URI)
    assert getattr(content, "text", "") == "<!doctype html><title>chart</title>"
