"""PromQL syntax errors carry Prometheus's position and wording (issue #12, point 2).

A corpus of malformed queries goes through every tool that takes PromQL, and each answer is
compared with what the test Prometheus itself says about the same query, asked directly:
the same line and column, its message quoted, and a fix where one is known. Where no
backend can be asked, the answer says so and never claims a position.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastmcp import Client

from mcp_server.core import hygiene
from mcp_server.promql import checks, syntax_errors
from tests.support import harness
from tests.support import prometheus_process as synthetic
from tests.support.answers import call, call_error
from tests.support.harness import McpClient, RunningServer
from tests.support.prometheus_process import RunningPrometheus

END = synthetic.SYNTHETIC_END
WINDOW = {"start": END - 3600, "end": END}

CORPUS: dict[str, str | None] = {
    # unclosed and unbalanced brackets
    "sum(rate(bench_requests_total[5m])": "add the missing )",
    'x{a="b"': "close the label matchers with }",
    "rate(x[5m)": "close the range with ]",
    "(x": "add the missing )",
    "x)": "remove the extra closing bracket",
    "x]": "remove the extra closing bracket",
    "x}": "remove the extra closing bracket",
    "sum(x))": "remove the extra closing bracket",
    "sum(\n  rate(x[5m]\n)": "add the missing )",
    "rate(x[5m]": "add the missing )",
    "x[5m:1m": "close the range with ]",
    "x{": "close the label matchers with }",
    # durations, offset and @
    "rate(x[5])": "a duration is a whole number with a unit",
    "rate(x[5mm])": "not 1.5m, 5, or 5mm",
    "rate(x[])": "a duration is a whole number with a unit",
    "rate(x[-5m])": "a duration is a whole number with a unit",
    "rate(x[1.5m])": "not 1.5m",
    "rate(x[5m5])": "largest unit first",
    "rate(x[5 m])": "a duration is a whole number with a unit",
    "rate(x[0s])": "use a positive window",
    "x[5m:1.5s]": "a duration is a whole number with a unit",
    "x offset": "offset takes a duration: x offset 5m",
    "x offset 5": "offset takes a duration: x offset 5m",
    "x offset abc": "offset takes a duration: x offset 5m",
    "x offset 5m offset 5m": "one offset",
    "x @": "@ takes a unix timestamp, start() or end()",
    "x @ abc": "@ takes a unix timestamp, start() or end()",
    "x @ start": "@ takes a unix timestamp, start() or end()",
    "x @ 1 @ 2": "one @ modifier",
    # unknown functions
    "rates(x[5m])": "did you mean rate(x[5m])",
    "Rate(x[5m])": "did you mean rate(x[5m])",
    "histogram_quantiles(0.9, x)": "did you mean histogram_quantile(",
    "foo(x)": None,  # any close name would be a guess
    "limitk(1, x)": "needs a newer Prometheus",  # PromQL 3; Prometheus 2.42 refuses it
    "double_exponential_smoothing(x[1h], 0.5, 0.5)": "is called holt_winters",
    # argument counts
    "rate()": "call it as rate(x[5m])",
    "rate(x[5m], 1)": "call it as rate(x[5m])",
    "histogram_quantile(x)": "call it as histogram_quantile(0.9, ",
    'label_replace(x, "a")': 'call it as label_replace(x, "dst", "$1", "src", "(.*)")',
    "clamp(x)": "call it as clamp(x, 0, 100)",
    "round(x, 1, 2)": "call it as round(x) or round(x, 0.1)",
    "vector()": "call it as vector(1)",
    "time(1)": "call it as time()",
    "topk(x)": "takes its parameter first: topk(5, x)",
    "quantile(x)": "quantile(0.9, x)",
    "count_values(x)": 'count_values("value", x)',
    "sum(x, y)": "an aggregation takes one expression",
    # argument types
    "rate(x)": "this function needs a range vector",
    "rate(sum(x))": "aggregate the rate instead: sum(rate(x[5m]))",
    "rate(1)": "this function needs a range vector",
    "quantile_over_time(0.9, x)": "this function needs a range vector",
    "\n\n  rate(x)": "this function needs a range vector",
    "abs(x[5m])": "must go into a function such as rate()",
    "sum(x[5m])": "sum(rate(x[5m]))",
    'abs("a")': "a series selector",
    'histogram_quantile("a", x)': "this argument is a number",
    'label_replace(x, 1, "b", "c", "d")': "this argument is a quoted string",
    'topk("a", x)': "parameter is a number: topk(5, x)",
    "count_values(1, x)": 'count_values("value", x)',
    "topk(x, 3)": "the number goes first: topk(5, x)",
    # label matchers
    "x{a}": "each matcher is label, operator",
    "x{a=b}": "label values are quoted strings",
    'x{a=="b"}': "a matcher has one =",
    'x{="b"}': "each matcher starts with a label name",
    "x{a!~}": "label values are quoted strings",
    'x{a="b",,c="d"}': "each matcher starts with a label name",
    'x{a="b" c="d"}': "separate matchers with commas",
    'x{a=~"("}': "fix the regular expression",
    "{}": "a matcher that cannot match the empty string",
    '{a=""}': "a matcher that cannot match the empty string",
    'x{__name__="y"}': "give the metric name once",
    'x{1a="b"}': "label names start with a letter or _",
    "x{a='b}": "close the string",
    'x{a="b\\q"}': "raw `backtick` string",
    '"unterminated': "close the string",
    # binary operators
    "x +": "the expression ends too early",
    "+": "the expression ends too early",
    "-": "the expression ends too early",
    "x unless": "the expression ends too early",
    "x ==": "the expression ends too early",
    "x and 1": "use a comparison: x > 1",
    "1 and x": "use a comparison: x > 1",
    "1 == 1": "1 == bool 1",
    "x + bool y": "bool goes after a comparison only",
    "x + on(a) ignoring(b) y": "use on(...) or ignoring(...), not both",
    "x + group_left y": "group_left/group_right follow on(...) or ignoring(...)",
    "x and on(a) group_left y": "but no group_left/group_right",
    "x + on(a) group_left(a) y": "not in both",
    "x == on(a) group_left on(b) y": "on(...) comes before group_left",
    '"a" + 1': "strings cannot be used",
    'x + "a"': "strings cannot be used",
    "x ** y": "powers are written x ^ 2",
    "x === y": "compare with ==",
    "x <> y": "not equal is written !=",
    "!x": "! only starts != and !~",
    # subqueries and ranges
    "rate(x[5m:1m:1m])": "a subquery is <expression>[<range>:<step>]",
    "x[5m:-1m]": "a subquery is <expression>[<range>:<step>]",
    "x[5m:abc]": "a subquery is <expression>[<range>:<step>]",
    "x[:5m]": "a duration is a whole number with a unit",
    "(x)[5m]": "use a subquery with a step",
    "sum(x)[5m]": "use a subquery with a step",
    "x[5m][5m]": "use a subquery with a step",
    "rate(x[5m])[5m:1m][1m]": "use a subquery with a step",
    "x[5m] offset 1m[5m]": "use a subquery with a step",
    "x[5m:1m] offset": "offset takes a duration",
    # aggregations
    "sum by (a) x": "comes the expression in parentheses",
    "sum without(x)": "comes the expression in parentheses",
    "sum by a (x)": "take a list in parentheses",
    "sum(x) by (a) by (b)": "by and without follow an aggregation",
    "foo by (a) (x)": "by and without follow an aggregation",
    "sum by (a) without (b) (x)": "use by (...) or without (...), not both",
    'sum by ("a") (x)': "without quotes",  # quoted label names are PromQL 3
    # trailing garbage
    "sum by (code) (bench_requests_total) foo": "remove the leftover",
    "x y": "remove the leftover",
    "up 1": "remove the leftover",
    "up\nfoo": "remove the leftover",
    "sum(\n  x\n) by (a)\n  foo": "remove the leftover",
    "up;": "PromQL has no ;",
    "up,": "commas only separate arguments and matchers",
    "1e": "numbers are written",
}
SELECTOR_ERRORS = [
    'up{job="api"',
    "x{a=b}",
    'x{a="b" c="d"}',
    'x{a=~"("}',
    "x{a}",
    'x{="b"}',
    "x{a='b}",
    'x{1a="b"}',
    'x{a="b",,c="d"}',
    "x y",
]
"""find_series takes selectors only: its errors are compared with /api/v1/series's."""
NEWER_THAN_OUR_PARSER = ["holt_winters(x[5m], 0.5, 0.5)", "x{a=`b\\d`}"]
"""Queries Prometheus 2.42 parses and promql-parser refuses (a function PromQL 3 renamed,
a backslash in a raw string)."""
_POSITION = re.compile(r"(\d+):(\d+): parse error: (.*)", re.S)


@dataclass(frozen=True)
class Refusal:
    """Prometheus's own parse error for a query, as its HTTP API gives it."""

    line: int
    column: int
    text: str  # `1:35: parse error: ...`, without the `invalid parameter "query": ` prefix


def refusal(prometheus: RunningPrometheus, query: str, *, path: str = "/api/v1/query") -> Refusal:
    param = "match[]" if path == "/api/v1/series" else "query"
    response = httpx.post(prometheus.url + path, data={param: query}, trust_env=False, timeout=10)
    body = response.json()
    assert (response.status_code, body["errorType"]) == (400, "bad_data"), body
    found = _POSITION.search(body["error"])
    assert found is not None, body
    return Refusal(int(found[1]), int(found[2]), body["error"][found.start() :])


def assert_placed(error: dict[str, Any], expected: Refusal, fix: str | None) -> None:
    assert (error["line"], error["column"]) == (expected.line, expected.column), error
    assert hygiene.quoted(expected.text) in (error.get("message") or error["error"]), error
    assert "http://" not in json.dumps(error) and "127.0.0.1" not in json.dumps(error)
    if fix is None:
        assert "hint" not in error, error
    else:
        assert fix in error["hint"], error


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ('invalid parameter "query": 1:35: parse error: unclosed left parenthesis', (1, 35)),
        ("3:2: parse error: unclosed left parenthesis", (3, 2)),  # query_exemplars: no prefix
        ("invalid parameter 'query': 2:7: parse error: unexpected <by>", (2, 7)),
        ('invalid parameter "query": invalid position: parse error: x', (None, None)),
    ],
)
def test_prometheus_parse_errors_are_read_with_or_without_words_in_front(
    text: str, position: tuple[int | None, int | None]
) -> None:
    error = syntax_errors.from_prometheus(text)
    assert error is not None and (error.line, error.column) == position
    assert error.message.startswith('Prometheus cannot parse the query: "')
    assert '"query"' not in error.message  # the HTTP parameter is not the agent's concern


@pytest.mark.parametrize(
    "text",
    [
        'invalid parameter "query": match[] must contain at least one non-empty matcher',
        "found duplicate series for the match group {} on the right hand-side",
        "1:2 parse error without the colon",
    ],
)
def test_other_refusals_are_not_taken_for_parse_errors(text: str) -> None:
    assert syntax_errors.from_prometheus(text) is None


@pytest.mark.parametrize("query", CORPUS, ids=[repr(q) for q in CORPUS])
def test_our_parser_named_problems_get_a_fix_too(query: str) -> None:
    """Its wording differs from Prometheus's; a problem it names specifically gets a hint
    wherever Prometheus's wording of it does."""
    problem = checks.parse_problem(query)
    if problem not in (None, "invalid promql query") and CORPUS[query] is not None:
        assert syntax_errors.hint(problem) is not None, problem


def test_the_corpus_is_large_and_every_query_in_it_is_malformed_for_prometheus(
    prometheus: RunningPrometheus,
) -> None:
    assert len(CORPUS) >= 60
    for query in CORPUS:
        refusal(prometheus, query)  # asserts Prometheus places a parse error


@pytest.mark.parametrize(("query", "fix"), CORPUS.items(), ids=[repr(q) for q in CORPUS])
async def test_every_tool_taking_promql_names_prometheus_position_and_a_fix(
    mcp: McpClient, prometheus: RunningPrometheus, query: str, fix: str | None
) -> None:
    expected = refusal(prometheus, query)
    for tool, extra in (
        ("query_instant", {"time": END}),
        ("query_range", WINDOW),
        ("query_exemplars", WINDOW),
        ("estimate_query_cost", WINDOW),
    ):
        error = await call_error(mcp, tool, datasource_id="prom", promql=query, **extra)
        assert error["code"] == "invalid_query" and error["retryable"] is False, (tool, error)
        assert_placed(error, expected, fix)
        assert error["message"].startswith("Prometheus cannot parse the query: ")
    checked = await call(mcp, "check_promql", promql=query, datasource_id="prom")
    assert checked["valid"] is False
    assert_placed(checked, expected, fix)


@pytest.mark.parametrize("query", CORPUS, ids=[repr(q) for q in CORPUS])
async def test_without_a_datasource_no_position_is_claimed_and_the_way_to_one_is_named(
    mcp: McpClient, query: str
) -> None:
    checked = await call(mcp, "check_promql", promql=query)
    if checked["valid"]:  # newer PromQL than Prometheus 2.42 that our parser knows
        assert query in {"rate(x[5])", "x offset 5", "limitk(1, x)", 'sum by ("a") (x)'} or (
            query.startswith("double_exponential_smoothing")
        )
        return
    assert "line" not in checked and "column" not in checked
    assert checked["error"].startswith("PromQL syntax error (proms-mcp's parser, which gives no")
    assert "pass datasource_id" in checked["error"]


@pytest.mark.parametrize("selector", SELECTOR_ERRORS)
async def test_find_series_names_the_position_the_series_api_gives(
    mcp: McpClient, prometheus: RunningPrometheus, selector: str
) -> None:
    expected = refusal(prometheus, selector, path="/api/v1/series")
    error = await call_error(mcp, "find_series", datasource_id="prom", match=selector)
    assert error["code"] == "invalid_query"
    assert (error["line"], error["column"]) == (expected.line, expected.column)
    assert hygiene.quoted(expected.text) in error["message"]


async def test_an_empty_selector_is_invalid_in_prometheus_own_words(mcp: McpClient) -> None:
    """Both parsers refuse `{}`; the series API says why without a position."""
    error = await call_error(mcp, "find_series", datasource_id="prom", match="{}")
    assert error["code"] == "invalid_query" and "line" not in error
    assert "match[] must contain at least one non-empty matcher" in error["message"]
    assert "cannot match the empty string" in error["hint"]


def test_prometheus_places_errors_in_the_text_as_sent_so_whitespace_is_kept(
    prometheus: RunningPrometheus,
) -> None:
    """Positions refer to the agent's own text: a stripped query would move them."""
    assert (refusal(prometheus, "  rate(x)").column, refusal(prometheus, "rate(x)").column) == (
        8,
        6,
    )


async def test_leading_whitespace_and_lines_keep_their_place_in_the_answer(
    mcp: McpClient,
) -> None:
    error = await call_error(
        mcp, "query_instant", datasource_id="prom", promql="\n  sum(\n    rate(x)\n  )"
    )
    assert (error["line"], error["column"]) == (3, 10)


@pytest.mark.parametrize("query", NEWER_THAN_OUR_PARSER)
async def test_a_query_only_prometheus_parses_runs_and_checks_as_valid(
    mcp: McpClient, query: str
) -> None:
    answer = await call(mcp, "query_instant", datasource_id="prom", promql=query, time=END)
    assert answer["total_series"] == 0
    ranged = await call(mcp, "query_range", datasource_id="prom", promql=query, **WINDOW)
    assert ranged["total_series"] == 0
    checked = await call(mcp, "check_promql", promql=query, datasource_id="prom")
    assert checked["valid"] is True and checked["findings"] == []
    assert checked["basis"].startswith("the datasource parses it, proms-mcp's parser does not")
    assert "not explained or linted" in checked["basis"]
    unchecked = await call(mcp, "check_promql", promql=query)
    assert unchecked["valid"] is False and "line" not in unchecked
    cost = await call_error(mcp, "estimate_query_cost", datasource_id="prom", promql=query)
    assert cost["code"] == "unsupported" and "query_instant and query_range" in cost["message"]


async def test_a_query_newer_than_the_datasource_is_valid_only_without_it(mcp: McpClient) -> None:
    """Our parser knows limitk; Prometheus 2.42 does not, and with a datasource it decides."""
    assert (await call(mcp, "check_promql", promql="limitk(1, x)"))["valid"] is True
    checked = await call(mcp, "check_promql", promql="limitk(1, x)", datasource_id="prom")
    assert checked["valid"] is False and (checked["line"], checked["column"]) == (1, 1)


async def test_a_datasource_that_cannot_be_asked_gets_our_parser_verdict_without_position(
    mcp: McpClient,
) -> None:
    error = await call_error(mcp, "query_instant", datasource_id="down", promql="sum(x")
    assert error["code"] == "invalid_query" and "line" not in error
    assert "could not be asked for its position (backend_unavailable)" in error["message"]
    assert "add the missing )" in error["hint"]
    checked = await call(mcp, "check_promql", promql="sum(x", datasource_id="down")
    assert checked["valid"] is False and "line" not in checked
    assert "(backend_unavailable)" in checked["error"]
    fine = await call_error(mcp, "query_instant", datasource_id="down", promql="sum(x)")
    assert fine["code"] == "backend_unavailable"


# --------------------------------------------------------------------------------------------
# Backends without /api/v1/format_query
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forwarded:
    path: str
    form: dict[str, list[str]]


class _Proxy(harness.Handler):
    """Prometheus without format_query (as Thanos), or, with `words`, a backend that refuses
    every query in words of its own (as VictoriaMetrics)."""

    upstream = ""
    words: str | None = None
    seen: list[Forwarded]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path, _, query_string = self.path.partition("?")
        self.seen.append(Forwarded(path, _form(body.decode() or query_string)))
        if path == "/api/v1/format_query":
            self._write(404, b"404 page not found\n", "text/plain")
        elif self.words is not None and path.startswith("/api/v1/query"):
            answer = {"status": "error", "errorType": "422", "error": self.words}
            self._write(422, json.dumps(answer).encode(), "application/json")
        else:
            response = httpx.request(
                self.command,
                self.upstream + self.path,
                content=body,
                headers={"Content-Type": self.headers.get("Content-Type", "")},
                trust_env=False,
                timeout=10,
            )
            self._write(response.status_code, response.content, "application/json")

    def do_GET(self) -> None:
        self.do_POST()

    def _write(self, status: int, body: bytes, kind: str) -> None:
        self.reply(body, kind, status=status)


def _form(encoded: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for key, value in httpx.QueryParams(encoded).multi_items():
        parsed.setdefault(key, []).append(value)
    return parsed


VM_WORDS = 'cannot parse "sum(": unexpected end of stream'


@dataclass(frozen=True)
class Proxies:
    server: RunningServer
    thanos_like: list[Forwarded]


@pytest.fixture(scope="module")
def proxies(
    prometheus: RunningPrometheus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxies]:
    seen: list[Forwarded] = []
    thanos = type("ThanosLike", (_Proxy,), {"upstream": prometheus.url, "seen": seen})
    victoria = type("VictoriaLike", (_Proxy,), {"words": VM_WORDS, "seen": []})
    with contextlib.ExitStack() as stack:
        thanos_url = stack.enter_context(harness.http_server(thanos))
        victoria_url = stack.enter_context(harness.http_server(victoria))
        path = pathlib.Path(tmp_path_factory.mktemp("proxied")) / "datasources.yaml"
        document = {
            "apiVersion": 1,
            "datasources": [
                {"name": "thanos-like", "type": "prometheus", "url": thanos_url},
                {"name": "victoria-like", "type": "prometheus", "url": victoria_url},
            ],
        }
        path.write_text(json.dumps(document))
        config = harness.make_settings(sources={"datasources_path": path})
        running = stack.enter_context(harness.serve_in_thread(config))
        yield Proxies(running, seen)


async def test_without_format_query_an_instant_query_at_the_epoch_gives_the_position(
    proxies: Proxies, prometheus: RunningPrometheus
) -> None:
    query = "sum by (code) (bench_requests_total) foo"
    expected = refusal(prometheus, query)
    async with Client(proxies.server.mcp_url) as mcp:
        checked = await call(mcp, "check_promql", promql=query, datasource_id="thanos-like")
        assert checked["valid"] is False
        assert_placed(checked, expected, "remove the leftover")
        cost = await call_error(
            mcp, "estimate_query_cost", datasource_id="thanos-like", promql=query
        )
        assert_placed(cost, expected, "remove the leftover")
        valid = await call(mcp, "check_promql", promql="sum(up)", datasource_id="thanos-like")
        assert valid["valid"] is True and valid["steps"]
    epoch = [
        f.form
        for f in proxies.thanos_like
        if f.path == "/api/v1/query" and f.form["query"] == [query]
    ]
    assert epoch and all(form["time"] == ["0"] and form["timeout"] == ["2"] for form in epoch)


async def test_a_backend_refusing_in_its_own_words_is_quoted_without_a_position(
    proxies: Proxies,
) -> None:
    async with Client(proxies.server.mcp_url) as mcp:
        checked = await call(mcp, "check_promql", promql="sum(", datasource_id="victoria-like")
        assert checked["valid"] is False and "line" not in checked
        assert checked["error"] == f"the datasource rejects the query: {json.dumps(VM_WORDS)}"
        error = await call_error(mcp, "query_instant", datasource_id="victoria-like", promql="sum(")
    assert error["code"] == "query_rejected" and "line" not in error
