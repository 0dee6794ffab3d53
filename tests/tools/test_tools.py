"""Every tool over real streamable HTTP with a real MCP client, against a real Prometheus,
compared with what the Prometheus HTTP API answers directly for the same request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import answers
from tests.support import prometheus_process as synthetic
from tests.support.answers import call, call_error, direct, labels_of, points_of
from tests.support.harness import McpClient
from tests.support.prometheus_process import RunningPrometheus

END = synthetic.SYNTHETIC_END
START = synthetic.SYNTHETIC_START
SEED_TOOLS = answers.SEED_TOOLS


async def _prom(mcp: McpClient, tool: str, **arguments: Any) -> dict[str, Any]:
    """`tool` on the test Prometheus."""
    return await call(mcp, tool, datasource_id="prom", **arguments)


async def test_tools_list_has_the_seed_tools_read_only_and_lean(mcp: McpClient) -> None:
    await answers.listed_lean(mcp, SEED_TOOLS, description_under=450)


async def test_no_tool_lists_namespace_without_a_datasource_that_takes_one(
    mcp: McpClient,
) -> None:
    """`namespace` is for OpenShift tenancy datasources; none is declared here."""
    assert all("namespace" not in t.input_schema["properties"] for t in await mcp.list_tools())


async def test_list_datasources_serves_only_prometheus_entries_of_the_file(mcp: McpClient) -> None:
    listed = await call(mcp, "list_datasources")
    ids = [d["id"] for d in listed["datasources"]]
    assert ids == ["down", "prom", "prom-get-slash"]
    assert listed["total"] == 3
    prom = next(d for d in listed["datasources"] if d["id"] == "prom")
    assert prom["uid"] == "prom-uid" and prom["type"] == "Prometheus"
    assert "url" not in prom  # internal addresses are not shown to agents


@pytest.mark.parametrize("datasource", ["prom", "prom-get-slash", "prom-uid"])
async def test_query_instant_matches_prometheus_for_post_get_trailing_slash_and_uid(
    mcp: McpClient,
    prometheus: RunningPrometheus,
    datasource: str,
) -> None:
    query = 'demo_http_requests_total{instance="api-1:8080"}'
    got = await call(mcp, "query_instant", datasource_id=datasource, promql=query, time=END)
    want = direct(prometheus, "/api/v1/query", query=query, time=END)
    assert got["result_type"] == want["resultType"] == "vector"
    mine = {json.dumps(labels_of(got, s), sort_keys=True): s["value"] for s in got["series"]}
    theirs = {json.dumps(s["metric"], sort_keys=True): float(s["value"][1]) for s in want["result"]}
    assert mine == theirs and len(mine) == 4
    assert got["total_series"] == 4 and "truncated" not in got
    expected = synthetic.expected_counter_value("api-1:8080", "GET", "200", END)
    labels = {
        "__name__": "demo_http_requests_total",
        "job": "demo-api",
        "instance": "api-1:8080",
        "method": "GET",
        "code": "200",
    }
    assert mine[json.dumps(labels, sort_keys=True)] == expected


async def test_query_instant_accepts_rfc3339_and_relative_times(mcp: McpClient) -> None:
    import datetime

    stamp = datetime.datetime.fromtimestamp(END, tz=datetime.UTC).isoformat().replace("+00:00", "Z")
    by_text = await _prom(mcp, "query_instant", promql="count(demo_queue_depth)", time=stamp)
    by_number = await _prom(mcp, "query_instant", promql="count(demo_queue_depth)", time=str(END))
    assert by_text["series"] == by_number["series"] == [{"labels": {}, "value": 4}]
    now = await _prom(mcp, "query_instant", promql="vector(1)", time="now-5m")
    assert now["series"] == [{"labels": {}, "value": 1}]


async def test_empty_optional_fields_are_left_out_to_save_tokens(mcp: McpClient) -> None:
    result = await mcp.call_tool(
        "query_instant", {"datasource_id": "prom", "promql": "vector(1)", "time": END}
    )
    text = result.content[0].text  # type: ignore[union-attr]
    assert "null" not in text
    assert json.loads(text) == result.structured_content


async def test_query_instant_scalar_results_are_flat_numbers(mcp: McpClient) -> None:
    got = await _prom(mcp, "query_instant", promql="1 + 1.5")
    assert got["result_type"] == "scalar" and got["scalar"] == 2.5 and "series" not in got


async def test_query_instant_caps_series_with_a_truncation_marker(mcp: McpClient) -> None:
    got = await _prom(mcp, "query_instant", promql="demo_cardinality_series", time=END, limit=25)
    assert len(got["series"]) == 25
    assert got["total_series"] == synthetic.CARDINALITY_SHARDS
    assert got["truncated"]["returned"] == 25 and got["truncated"]["total"] == 500
    assert "topk" in got["truncated"]["hint"]


async def test_query_instant_empty_result_explains_what_to_try(mcp: McpClient) -> None:
    got = await _prom(mcp, "query_instant", promql="no_such_metric_anywhere", time=END)
    assert got["series"] == [] and got["total_series"] == 0
    assert got["suggestions"] == [
        'metric "no_such_metric_anywhere" has no series in the window; try find_metrics_by_pattern'
    ]


async def test_query_range_matches_prometheus_point_for_point(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    query = 'demo_queue_depth{instance="worker-0"}'
    got = await _prom(mcp, "query_range", promql=query, start=START, end=END, step="5m")
    want = direct(prometheus, "/api/v1/query_range", query=query, start=START, end=END, step=300)
    assert got["step_seconds"] == 300 and got["total_series"] == 2
    mine = {labels_of(got, s)["queue"]: points_of(got, s) for s in got["series"]}
    theirs = {s["metric"]["queue"]: [[t, float(v)] for t, v in s["values"]] for s in want["result"]}
    assert got["common_labels"] == {
        "__name__": "demo_queue_depth",
        "instance": "worker-0",
        "job": "demo-worker",
    }
    assert mine == theirs
    assert len(mine["email"]) == 6 * 12 + 1
    t, value = mine["billing"][10]
    assert value == synthetic.expected_queue_depth("worker-0", "billing", int(t))


async def test_query_range_chooses_a_step_when_none_is_given(mcp: McpClient) -> None:
    got = await _prom(mcp, "query_range", promql="sum(demo_queue_depth)", start=START, end=END)
    assert got["step_seconds"] == 300  # 6 h at about 120 points
    assert len(got["series"][0]["values"]) <= 121


async def test_query_range_refuses_more_points_than_prometheus_allows(mcp: McpClient) -> None:
    error = await call_error(
        mcp, "query_range", datasource_id="prom", promql="up", start=START, end=END, step="1s"
    )
    assert error["code"] == "invalid_argument" and "11000" in error["message"]


async def test_list_metrics_lists_names_with_data_in_the_window(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    got = await _prom(mcp, "list_metrics", start=START, end=END, limit=10_000)
    want = direct(prometheus, "/api/v1/label/__name__/values", start=START, end=END)
    assert got["metrics"] == sorted(want) and got["total"] == len(want)
    assert "demo_queue_depth" in got["metrics"]


async def test_list_metrics_truncates_with_total(mcp: McpClient) -> None:
    got = await _prom(mcp, "list_metrics", start=START, end=END, limit=2)
    assert len(got["metrics"]) == 2 and got["total"] > 2
    assert got["truncated"] == {
        "returned": 2,
        "total": got["total"],
        "hint": got["truncated"]["hint"],
    }


async def test_find_metrics_by_pattern_filters_on_the_server_side(mcp: McpClient) -> None:
    got = await _prom(mcp, "find_metrics_by_pattern", pattern="queue_dep", start=START, end=END)
    assert got["metrics"] == ["demo_queue_depth"]
    anchored = await _prom(
        mcp, "find_metrics_by_pattern", pattern="^demo_request_duration", start=START, end=END
    )
    assert anchored["metrics"] == [
        "demo_request_duration_seconds_bucket",
        "demo_request_duration_seconds_count",
        "demo_request_duration_seconds_sum",
    ]


async def test_find_metrics_by_pattern_reports_an_invalid_regex_from_prometheus(
    mcp: McpClient,
) -> None:
    error = await call_error(
        mcp, "find_metrics_by_pattern", datasource_id="prom", pattern="demo_(", start=START, end=END
    )
    assert error["code"] == "query_rejected"
    assert "bad_data" in error["message"] and "127.0.0.1" not in error["message"]


async def test_get_label_values_honours_metric_name(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    """The seed ignored metric_name and returned the values of every metric."""
    everywhere = await _prom(mcp, "get_label_values", label_name="instance", start=START, end=END)
    only_queue = await _prom(
        mcp,
        "get_label_values",
        label_name="instance",
        metric_name="demo_queue_depth",
        start=START,
        end=END,
    )
    assert only_queue["values"] == ["worker-0", "worker-1"]
    assert {"api-0:8080", "worker-0"} <= set(everywhere["values"])
    want = direct(
        prometheus,
        "/api/v1/label/instance/values",
        **{"match[]": "demo_queue_depth", "start": START, "end": END},
    )
    assert only_queue["values"] == sorted(want)


async def test_get_metric_labels_uses_the_labels_api_with_a_match(mcp: McpClient) -> None:
    got = await _prom(
        mcp,
        "get_metric_labels",
        metric_name="demo_request_duration_seconds_bucket",
        start=START,
        end=END,
    )
    assert got["labels"] == ["instance", "job", "le"]


async def test_get_metric_metadata_returns_type_and_help_of_scraped_metrics(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    synthetic.wait_until_scraped(prometheus)
    got = await _prom(mcp, "get_metric_metadata", metric_name="prometheus_http_requests_total")
    assert got["metadata"][0]["type"] == "counter" and got["metadata"][0]["help"]
    missing = await _prom(mcp, "get_metric_metadata", metric_name="no_such_metric")
    assert missing["metadata"] == [] and missing["hint"]


@pytest.mark.parametrize(
    ("tool", "arguments", "code"),
    [
        ("query_instant", {"promql": "rate(x[5m]"}, "invalid_query"),
        ("query_instant", {"promql": "   "}, "invalid_query"),
        ("query_instant", {"promql": "up", "time": "yesterday-ish"}, "invalid_argument"),
        ("query_range", {"promql": "up", "step": "fast"}, "invalid_argument"),
        ("query_range", {"promql": "up", "start": "now", "end": "now-1h"}, "invalid_argument"),
        ("get_metric_metadata", {"metric_name": ""}, "invalid_argument"),
        ("get_metric_labels", {"metric_name": 'up{job="x"}'}, "invalid_argument"),
        ("get_label_values", {"label_name": "../../admin"}, "invalid_argument"),
        ("get_label_values", {"label_name": "job", "metric_name": "bad name"}, "invalid_argument"),
        ("query_instant", {"promql": "up", "limit": 0}, "invalid_argument"),
    ],
)
async def test_bad_arguments_are_tool_errors_with_a_code(
    mcp: McpClient,
    tool: str,
    arguments: dict[str, Any],
    code: str,
) -> None:
    error = await call_error(mcp, tool, datasource_id="prom", **arguments)
    assert error["code"] == code and error["message"]
    assert "Traceback" not in error["message"]


async def test_prometheus_execution_errors_keep_prometheus_message(mcp: McpClient) -> None:
    error = await call_error(
        mcp, "query_instant", datasource_id="prom", promql='label_replace(up, "a", "$1", "b", "(")'
    )
    assert error["code"] == "query_rejected"
    assert error["message"].startswith('Prometheus (execution): "invalid regular expression')


async def test_unknown_datasource_is_reported_with_suggestions(mcp: McpClient) -> None:
    error = await call_error(mcp, "query_instant", datasource_id="promm", promql="up")
    assert error["code"] == "datasource_not_found"
    assert '"prom"' in error["message"] and "list_datasources" in error["message"]


async def test_a_down_backend_is_a_retryable_error_without_its_address(
    mcp: McpClient, closed_port_url: str
) -> None:
    error = await call_error(mcp, "query_instant", datasource_id="down", promql="up")
    assert error["code"] == "backend_unavailable" and error["retryable"] is True
    assert closed_port_url.split("//")[1] not in error["message"]


async def test_query_instant_refuses_a_range_vector_with_the_fix(mcp: McpClient) -> None:
    error = await call_error(
        mcp, "query_instant", datasource_id="prom", promql="demo_queue_depth[5m]", time=END
    )
    assert error["code"] == "invalid_query" and "query_range" in error["message"]
