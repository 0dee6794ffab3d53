"""check_promql and estimate_query_cost over real MCP calls against the real Prometheus.

Lint findings that need metadata use what Prometheus scrapes from itself (backfilled
series carry none); every cost estimate is compared with the answer Prometheus gives to
the query itself, and with the size of what query_instant and query_range really return.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_server.core import timespec
from mcp_server.results import budget
from tests.support import answers
from tests.support import prometheus_process as synthetic
from tests.support.answers import call, call_error, direct
from tests.support.harness import McpClient, RunningServer
from tests.support.prometheus_process import RunningPrometheus

END = synthetic.SYNTHETIC_END
START = synthetic.SYNTHETIC_START
WIDE = "demo_cardinality_series"
COUNTER = "demo_http_requests_total"


async def check(mcp: McpClient, promql: str, **arguments: Any) -> dict[str, Any]:
    return await call(mcp, "check_promql", promql=promql, **arguments)


async def estimate(mcp: McpClient, promql: str, **arguments: Any) -> dict[str, Any]:
    arguments = {"start": START, "end": END, **arguments}
    return await call(mcp, "estimate_query_cost", datasource_id="prom", promql=promql, **arguments)


def rules(result: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(f["rule"], f.get("inferred", False)) for f in result["findings"]]


async def test_both_tools_are_listed_read_only_with_short_descriptions(mcp: McpClient) -> None:
    await answers.listed_lean(mcp, ("check_promql", "estimate_query_cost"), description_under=400)


# --------------------------------------------------------------------------------------------
# check_promql
# --------------------------------------------------------------------------------------------


async def test_check_without_a_datasource_explains_and_lints_by_name(mcp: McpClient) -> None:
    result = await check(mcp, f"sum(rate({COUNTER}[1m]))")
    assert result == {
        "valid": True,
        "result_type": "instant vector",
        "steps": [f"select {COUNTER}", "per-second rate over 1m", "sum"],
        "metrics": {COUNTER: "counter (by name)"},
        "windows": ["1m"],
        "findings": [],
        "basis": "no datasource_id: types from metric names; scrape interval 15s (assumed)",
    }


async def test_check_reports_a_raw_counter_as_inferred_from_its_name(mcp: McpClient) -> None:
    result = await check(mcp, f"sum by (job) ({COUNTER})")
    assert rules(result) == [("raw_counter", True)]
    assert f"sum(rate({COUNTER}[5m]))" in result["findings"][0]["message"]


async def test_check_shows_the_prettified_query_only_when_it_differs(mcp: McpClient) -> None:
    messy = await check(mcp, "sum(rate(x_total[5m]))by(job)")
    assert messy["prettified"] == "sum by (job) (rate(x_total[5m]))"
    tidy = await check(mcp, "sum by (job) (rate(x_total[5m]))")
    assert "prettified" not in tidy


@pytest.mark.parametrize(
    ("promql", "field", "fragment"),
    [
        ("rate(sum(x_total))", "hint", "aggregate the rate instead: sum(rate(x[5m]))"),
        ("sum(rate(x_total[5m])", "error", "unclosed left parenthesis"),
        ("sum(rate(x_total[5m])", "error", "pass datasource_id"),
        ("   ", "error", "promql is empty"),
    ],
)
async def test_check_answers_an_invalid_query_with_valid_false_and_the_reason(
    mcp: McpClient, promql: str, field: str, fragment: str
) -> None:
    """Without a datasource only proms-mcp's parser answers: no position, never a guessed one."""
    result = await check(mcp, promql)
    assert result["valid"] is False and set(result) - {"hint"} == {"valid", "error"}
    assert fragment in result[field]


async def test_check_types_metrics_from_scraped_metadata(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    synthetic.wait_until_scraped(prometheus)
    result = await check(
        mcp,
        "rate(go_goroutines[1m]) + sum(prometheus_http_requests_total)",
        datasource_id="prom",
    )
    assert result["metrics"] == {
        "go_goroutines": "gauge",
        "prometheus_http_requests_total": "counter",
    }
    assert sorted(rules(result)) == [("rate_on_gauge", False), ("raw_counter", False)]
    assert any("use deriv(go_goroutines[" in f["message"] for f in result["findings"])
    assert result["basis"] == (
        "types from metadata, else from metric names; scrape interval 1s (backend)"
    )


async def test_check_finds_histogram_buckets_through_the_family_metadata(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    synthetic.wait_until_scraped(prometheus)
    bucket = "prometheus_http_request_duration_seconds_bucket"
    wrong = await check(
        mcp, f"histogram_quantile(0.9, sum by (job) (rate({bucket}[1m])))", datasource_id="prom"
    )
    assert wrong["metrics"] == {bucket: "histogram bucket"}
    assert rules(wrong) == [("quantile_drops_le", False)]
    assert "use sum by (job, le)" in wrong["findings"][0]["message"]
    right = await check(
        mcp, f"histogram_quantile(0.9, sum by (job, le) (rate({bucket}[1m])))", datasource_id="prom"
    )
    assert right["findings"] == []


@pytest.mark.parametrize(
    ("window", "expected"),
    [("1s", ["window_too_short"]), ("3s", ["window_short"]), ("4s", []), ("1m", [])],
)
async def test_check_measures_windows_against_the_backends_scrape_interval(
    mcp: McpClient, prometheus: RunningPrometheus, window: str, expected: list[str]
) -> None:
    synthetic.wait_until_scraped(prometheus)
    result = await check(
        mcp, f"sum(rate(prometheus_http_requests_total[{window}]))", datasource_id="prom"
    )
    assert [rule for rule, _ in rules(result)] == expected
    if expected:  # the test Prometheus scrapes every second
        assert "[4s] or longer" in result["findings"][0]["message"]


async def test_backfilled_series_have_no_metadata_so_only_names_type_them(
    mcp: McpClient,
) -> None:
    result = await check(
        mcp, "rate(demo_queue_depth[5m]) + sum(demo_queue_depth)", datasource_id="prom"
    )
    assert result["metrics"] == {"demo_queue_depth": "unknown"}
    assert result["findings"] == []  # a gauge, but nothing says so


async def test_check_against_a_datasource_that_is_down_falls_back_to_names(
    mcp: McpClient,
) -> None:
    result = await check(mcp, "rate(foo_total[30s])", datasource_id="down")
    assert result["basis"] == (
        "metadata unavailable: types from metric names; scrape interval 15s (assumed)"
    )
    assert rules(result) == [("window_short", True)]


async def test_check_with_an_unknown_datasource_is_a_tool_error(mcp: McpClient) -> None:
    error = await call_error(mcp, "check_promql", promql="up", datasource_id="nope")
    assert error["code"] == "datasource_not_found"


async def test_check_of_a_very_deep_expression_is_valid_but_not_explained(mcp: McpClient) -> None:
    result = await check(mcp, "(" * 100 + "up" + ")" * 100)
    assert result["valid"] is True and result["findings"] == []
    assert "not explained" in result["basis"] and "steps" not in result


# --------------------------------------------------------------------------------------------
# estimate_query_cost, compared with Prometheus' own answers
# --------------------------------------------------------------------------------------------


def direct_range(prometheus: RunningPrometheus, query: str, step: float) -> list[dict[str, Any]]:
    data = direct(prometheus, "/api/v1/query_range", query=query, start=START, end=END, step=step)
    result: list[dict[str, Any]] = data["result"]
    return result


def step_seconds(cost: dict[str, Any]) -> float:
    return timespec.parse_duration(cost["step"], argument="step")


@pytest.mark.parametrize(
    ("promql", "whole"),
    [
        (WIDE, True),
        (f"rate({COUNTER}[5m])", True),
        (f"sum by (instance) (rate({COUNTER}[5m]))", True),
        ("demo_request_duration_seconds_bucket", True),
        ('demo_queue_depth{queue="email"} > 40', False),  # a filter leaves gaps
    ],
)
async def test_estimated_series_and_points_are_what_prometheus_returns(
    mcp: McpClient, prometheus: RunningPrometheus, promql: str, whole: bool
) -> None:
    cost = await estimate(mcp, promql)
    instant = direct(prometheus, "/api/v1/query", query=promql, time=END)["result"]
    assert cost["query_instant"]["series"] == len(instant)
    assert cost["query_instant"]["points"] == len(instant)
    ranged = direct_range(prometheus, promql, step_seconds(cost))
    assert cost["query_range"]["series"] == len(ranged)
    longest = max(len(s["values"]) for s in ranged)
    assert cost["points_per_series"] == int((END - START) // step_seconds(cost)) + 1
    assert longest in (cost["points_per_series"], cost["points_per_series"] - 1)  # rate()
    points = sum(len(s["values"]) for s in ranged)
    assert points <= cost["query_range"]["points"]  # an upper bound: every point present
    if whole:  # rate() has no point at the first instant of the synthetic data
        assert cost["query_range"]["points"] <= points + len(ranged)


@pytest.mark.parametrize(
    ("promql", "selectors"),
    [
        (WIDE, {WIDE: synthetic.CARDINALITY_SHARDS}),
        (
            f"sum(rate({COUNTER}[5m])) / sum(rate({COUNTER}[5m] offset 1h)) + "
            'count(demo_queue_depth{queue="email"})',
            {COUNTER: 12, f"{COUNTER} offset 1h": 12, 'demo_queue_depth{queue="email"}': 2},
        ),
        ("nothing_is_called_this", {"nothing_is_called_this": 0}),
    ],
)
async def test_each_selector_is_counted_like_count_of_it_in_prometheus(
    mcp: McpClient, prometheus: RunningPrometheus, promql: str, selectors: dict[str, int]
) -> None:
    cost = await estimate(mcp, promql)
    counted = {s["selector"]: s["series"] for s in cost["selectors"]}
    assert counted == selectors
    for selector, series in counted.items():
        answer = direct(prometheus, "/api/v1/query", query=f"count({selector})", time=END)
        assert [float(s["value"][1]) for s in answer["result"]] == ([series] if series else [])


async def test_the_default_step_is_query_ranges_own(mcp: McpClient) -> None:
    for start in (START, END - 3600, END - 600):
        cost = await estimate(mcp, "vector(1)", start=start)
        ranged = await call(
            mcp, "query_range", datasource_id="prom", promql="vector(1)", start=start, end=END
        )
        assert step_seconds(cost) == ranged["step_seconds"]
        assert cost["points_per_series"] == len(ranged["series"][0]["values"])


async def test_estimated_tokens_match_what_the_query_tools_return(mcp: McpClient) -> None:
    promql = f"rate({COUNTER}[5m])"
    cost = await estimate(mcp, promql)
    ranged = await mcp.call_tool(
        "query_range", {"datasource_id": "prom", "promql": promql, "start": START, "end": END}
    )
    instant = await mcp.call_tool(
        "query_instant", {"datasource_id": "prom", "promql": promql, "time": END}
    )
    for tool, result in (("query_range", ranged), ("query_instant", instant)):
        real = budget.tokens(result.content[0].text)  # type: ignore[union-attr]
        assert cost[tool]["verdict"] == "fine"
        assert 0.8 <= cost[tool]["tokens"] / real <= 1.25, (tool, cost[tool], real)


async def test_a_result_over_budget_is_judged_so_with_the_size_query_range_reports(
    mcp: McpClient,
) -> None:
    cost = await estimate(mcp, WIDE)
    assert cost["budget_tokens"] == budget.DEFAULT_MAX_TOKENS
    assert cost["query_range"]["verdict"] == "over budget"
    ranged = await call(
        mcp, "query_range", datasource_id="prom", promql=WIDE, start=START, end=END, limit=10_000
    )
    full = ranged["summarized"]["full_tokens"]  # what query_range measured before shaping
    assert 0.7 <= cost["query_range"]["tokens"] / full <= 1.3, (cost["query_range"], full)
    assert any(a.startswith("500 series: aggregate, e.g. sum by (job)") for a in cost["advice"])


async def test_a_lower_max_tokens_is_the_budget_the_verdicts_use(mcp: McpClient) -> None:
    cost = await estimate(mcp, WIDE, max_tokens=500)
    assert cost["budget_tokens"] == 500
    assert cost["query_instant"]["verdict"] == "far over budget"
    fine = await estimate(mcp, f"sum(rate({COUNTER}[5m]))", max_tokens=500)
    assert fine["query_instant"]["verdict"] == fine["query_range"]["verdict"] == "fine"
    assert "advice" not in fine


async def test_advice_names_a_step_that_fits_the_budget(mcp: McpClient) -> None:
    promql = f"rate({COUNTER}[5m])"
    cost = await estimate(mcp, promql, step="1m", max_tokens=2000)
    assert cost["query_range"]["verdict"] == "over budget"
    (advice,) = [a for a in cost["advice"] if a.startswith("step=")]
    suggested = timespec.parse_duration(advice.split()[0].removeprefix("step="), argument="s")
    fitted = await estimate(mcp, promql, step=suggested, max_tokens=2000)
    assert fitted["query_range"]["verdict"] == "fine"


async def test_a_step_too_fine_for_query_range_is_refused_with_a_usable_step(
    mcp: McpClient,
) -> None:
    cost = await estimate(mcp, "vector(1)", step="1s")
    assert cost["points_per_series"] == END - START + 1
    assert cost["query_range"]["verdict"] == "refused"
    assert any("use step=" in a for a in cost["advice"])


async def test_a_step_too_fine_to_even_size_is_refused_not_an_internal_error(
    mcp: McpClient,
) -> None:
    """Found by fuzzing: sizing 10^35 points per series overflowed instead of refusing."""
    cost = await estimate(mcp, "0", step=1.0971027036775294e-32)
    assert cost["query_range"]["verdict"] == "refused"


async def test_a_range_vector_is_counted_but_refused(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    cost = await estimate(mcp, "demo_queue_depth[5m]")
    samples = direct(prometheus, "/api/v1/query", query="demo_queue_depth[5m]", time=END)
    assert cost["query_instant"]["series"] == len(samples["result"]) == 4
    assert cost["query_instant"]["points"] == sum(len(s["values"]) for s in samples["result"])
    assert cost["query_range"]["verdict"] == cost["query_instant"]["verdict"] == "refused"
    assert cost["advice"][0].startswith("a range vector is no result")


async def test_scalars_comments_and_empty_results_are_estimated(mcp: McpClient) -> None:
    scalar = await estimate(mcp, "1 + 1")
    assert scalar["query_instant"]["series"] == scalar["query_range"]["series"] == 1
    assert "selectors" not in scalar
    commented = await estimate(mcp, "demo_queue_depth # four series")
    assert commented["query_instant"]["series"] == 4
    empty = await estimate(mcp, "nothing_is_called_this")
    assert empty["query_instant"]["series"] == 0
    assert empty["advice"] == [
        "nothing matches in the window: check names with find_metrics_by_pattern and values "
        "with get_label_values"
    ]


async def test_estimate_reports_the_window_it_used(mcp: McpClient) -> None:
    cost = await estimate(mcp, "vector(1)", start=END - 3600)
    assert cost["start"] == timespec.isoformat(END - 3600)
    assert cost["end"] == timespec.isoformat(END)
    assert cost["points_per_series"] == math.floor(3600 / step_seconds(cost)) + 1


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"promql": "sum(", "datasource_id": "prom"}, "invalid_query"),
        ({"promql": "up", "datasource_id": "prom", "start": END, "end": START}, "invalid_argument"),
        ({"promql": "up", "datasource_id": "prom", "step": "soon"}, "invalid_argument"),
        ({"promql": "up", "datasource_id": "prom", "end": 253_402_300_800}, "invalid_argument"),
        ({"promql": "up", "datasource_id": "nope"}, "datasource_not_found"),
        ({"promql": "up", "datasource_id": "down"}, "backend_unavailable"),
        (
            {
                "promql": "demo_queue_depth + on(job) demo_queue_depth",
                "datasource_id": "prom",
                "end": END,
            },
            "query_rejected",
        ),
    ],
)
async def test_estimate_errors_carry_a_code(
    mcp: McpClient, arguments: dict[str, Any], code: str
) -> None:
    error = await call_error(mcp, "estimate_query_cost", **arguments)
    assert error["code"] == code, error


_TEXT = st.text(max_size=60)
_TIME = st.one_of(st.none(), _TEXT, st.floats(allow_nan=True), st.integers(-(10**12), 10**12))
_FUZZED = {
    "check_promql": st.fixed_dictionaries(
        {"promql": st.one_of(_TEXT, st.sampled_from(["up", "sum(rate(x_total[5m]))", "foo[5m]"]))}
    ),
    "estimate_query_cost": st.fixed_dictionaries(
        {
            "promql": st.one_of(_TEXT, st.sampled_from(["up", "vector(1)", WIDE])),
            "start": _TIME,
            "end": _TIME,
            "step": _TIME,
        }
    ),
}
_CODES = {
    "invalid_argument",
    "invalid_query",
    "datasource_not_found",
    "query_rejected",
    "backend_unavailable",
    "timeout",
}


@pytest.mark.parametrize("tool", sorted(_FUZZED))
def test_any_arguments_give_a_result_or_a_coded_tool_error(
    server: RunningServer, tool: str
) -> None:
    @answers.fuzzing(max_examples=25)
    @given(arguments=_FUZZED[tool], datasource=st.sampled_from(["prom", "nope", "down", None]))
    def fuzz(arguments: dict[str, Any], datasource: str | None) -> None:
        payload = {k: v for k, v in arguments.items() if v is not None}
        if datasource is not None or tool == "estimate_query_cost":
            payload["datasource_id"] = datasource or "prom"
        answers.assert_result_or_coded_error(server.mcp_url, tool, payload, _CODES)

    fuzz()
