"""Arbitrary arguments for every tool: never a crash, never a stack trace, always either a
result or a tool error with one of our codes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import answers
from tests.support.harness import RunningServer

CODES = {
    "invalid_argument",
    "invalid_query",
    "datasource_not_found",
    "query_rejected",
    "timeout",
    "response_too_large",
    "backend_unavailable",
    "bad_response",
    "unsupported",
}
text = st.text(max_size=60)
maybe_time = st.one_of(st.none(), text, st.floats(allow_nan=True), st.integers(-(10**12), 10**12))
ARGUMENTS: dict[str, Any] = {
    "list_metrics": st.fixed_dictionaries({"limit": st.integers(-5, 20_000)}),
    "get_metric_metadata": st.fixed_dictionaries({"metric_name": text}),
    "query_instant": st.fixed_dictionaries({"promql": text, "time": maybe_time}),
    "query_range": st.fixed_dictionaries(
        {
            "promql": text,
            "start": maybe_time,
            "end": maybe_time,
            "step": maybe_time,
            "format": st.one_of(st.none(), st.sampled_from(["auto", "text", "summary"]), text),
            "max_tokens": st.one_of(st.none(), st.integers(-5, 50_000)),
        }
    ),
    "check_promql": st.fixed_dictionaries({"promql": text}),
    "estimate_query_cost": st.fixed_dictionaries(
        {"promql": text, "start": maybe_time, "end": maybe_time, "step": maybe_time}
    ),
    "get_metric_labels": st.fixed_dictionaries({"metric_name": text, "start": maybe_time}),
    "get_label_values": st.fixed_dictionaries(
        {"label_name": text, "metric_name": st.one_of(st.none(), text)}
    ),
    "find_metrics_by_pattern": st.fixed_dictionaries({"pattern": text}),
}


@pytest.mark.parametrize("tool", sorted(ARGUMENTS))
def test_any_arguments_give_a_result_or_a_coded_tool_error(
    server: RunningServer, tool: str
) -> None:
    @answers.fuzzing(max_examples=20)
    @given(arguments=ARGUMENTS[tool], datasource=st.sampled_from(["prom", "nope", "", "prom-uid"]))
    def check(arguments: dict[str, Any], datasource: str) -> None:
        payload = {
            "datasource_id": datasource,
            **{k: v for k, v in arguments.items() if v is not None},
        }
        answers.assert_result_or_coded_error(server.mcp_url, tool, payload, CODES)

    check()
