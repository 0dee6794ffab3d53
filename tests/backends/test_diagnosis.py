"""Empty results explain themselves with the closest real names, against the real
Prometheus (synthetic series, queried inside their window)."""

from __future__ import annotations

import pytest

from mcp_server.backends import diagnosis
from tests.support import prometheus_process as synthetic
from tests.support.answers import call
from tests.support.harness import McpClient

END = synthetic.SYNTHETIC_END


@pytest.mark.parametrize(
    ("promql", "suggestion"),
    [
        (
            "demo_queue_dept",
            'metric "demo_queue_dept" has no series in the window; '
            'did you mean "demo_queue_depth"?',
        ),
        (
            'demo_queue_depth{queu="email"}',
            'metric "demo_queue_depth" has no label "queu"; did you mean "queue"? '
            '(its labels: "instance", "job", "queue")',
        ),
        (
            'demo_queue_depth{queue="emails"}',
            'metric "demo_queue_depth" has no series with queue="emails"; did you mean "email"?',
        ),
    ],
)
async def test_an_empty_instant_result_names_what_was_probably_meant(
    mcp: McpClient, promql: str, suggestion: str
) -> None:
    got = await call(mcp, "query_instant", datasource_id="prom", promql=promql, time=END)
    assert got["total_series"] == 0
    assert got["suggestions"] == [suggestion]


async def test_a_rate_window_shorter_than_two_scrapes_is_named_in_a_range_result(
    mcp: McpClient,
) -> None:
    got = await call(
        mcp,
        "query_range",
        datasource_id="prom",
        promql='rate(demo_http_requests_total{code="404"}[1s])',
        start=END - 600,
        end=END,
    )
    assert got["series"] == []
    assert any("rate() window 1s" in s for s in got["suggestions"]), got
    assert (
        'metric "demo_http_requests_total" has no series with code="404" '
        '(its values: "200", "500")' in (got["suggestions"])
    )


async def test_when_every_selector_matches_the_hint_points_at_the_expression(
    mcp: McpClient,
) -> None:
    got = await call(
        mcp, "query_instant", datasource_id="prom", promql="demo_queue_depth > 1e9", time=END
    )
    assert "suggestions" not in got and "binary operation" in got["hint"]


def test_selectors_are_found_with_the_function_their_range_is_passed_to() -> None:
    found = diagnosis.selectors('sum(rate(a_total{job="x"}[5m])) / on() group_left b')
    assert found == [
        diagnosis.Selector("a_total", (("job", "=", "x"),), 300.0, "rate"),
        diagnosis.Selector("b", (), None, None),
    ]
