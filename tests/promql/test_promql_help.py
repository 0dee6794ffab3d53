"""PromQL explained and linted without a backend: every rule fires on the mistake it names
and stays quiet on the correct form of the same query."""

from __future__ import annotations

import promql_parser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_server.promql import explaining, linting, syntax, syntax_errors
from mcp_server.promql.syntax import Kind

RATIO = (
    'sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) '
    "/ sum by (job) (rate(http_requests_total[5m]))"
)
TYPES = {
    "go_goroutines": "gauge",
    "node_filesystem_avail_bytes": "gauge",
    "prometheus_http_requests_total": "counter",
    "http_requests_total": "counter",
    "http_request_duration_seconds": "histogram",
    "rpc_duration_seconds": "summary",
    "native_latency_seconds": "histogram",
}


def explain(query: str) -> explaining.Explanation:
    return explaining.explain(promql_parser.parse(query))


def lint(
    query: str,
    types: dict[str, str] | None = None,
    interval: float = 15.0,
    *,
    assumed: bool = False,
) -> list[linting.Finding]:
    return linting.lint(
        promql_parser.parse(query),
        types=TYPES if types is None else types,
        scrape_interval=interval,
        interval_assumed=assumed,
    )


def rules(findings: list[linting.Finding]) -> set[tuple[str, str, bool]]:
    return {(f.rule, f.severity, f.inferred) for f in findings}


# --------------------------------------------------------------------------------------------
# explain
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "steps"),
    [
        ("up", ["select up"]),
        (
            'rate(http_requests_total{code=~"5.."}[5m])',
            ['select http_requests_total{code=~"5.."}', "per-second rate over 5m"],
        ),
        (
            RATIO,
            [
                'select http_requests_total{code=~"5.."}',
                "per-second rate over 5m",
                "sum by (job)",
                "select http_requests_total",
                "per-second rate over 5m",
                "sum by (job)",
                "#3 / #6",
            ],
        ),
        (
            "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
            [
                "select x_bucket",
                "per-second rate over 5m",
                "sum by (le)",
                "0.9 quantile from the le buckets",
            ],
        ),
        ("topk(5, foo offset 1h)", ["select foo offset 1h", "topk(5)"]),
        ("sum without (instance) (foo)", ["select foo", "sum without (instance)"]),
        ('count_values("v", foo)', ["select foo", 'count_values("v")']),
        (
            "max_over_time(foo[1h:5m])",
            ["select foo", "subquery over 1h every 5m", "max over 1h"],
        ),
        (
            "rate(foo[5m:] offset 1h)",
            ["select foo", "subquery over 5m offset 1h", "per-second rate over 5m"],
        ),
        ("irate(foo[1m])", ["select foo", "per-second rate of the last 2 samples within 1m"]),
        ("increase(foo[1h])", ["select foo", "increase over 1h"]),
        ("quantile_over_time(0.9, foo[10m])", ["select foo", "0.9 quantile over 10m"]),
        (
            "predict_linear(node_filesystem_avail_bytes[6h], 86400) < 0",
            [
                "select node_filesystem_avail_bytes",
                "value predicted 86400s ahead from 6h",
                "keep where #2 < 0",
            ],
        ),
        ("foo > bool 5", ["select foo", "#1 > bool 5"]),
        (
            "a * on (job) group_left (team) b",
            ["select a", "select b", "#1 * on (job) group_left (team) #2"],
        ),
        ("a unless ignoring (x) b", ["select a", "select b", "#1 unless ignoring (x) #2"]),
        ("-foo", ["select foo", "negate"]),
        ("(((foo)))", ["select foo"]),
        ("1", ["constant 1"]),
        ("vector(1)", ["vector(1)"]),
        ("time()", ["time()"]),
        (
            'label_replace(up, "a", "$1", "b", "(.*)")',
            ["select up", 'label_replace(#1, "a", "$1", "b", "(.*)")'],
        ),
        (
            "abs(sum(a) - sum(b))",
            ["select a", "sum", "select b", "sum", "#2 - #4", "abs(#5)"],
        ),
        ("foo[5m]", ["select raw samples foo[5m]"]),
        ("foo @ end()", ["select foo @ end()"]),
    ],
)
def test_explain_lists_the_steps_bottom_up(query: str, steps: list[str]) -> None:
    assert list(explain(query).steps) == steps


@pytest.mark.parametrize(
    ("query", "metrics", "windows", "result_type"),
    [
        (RATIO, ("http_requests_total",), ("5m",), "instant vector"),
        ('{__name__="foo", job="a"}', ("foo",), (), "instant vector"),
        ('{__name__=~"a|b"}', (), (), "instant vector"),
        (
            "rate(a_total[1m]) / rate(b_total[5m:30s])",
            ("a_total", "b_total"),
            ("1m", "5m"),
            "instant vector",
        ),
        ("foo[5m]", ("foo",), ("5m",), "range vector"),
        ("rate(foo[5m])[1h:1m]", ("foo",), ("1h", "5m"), "range vector"),
        ("time()", (), (), "scalar"),
        ("scalar(sum(up)) * 2", ("up",), (), "scalar"),
        ('"text"', (), (), "string"),
        ("1 + sum(up)", ("up",), (), "instant vector"),
    ],
)
def test_explain_names_metrics_windows_and_result_type(
    query: str, metrics: tuple[str, ...], windows: tuple[str, ...], result_type: str
) -> None:
    explanation = explain(query)
    assert explanation.metrics == metrics
    assert explanation.windows == windows
    assert explanation.result_type == result_type


def test_a_long_explanation_ends_with_a_count_of_what_was_left_out() -> None:
    query = " + ".join(f"m{i}" for i in range(40))  # 40 selects and 39 additions
    steps = explain(query).steps
    assert len(steps) == explaining.MAX_STEPS
    assert steps[-1] == f"... {79 - explaining.MAX_STEPS + 1} more steps"


def test_depth_is_counted_without_recursion_and_stops_past_the_limit() -> None:
    deep = promql_parser.parse("(" * 200 + "up" + ")" * 200)
    assert syntax.depth(deep) == syntax.MAX_DEPTH + 1
    assert syntax.depth(promql_parser.parse("sum(rate(x[5m]))")) == 4


def test_selectors_are_distinct_and_keep_offset_and_at_but_not_the_range() -> None:
    query = "rate(a[5m]) / rate(a[5m] offset 1h) + rate(a[1m]) + b @ end()"
    assert syntax.selectors(promql_parser.parse(query)) == [
        "a",
        "a offset 1h",
        "b @ end()",
    ]


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ("expected type matrix in call to function 'rate', got vector", "sum(rate(x[5m]))"),
        ("expected type vector in call to function 'abs', got matrix", "rate()"),
        ("unclosed left parenthesis", "add the missing )"),
        ("something no parser says", None),
    ],
)
def test_syntax_hints_cover_the_usual_type_mistakes(message: str, fragment: str | None) -> None:
    hint = syntax_errors.hint(message)
    assert (hint is None) if fragment is None else (hint is not None and fragment in hint)


# --------------------------------------------------------------------------------------------
# metric types
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "types", "kind", "inferred"),
    [
        ("foo_total", {}, Kind.COUNTER, True),
        ("foo_count", {}, Kind.COUNTER, True),
        ("foo_sum", {}, Kind.COUNTER, True),
        ("foo_bucket", {}, Kind.BUCKET, True),
        ("foo", {}, Kind.UNKNOWN, False),
        ("_total", {}, Kind.UNKNOWN, False),
        ("go_goroutines", {"go_goroutines": "gauge"}, Kind.GAUGE, False),
        ("foo_total", {"foo_total": "gauge"}, Kind.GAUGE, False),  # metadata beats the name
        ("foo_total", {"foo_total": "unknown"}, Kind.COUNTER, True),
        ("foo_total", {"foo": "counter"}, Kind.COUNTER, False),  # OpenMetrics family name
        ("foo_bucket", {"foo": "histogram"}, Kind.BUCKET, False),
        ("foo_count", {"foo": "histogram"}, Kind.COUNTER, False),
        ("foo", {"foo": "histogram"}, Kind.HISTOGRAM, False),  # native histogram
        ("foo_sum", {"foo": "summary"}, Kind.COUNTER, False),
        ("foo", {"foo": "summary"}, Kind.GAUGE, False),  # the quantile series
        ("build_info", {"build_info": "info"}, Kind.GAUGE, False),
    ],
)
def test_metric_type_comes_from_metadata_else_from_the_name(
    name: str, types: dict[str, str], kind: Kind, inferred: bool
) -> None:
    assert syntax.metric_type(name, types) == syntax.MetricType(kind, inferred)


def test_metadata_is_asked_for_each_name_and_the_family_of_suffixed_ones() -> None:
    names = syntax.metadata_names(["a_bucket", "a_count", "up", "b_total"])
    assert names == ["a_bucket", "a", "a_count", "up", "b_total", "b"]


# --------------------------------------------------------------------------------------------
# lint: each rule fires
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "types", "interval", "expected"),
    [
        # rate() and friends on a gauge
        ("rate(go_goroutines[5m])", None, 15, {("rate_on_gauge", "warning", False)}),
        ("increase(go_goroutines[5m])", None, 15, {("rate_on_gauge", "warning", False)}),
        ("irate(go_goroutines[1m])", None, 15, {("rate_on_gauge", "warning", False)}),
        ("resets(go_goroutines[5m])", None, 15, {("rate_on_gauge", "warning", False)}),
        ("sum(rate(go_goroutines[5m:1m]))", None, 15, {("rate_on_gauge", "warning", False)}),
        # gauge functions on a counter
        ("deriv(foo_total[10m])", {}, 15, {("gauge_function_on_counter", "warning", True)}),
        (
            "delta(prometheus_http_requests_total[5m])",
            None,
            15,
            {("gauge_function_on_counter", "warning", False)},
        ),
        # raw counters aggregated or in arithmetic
        ("sum(http_requests_total)", None, 15, {("raw_counter", "warning", False)}),
        ("sum by (job) (foo_total)", {}, 15, {("raw_counter", "warning", True)}),
        ("topk(5, prometheus_http_requests_total)", None, 15, {("raw_counter", "warning", False)}),
        ("foo_total / 60", {}, 15, {("raw_counter", "warning", True)}),
        ("foo_total - foo_total offset 1h", {}, 15, {("raw_counter", "warning", True)}),
        (
            "http_request_duration_seconds_sum / http_request_duration_seconds_count",
            None,
            15,
            {("raw_counter", "warning", False)},
        ),
        ("histogram_quantile(0.9, x_bucket)", {}, 15, {("raw_counter", "warning", True)}),
        (
            'sum(label_replace(foo_total, "a", "$1", "b", "(.*)"))',
            {},
            15,
            {("raw_counter", "warning", True)},
        ),
        ("sum(foo_total or bar_total)", {}, 15, {("raw_counter", "warning", True)}),
        ("sum(-foo_total)", {}, 15, {("raw_counter", "warning", True)}),
        # histogram_quantile over series without le
        (
            "histogram_quantile(0.9, sum by (job) (rate(x_bucket[5m])))",
            {},
            15,
            {("quantile_drops_le", "error", True)},
        ),
        (
            "histogram_quantile(0.9, sum(rate(http_request_duration_seconds_bucket[5m])))",
            None,
            15,
            {("quantile_drops_le", "error", False)},
        ),
        (
            "histogram_quantile(0.9, sum without (le) (rate(x_bucket[5m])))",
            {},
            15,
            {("quantile_drops_le", "error", True)},
        ),
        (
            "histogram_quantile(0.9, sum by (le) (sum by (job) (rate(x_bucket[5m]))))",
            {},
            15,
            {("quantile_drops_le", "error", True)},
        ),
        (
            "histogram_quantile(0.9, rate(http_request_duration_seconds_sum[5m]))",
            None,
            15,
            {("quantile_not_buckets", "warning", False)},
        ),
        (
            "histogram_quantile(0.9, go_goroutines)",
            None,
            15,
            {("quantile_not_buckets", "warning", False)},
        ),
        (
            "histogram_quantile(0.9, sum by (le) (rate(latency[5m])))",
            {},
            15,
            {("quantile_not_buckets", "warning", True)},
        ),
        # quantiles outside 0..1
        (
            "histogram_quantile(99, sum by (le) (rate(x_bucket[5m])))",
            {},
            15,
            {("quantile_out_of_range", "error", False)},
        ),
        ("quantile(1.5, go_goroutines)", None, 15, {("quantile_out_of_range", "error", False)}),
        (
            "quantile_over_time(-0.1, go_goroutines[5m])",
            None,
            15,
            {("quantile_out_of_range", "error", False)},
        ),
        # windows too short for the scrape interval
        ("rate(foo_total[15s])", {}, 15, {("window_too_short", "error", False)}),
        ("irate(foo_total[20s])", {}, 15, {("window_too_short", "error", False)}),
        ("deriv(go_goroutines[1m])", None, 60, {("window_too_short", "error", False)}),
        ("rate(foo_total[30s])", {}, 15, {("window_short", "warning", False)}),
        ("increase(foo_total[45s])", {}, 15, {("window_short", "warning", False)}),
        ("rate(foo_total[3m])", {}, 60, {("window_short", "warning", False)}),
        ("rate(foo_total[1m:30s])", {}, 15, {("window_short", "warning", False)}),
        # rate of an aggregation, rate of a rate
        ("rate(sum(foo_total)[5m:1m])", {}, 15, {("rate_of_aggregation", "error", False)}),
        (
            "increase(max by (job) (foo_total)[1h:])",
            {},
            15,
            {("rate_of_aggregation", "error", False)},
        ),
        ("rate(rate(foo_total[1m])[5m:1m])", {}, 15, {("rate_of_rate", "warning", False)}),
        # sides of a binary operator that cannot match
        (
            "sum by (job) (a) / sum by (instance) (b)",
            {},
            15,
            {("labels_cannot_match", "warning", False)},
        ),
        ("sum by (job) (a) / sum(b)", {}, 15, {("labels_cannot_match", "warning", False)}),
        (
            "sum by (job) (a) and count by (job, pod) (b)",
            {},
            15,
            {("labels_cannot_match", "warning", False)},
        ),
        ('count_values("v", a) > sum(a)', {}, 15, {("labels_cannot_match", "warning", False)}),
        # a range vector as the result
        ("go_goroutines[5m]", None, 15, {("range_vector_result", "info", False)}),
        ("rate(foo_total[5m])[30m:1m]", {}, 15, {("range_vector_result", "info", False)}),
    ],
)
def test_each_rule_fires_on_its_mistake(
    query: str, types: dict[str, str] | None, interval: float, expected: set[tuple[str, str, bool]]
) -> None:
    assert rules(lint(query, types, interval)) == expected


@pytest.mark.parametrize(
    "query",
    [
        "sum(rate(http_requests_total[5m]))",
        RATIO,
        "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
        "histogram_quantile(0.9, sum by (job, le) (rate(x_bucket[5m])))",
        "histogram_quantile(0.9, sum(rate(x_bucket[5m])) by (le))",
        "histogram_quantile(0.9, sum without (instance) (rate(x_bucket[5m])))",
        "histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m]))",
        "histogram_quantile(0.99, sum(rate(native_latency_seconds[5m])))",
        "histogram_quantile(1, sum by (le) (increase(x_bucket[1h])))",
        "rate(x_sum[5m]) / rate(x_count[5m])",
        "sum(rate(rpc_duration_seconds_sum[5m])) / sum(rate(rpc_duration_seconds_count[5m]))",
        'rpc_duration_seconds{quantile="0.99"}',
        "go_goroutines",
        "sum by (job) (go_goroutines)",
        "avg_over_time(go_goroutines[5m])",
        "deriv(go_goroutines[10m])",
        "changes(go_goroutines[5m])",
        "quantile(0.5, go_goroutines)",
        "predict_linear(node_filesystem_avail_bytes[6h], 86400) < 0",
        "http_requests_total",
        "http_requests_total > 0",
        "count(http_requests_total)",
        "count by (job) (http_requests_total)",
        "group by (job) (http_requests_total)",
        "absent(http_requests_total)",
        "timestamp(http_requests_total)",
        "max_over_time(http_requests_total[1h])",
        "increase(http_requests_total[1h])",
        "irate(http_requests_total[30s])",
        "rate(http_requests_total[1m])",
        "sum(rate(foo_total[5m:1m]))",
        "topk(5, rate(foo_total[5m]))",
        'label_replace(rate(foo_total[5m]), "a", "$1", "b", "(.*)")',
        "sum by (job) (rate(a_total[5m])) / on (job) group_left sum(rate(b_total[5m]))",
        "sum by (job) (a) / sum by (job) (b)",
        "sum by (job) (a) or sum by (instance) (b)",
        "up and on (job) sum by (job) (rate(foo_total[5m]))",
        "up == 1 unless on (instance) foo_total",
        "vector(1) + sum(go_goroutines)",
        "topk by (job) (3, go_goroutines) / sum by (instance) (go_goroutines)",
        "1 + 1",
        "time()",
        'count_values("v", go_goroutines)',
        "rate(foo_total[5m:])",
    ],
)
def test_correct_queries_have_no_findings(query: str) -> None:
    assert lint(query) == []


# --------------------------------------------------------------------------------------------
# lint: what findings say
# --------------------------------------------------------------------------------------------


def test_findings_name_the_concrete_fix() -> None:
    (dropped,) = lint("histogram_quantile(0.9, sum by (job) (rate(x_bucket[5m])))", {})
    assert "use sum by (job, le)" in dropped.message
    (without,) = lint("histogram_quantile(0.9, sum without (le, pod) (rate(x_bucket[5m])))", {})
    assert "use sum without (pod)" in without.message
    (raw,) = lint("sum(foo_total)", {})
    assert "sum(rate(foo_total[5m]))" in raw.message
    (gauge,) = lint("rate(go_goroutines[5m])")
    assert "deriv(go_goroutines[5m])" in gauge.message
    (resets,) = lint("resets(go_goroutines[5m])")
    assert "changes(go_goroutines[5m])" in resets.message
    (short,) = lint("rate(foo_total[30s])", {})
    assert "[1m] or longer" in short.message
    (summed,) = lint("increase(max by (job) (foo_total)[1h:])", {})
    assert "use max by (job) (increase(foo_total[1h]))" in summed.message
    (mismatch,) = lint("sum by (job, pod) (a) / sum by (job) (b)", {})
    assert "on(job) with group_left" in mismatch.message


def test_suggested_windows_grow_with_a_long_scrape_interval() -> None:
    (raw,) = lint("sum(foo_total)", {}, interval=120)
    assert "sum(rate(foo_total[8m]))" in raw.message
    (short,) = lint("rate(foo_total[5m])", {}, interval=120)
    assert short.rule == "window_short" and "[8m]" in short.message


def test_window_findings_on_an_assumed_interval_say_they_are_inferred() -> None:
    (finding,) = lint("rate(foo_total[30s])", {}, assumed=True)
    assert finding.inferred
    (subquery,) = lint("rate(foo_total[1m:30s])", {}, assumed=True)
    assert not subquery.inferred  # the subquery step is known, not assumed


def test_findings_are_deduplicated_and_errors_come_first() -> None:
    findings = lint("sum(foo_total) + sum(foo_total) + rate(bar_total[10s])", {})
    assert [(f.rule, f.severity) for f in findings] == [
        ("window_too_short", "error"),
        ("raw_counter", "warning"),
    ]


def test_a_rate_of_a_sum_is_reported_once_as_that_not_also_as_a_raw_counter() -> None:
    assert [f.rule for f in lint("rate(sum(foo_total)[5m:1m])", {})] == ["rate_of_aggregation"]


# --------------------------------------------------------------------------------------------
# any expression
# --------------------------------------------------------------------------------------------

_SELECTORS = st.sampled_from(
    [
        "up",
        "foo_total",
        "x_bucket",
        "go_goroutines",
        'http_requests_total{code=~"5.."}',
        '{__name__="bar_count",job="a"}',
        "baz offset 5m",
    ]
)
_WINDOWS = st.sampled_from(["1s", "30s", "5m", "1h"])


def _ranged(selector: str, window: str) -> str:
    return f"{selector.split(' offset ')[0]}[{window}]"


_VECTORS = st.recursive(
    _SELECTORS,
    lambda inner: st.one_of(
        st.builds(lambda s, w: f"rate({_ranged(s, w)})", _SELECTORS, _WINDOWS),
        st.builds(lambda s, w: f"deriv({_ranged(s, w)})", _SELECTORS, _WINDOWS),
        st.builds(lambda v, w: f"max_over_time(({v})[{w}:1m])", inner, _WINDOWS),
        st.builds(lambda v, w: f"increase(({v})[{w}:])", inner, _WINDOWS),
        st.builds(lambda v: f"sum({v})", inner),
        st.builds(lambda v: f"sum by (job) ({v})", inner),
        st.builds(lambda v: f"count without (le) ({v})", inner),
        st.builds(lambda v: f"topk(3, {v})", inner),
        st.builds(lambda v: f"histogram_quantile(0.9, {v})", inner),
        st.builds(lambda v: f'label_replace({v}, "a", "$1", "b", "(.*)")', inner),
        st.builds(lambda v: f"-({v})", inner),
        st.builds(lambda a, b: f"({a}) / ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) and on (job) ({b})", inner, inner),
        st.builds(lambda a: f"({a}) > 0.5", inner),
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(query=_VECTORS, types=st.sampled_from([{}, TYPES]), interval=st.sampled_from([1, 15, 60]))
def test_any_expression_is_explained_and_linted_without_error(
    query: str, types: dict[str, str], interval: int
) -> None:
    expr = promql_parser.parse(query)
    explanation = explaining.explain(expr)
    assert explanation.steps and explanation.result_type == "instant vector"
    assert all(step for step in explanation.steps)
    for finding in linting.lint(expr, types=types, scrape_interval=interval):
        assert finding.severity in ("error", "warning", "info")
        assert finding.rule and "use " in finding.message  # every finding names its fix
