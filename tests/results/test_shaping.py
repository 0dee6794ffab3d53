"""Each degradation step of the result budget, against the real Prometheus, with summaries
recomputed here from the raw Prometheus answer (not from our own code)."""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastmcp import Client

from mcp_server.results import budget, shaping, summaries
from tests.support import harness
from tests.support import prometheus_process as synthetic
from tests.support.answers import call, direct, labels_of, points_of
from tests.support.harness import McpClient, RunningServer
from tests.support.prometheus_process import RunningPrometheus

END = synthetic.SYNTHETIC_END
START = synthetic.SYNTHETIC_START
WIDE = "demo_cardinality_series"  # 500 series; shard s peaks at s + 9


async def text_of(mcp: McpClient, tool: str, **arguments: Any) -> str:
    result = await mcp.call_tool(tool, arguments)
    assert not result.is_error, result.content
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


def iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def raw_series(prometheus: RunningPrometheus, query: str, step: int) -> dict[str, list[Any]]:
    """shard (or the whole label set) -> [[t, value], ...] straight from Prometheus."""
    data = direct(prometheus, "/api/v1/query_range", query=query, start=START, end=END, step=step)
    return {
        s["metric"].get("shard", str(sorted(s["metric"].items()))): [
            [float(t), float(v)] for t, v in s["values"]
        ]
        for s in data["result"]
    }


def expected_summary(points: list[list[float]]) -> dict[str, Any]:
    values = [v for _, v in points]
    low = min(range(len(values)), key=lambda i: (values[i], i))
    high = max(range(len(values)), key=lambda i: (values[i], -i))
    return {
        "points": len(values),
        "first": values[0],
        "last": values[-1],
        "min": values[low],
        "min_at": iso(points[low][0]),
        "max": values[high],
        "max_at": iso(points[high][0]),
        "mean": sum(values) / len(values),
        "change": values[-1] - values[0],
    }


def assert_summary(got: dict[str, Any], points: list[list[float]]) -> None:
    want = expected_summary(points)
    assert got["mean"] == pytest.approx(want.pop("mean"), rel=1e-5)
    assert got["change"] == pytest.approx(want.pop("change"), rel=1e-5, abs=1e-9)
    assert {k: got[k] for k in want} == want


async def test_a_range_result_that_fits_is_the_compact_grid_unchanged(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    got = await call(
        mcp, "query_range", datasource_id="prom", promql="demo_http_requests_total", start=START,
        end=END, step="5m",
    )  # fmt: skip
    assert got["format"] == "points" and "summarized" not in got and "truncated" not in got
    assert got["common_labels"] == {"__name__": "demo_http_requests_total", "job": "demo-api"}
    raw = raw_series(prometheus, "demo_http_requests_total", 300)
    mine = {str(sorted(labels_of(got, s).items())): points_of(got, s) for s in got["series"]}
    assert mine == raw and len(mine) == 12


async def test_a_chosen_step_is_coarsened_first_and_stays_on_prometheus_grid(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    query = "demo_http_requests_total"
    full_text = await text_of(
        mcp, "query_range", datasource_id="prom", promql=query, start=START, end=END
    )
    full = await call(mcp, "query_range", datasource_id="prom", promql=query, start=START, end=END)
    assert full["step_seconds"] == 300
    squeezed = await call(
        mcp, "query_range", datasource_id="prom", promql=query, start=START, end=END,
        max_tokens=int(budget.tokens(full_text) * 0.7),
    )  # fmt: skip
    assert squeezed["step_seconds"] == 600 and squeezed["format"] == "points"
    assert squeezed["summarized"]["actions"] == ["step raised from 5m to 10m"]
    assert squeezed["summarized"]["full_tokens"] == budget.tokens(full_text)
    raw = raw_series(prometheus, query, 600)  # what Prometheus itself says at a 10m step
    mine = {str(sorted(labels_of(squeezed, s).items())): points_of(squeezed, s)
            for s in squeezed["series"]}  # fmt: skip
    assert mine == raw


async def test_over_budget_points_become_summaries_that_match_the_raw_data(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    query = "demo_http_requests_total"
    got = await call(
        mcp, "query_range", datasource_id="prom", promql=query, start=START, end=END, step="5m",
        max_tokens=1500,
    )  # fmt: skip
    assert got["format"] == "summary" and got["total_series"] == 12 and "truncated" not in got
    assert got["summarized"]["actions"] == ["points replaced by per-series summaries"]
    assert got["summarized"]["budget_tokens"] == 1500
    raw = raw_series(prometheus, query, 300)
    for series in got["series"]:
        assert "values" not in series
        assert_summary(series["summary"], raw[str(sorted(labels_of(got, series).items()))])


async def test_the_last_step_keeps_the_series_with_the_highest_maximum(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    arguments = {"datasource_id": "prom", "promql": WIDE, "start": START, "end": END}
    text = await text_of(mcp, "query_range", **arguments, limit=500)
    got = await call(mcp, "query_range", **arguments, limit=500)
    assert budget.tokens(text) <= budget.DEFAULT_MAX_TOKENS
    kept = len(got["series"])
    assert 1 < kept < 500 and got["total_series"] == 500
    assert got["truncated"] == {
        "returned": kept,
        "total": 500,
        "criterion": "highest maximum first",
        "hint": got["truncated"]["hint"],
    }
    assert got["summarized"]["actions"][-2:] == [
        "points replaced by per-series summaries",
        f"kept the {kept} of 500 series with the highest maximum",
    ]
    shards = [labels_of(got, s)["shard"] for s in got["series"]]
    assert shards == [str(499 - i) for i in range(kept)]  # shard s peaks at s + 9
    raw = raw_series(prometheus, WIDE, int(got["step_seconds"]))
    for shard, series in zip(shards, got["series"], strict=True):
        assert_summary(series["summary"], raw[shard])


async def test_limit_keeps_the_highest_series_and_says_so(mcp: McpClient) -> None:
    got = await call(
        mcp, "query_range", datasource_id="prom", promql=WIDE, start=START, end=END, step="1h",
        limit=3,
    )  # fmt: skip
    assert [labels_of(got, s)["shard"] for s in got["series"]] == ["499", "498", "497"]
    assert got["truncated"]["returned"] == 3 and got["truncated"]["total"] == 500


async def test_an_explicit_step_is_never_coarsened(mcp: McpClient) -> None:
    got = await call(
        mcp, "query_range", datasource_id="prom", promql="demo_http_requests_total",
        start=START, end=END, step="5m", max_tokens=1500,
    )  # fmt: skip
    assert got["step_seconds"] == 300 and got["format"] == "summary"


async def test_format_summary_and_points_plus_summary(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    query = 'demo_queue_depth{instance="worker-1"}'
    raw = raw_series(prometheus, query, 300)
    for form in ("summary", "points+summary"):
        got = await call(
            mcp, "query_range", datasource_id="prom", promql=query, start=START, end=END,
            step="5m", format=form,
        )  # fmt: skip
        assert got["format"] == form and "summarized" not in got
        for series in got["series"]:
            points = raw[str(sorted(labels_of(got, series).items()))]
            assert_summary(series["summary"], points)
            assert ("values" in series) == (form == "points+summary")


async def test_format_text_is_one_sparkline_line_per_series(mcp: McpClient) -> None:
    got = await call(
        mcp, "query_range", datasource_id="prom", promql='demo_queue_depth{queue="email"}',
        start=START, end=END, step="5m", format="text",
    )  # fmt: skip
    assert got["format"] == "text" and len(got["series"]) == 2
    for series in got["series"]:
        assert set(series) == {"line"}
        selector, spark, *figures = series["line"].split(" ")
        assert selector.startswith("{instance=")
        assert len(spark) == 40 and set(spark) <= set("▁▂▃▄▅▆▇█") and "█" in spark
        assert [f.split("=")[0] for f in figures] == ["first", "last", "min", "max"]


async def test_an_instant_result_over_budget_keeps_the_highest_values_with_stats_of_all(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    got = await call(
        mcp, "query_instant", datasource_id="prom", promql=WIDE, time=END, limit=10_000,
        max_tokens=800,
    )  # fmt: skip
    raw = direct(prometheus, "/api/v1/query", query=WIDE, time=END)["result"]
    values = sorted((float(s["value"][1]) for s in raw), reverse=True)
    kept = len(got["series"])
    assert 1 < kept < 500
    assert [s["value"] for s in got["series"]] == values[:kept]
    assert got["truncated"]["criterion"] == "highest value first"
    assert got["values"]["count"] == 500
    assert got["values"]["min"] == min(values) and got["values"]["max"] == max(values)
    assert got["values"]["sum"] == pytest.approx(sum(values), rel=1e-5)
    assert got["values"]["mean"] == pytest.approx(sum(values) / 500, rel=1e-5)
    assert got["common_labels"] == {"__name__": WIDE, "job": "demo-cardinality"}


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("list_metrics", {}),  # the last hour: Prometheus's own few hundred metrics
        ("get_label_values", {"label_name": "shard", "start": START, "end": END}),
        ("find_metrics_by_pattern", {"pattern": "prometheus_"}),
        ("query_instant", {"promql": WIDE, "time": END}),
        ("query_range", {"promql": WIDE, "start": START, "end": END, "format": "points"}),
        ("query_range", {"promql": WIDE, "start": START, "end": END, "format": "text"}),
    ],
)
async def test_no_tool_returns_more_than_its_budget(
    mcp: McpClient, prometheus: RunningPrometheus, tool: str, arguments: dict[str, Any]
) -> None:
    synthetic.wait_until_scraped(prometheus)
    text = await text_of(mcp, tool, datasource_id="prom", limit=10_000, max_tokens=300, **arguments)
    assert budget.tokens(text) <= 300
    assert "truncated" in text


@pytest.fixture(scope="module")
def small_budget_server(datasources_file: Any) -> Iterator[RunningServer]:
    config = harness.make_settings(
        sources={"datasources_path": datasources_file}, server={"max_result_tokens": 400}
    )
    with harness.serve_in_thread(config) as running:
        yield running


async def test_max_result_tokens_is_the_default_and_a_call_can_only_lower_it(
    small_budget_server: RunningServer,
) -> None:
    async with Client(small_budget_server.mcp_url) as client:
        arguments = {"datasource_id": "prom", "label_name": "shard", "start": START, "end": END}
        text = await text_of(client, "get_label_values", **arguments)
        assert 300 < budget.tokens(text) <= 400
        raised = await text_of(client, "get_label_values", **arguments, max_tokens=5000)
        assert budget.tokens(raised) <= 400


def test_fit_cuts_the_longest_list_and_reports_it() -> None:
    data = {"items": list(range(1000)), "other": ["x"] * 3, "groups": [{"rules": ["r"] * 500}]}
    fitted = budget.fit(data, 200)
    assert budget.tokens(budget.encode(fitted)) <= 200
    assert fitted["other"] == ["x"] * 3  # the small list survives
    cuts = fitted["truncated"]["fields"]
    assert cuts["items"] == {"returned": len(fitted["items"]), "total": 1000}
    assert cuts["groups[0].rules"] == {"returned": len(fitted["groups"][0]["rules"]), "total": 500}
    assert budget.fit({"a": [1, 2]}, 200) == {"a": [1, 2]}


def test_fit_keeps_a_tools_own_totals() -> None:
    data = {
        "values": ["v" * 30] * 100,
        "total": 5000,
        "truncated": {"returned": 100, "total": 5000},
    }
    fitted = budget.fit(data, 300)
    assert fitted["truncated"]["total"] == 5000
    assert fitted["truncated"]["returned"] == len(fitted["values"]) < 100


def test_sparkline_scales_between_min_and_max_and_marks_gaps() -> None:
    assert summaries.sparkline([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == "▁▂▃▄▅▆▇█"
    assert summaries.sparkline([1.0, None, 1.0]) == "▁ ▁"
    assert summaries.sparkline([math.nan]) == " "


def test_grid_values_of_any_number_type_become_json_numbers_and_text_agrees() -> None:
    request = shaping.RangeRequest(
        datasource="d",
        query="q",
        start=0.0,
        end=300.0,
        step=60.0,
        step_chosen=False,
        format="points",
        limit=10,
        result_type="matrix",
        warnings=(),
    )
    values: list[Any] = [1, 2.5, None, math.nan, -math.inf, 2.0**60, 3.0]
    shaped = shaping.shape_range(request, [shaping.Series({"job": "a"}, values)], 10_000)
    assert shaped.data["series"][0]["values"] == [1, 2.5, None, "NaN", "-Inf", 2.0**60, 3]
    assert json.loads(shaped.text) == shaped.data


def test_an_encoded_answer_with_nan_floats_says_the_same_in_data_and_text() -> None:
    encoded = budget.Encoded.of({"value": math.nan, "values": [math.inf, 1.0]})
    assert encoded.data == {"value": "NaN", "values": ["+Inf", 1.0]}
    assert json.loads(encoded.text) == encoded.data
