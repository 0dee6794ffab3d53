"""PromQL syntax errors as an agent needs them: where (line and column), what, in the parser's
own words, and how to fix the mistakes agents make most.

Prometheus answers `1:35: parse error: unclosed left parenthesis` (behind `invalid parameter
"query": ` on the query APIs); its line and column count from 1, the column in bytes.
proms-mcp's own parser (promql-parser) names most problems in similar words but gives no
position at all, so an error from it never claims one: the backend's parser is asked
whenever there is a backend (`backends.parsing`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from ..core import errors, hygiene

_PROMETHEUS = re.compile(
    r"(?:^|: )(?:(?P<line>\d+):(?P<column>\d+)|invalid position): parse error: (?P<problem>.*)\Z",
    re.S,
)
"""Prometheus's ParseErr text (its first error only); Thanos and Mimir may put their own
words in front of it. `invalid position` is what Prometheus says when it has none."""

_RANGE = ("rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets")
_OVER_TIME = ("avg", "min", "max", "sum", "count", "stddev", "stdvar", "last", "present", "mad")
_INSTANT = (
    "abs", "absent", "ceil", "exp", "floor", "ln", "log2", "log10", "sqrt", "sgn", "sort",
    "sort_desc", "scalar", "timestamp", "histogram_count", "histogram_sum", "histogram_avg",
    "histogram_stddev", "histogram_stdvar", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "cos", "cosh", "sin", "sinh", "tan", "tanh", "deg", "rad",
)  # fmt: skip
_CLOCK = (
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month",
    "year",
)  # fmt: skip
_CALLS: dict[str, str] = {
    **{name: f"{name}(x[5m])" for name in _RANGE},
    **{f"{name}_over_time": f"{name}_over_time(x[5m])" for name in _OVER_TIME},
    "absent_over_time": "absent_over_time(x[5m])",
    **{name: f"{name}(x)" for name in _INSTANT},
    **{name: f"{name}() or {name}(x)" for name in _CLOCK},
    "clamp": "clamp(x, 0, 100)",
    "clamp_min": "clamp_min(x, 0)",
    "clamp_max": "clamp_max(x, 100)",
    "histogram_quantile": "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
    "histogram_fraction": "histogram_fraction(0, 0.2, rate(x[5m]))",
    "label_replace": 'label_replace(x, "dst", "$1", "src", "(.*)")',
    "label_join": 'label_join(x, "dst", ",", "src1", "src2")',
    "predict_linear": "predict_linear(x[1h], 3600)",
    "quantile_over_time": "quantile_over_time(0.9, x[5m])",
    "holt_winters": "holt_winters(x[1h], 0.5, 0.5)",
    "double_exponential_smoothing": "double_exponential_smoothing(x[1h], 0.5, 0.5)",
    "round": "round(x) or round(x, 0.1)",
    "sort_by_label": 'sort_by_label(x, "job")',
    "sort_by_label_desc": 'sort_by_label_desc(x, "job")',
    "vector": "vector(1)",
    "time": "time()",
    "pi": "pi()",
    "info": "info(x)",
}
"""How each PromQL function is called, for "wrong number of arguments" and "did you mean"."""
_AGGREGATIONS: dict[str, str] = {
    **{name: f"{name}(x) or {name} by (job) (x)" for name in ("sum", "avg", "min", "max")},
    **{name: f"{name}(x)" for name in ("count", "group", "stddev", "stdvar")},
    "topk": "topk(5, x)",
    "bottomk": "bottomk(5, x)",
    "limitk": "limitk(5, x)",
    "limit_ratio": "limit_ratio(0.5, x)",
    "quantile": "quantile(0.9, x)",
    "count_values": 'count_values("value", x)',
}
_NAMES = {**_CALLS, **_AGGREGATIONS}
_RENAMED = {
    "holt_winters": "Prometheus 3 renamed holt_winters to double_exponential_smoothing "
    "(behind its promql-experimental-functions flag)",
    "double_exponential_smoothing": "before Prometheus 3 double_exponential_smoothing is "
    "called holt_winters",
}


def from_prometheus(text: str) -> errors.InvalidQuery | None:
    """The error Prometheus's parser describes in `text` (an API `error`), or None when
    `text` is not a parse error."""
    found = _PROMETHEUS.search(text)
    if found is None:
        return None
    verbatim = text[found.start() :].removeprefix(": ")
    placed = found["line"] is not None
    return errors.InvalidQuery(
        f"Prometheus cannot parse the query: {hygiene.quoted(verbatim)}",
        line=int(found["line"]) if placed else None,
        column=int(found["column"]) if placed else None,
        hint=hint(found["problem"]),
    )


def from_rejection(text: str) -> errors.InvalidQuery:
    """A backend that refuses a query it was asked to parse, in words of its own
    (VictoriaMetrics), or for a reason found at evaluation (a broken regex)."""
    return errors.InvalidQuery(
        f"the datasource rejects the query: {hygiene.quoted(text)}", hint=hint(text)
    )


def from_parser(problem: str, *, why_no_position: str) -> errors.InvalidQuery:
    """proms-mcp's own parser's verdict: its words, no position, and why none is given."""
    return errors.InvalidQuery(
        f"PromQL syntax error (proms-mcp's parser, which gives no line:column): "
        f"{hygiene.quoted(problem)}; {why_no_position}",
        hint=hint(problem),
    )


def hint(problem: str) -> str | None:
    """A fix for the problem a parser names (Prometheus's or promql-parser's wording), or
    None when none is known."""
    for pattern, fix in _HINTS:
        found = pattern.search(problem)
        if found is not None:
            return fix if isinstance(fix, str) else fix(found)
    return None


def _unknown_function(found: re.Match[str]) -> str | None:
    name = found["name"]
    if name in _RENAMED:
        return _RENAMED[name]
    if name in _NAMES:
        return (
            f"{name} needs a newer Prometheus than the parser that refused it, or a feature "
            "flag (get_build_info shows the datasource's version)"
        )
    close = difflib.get_close_matches(name.lower(), _NAMES, n=3, cutoff=0.8)
    return "did you mean " + " or ".join(_NAMES[c] for c in close) + "?" if close else None


def _argument_count(found: re.Match[str]) -> str | None:
    name = found["name"]
    if name in _CALLS:
        return f"call it as {_CALLS[name]}"
    return _unknown_function(found)  # promql-parser counts the arguments of unknown names


def _aggregation_count(found: re.Match[str]) -> str:
    if found["expected"] == "2":
        return (
            "this aggregation takes its parameter first: topk(5, x), bottomk(5, x), "
            'quantile(0.9, x), count_values("value", x)'
        )
    return "an aggregation takes one expression: sum(x), or sum(x + y) to add first"


_RANGE_NEEDED = (
    "this function needs a range vector: add a window (rate(x[5m])); to rate an "
    "aggregation, aggregate the rate instead: sum(rate(x[5m]))"
)
_INSTANT_NEEDED = (
    "a range vector x[5m] must go into a function such as rate() or avg_over_time(): "
    "sum(rate(x[5m])), abs(avg_over_time(x[5m]))"
)
_DURATION = (
    "a duration is a whole number with a unit (ms, s, m, h, d, w, y), largest unit first: "
    "5m, 90s, 1h30m (not 1.5m, 5, or 5mm)"
)
_SUBQUERY = "a subquery is <expression>[<range>:<step>], e.g. max_over_time(rate(x[5m])[1h:1m])"
_LEFTOVER = (
    "the expression is complete before this: remove the leftover, or join it with an "
    "operator (+, and, or, ...)"
)
_Fix = str | Callable[[re.Match[str]], str | None]
_HINTS: tuple[tuple[re.Pattern[str], _Fix], ...] = tuple(
    (re.compile(pattern, re.I), fix)
    for pattern, fix in (
        # --- brackets -------------------------------------------------------------------
        (r"unclosed left parenthesis", "a ( is never closed: add the missing ) at the end"),
        (
            r"unclosed left bracket|end of input inside brackets|"
            r"in subquery or range, expected \":\" or \"]\"|inside brackets: '\)'",
            "close the range with ]: x[5m], or a subquery x[1h:1m]",
        ),
        (
            r"end of input inside braces",
            'close the label matchers with }: x{job="api"}',
        ),
        (
            r"unexpected right (parenthesis|bracket|brace)|unexpected character: '\}'",
            "remove the extra closing bracket, or add the opening one it belongs to",
        ),
        # --- durations, offset, @ -------------------------------------------------------
        (r"duration must be greater than 0", "use a positive window, e.g. [5m]"),
        (r"expect duration before first colon", _SUBQUERY),
        (
            r"missing unit character in duration|bad (number or )?duration syntax|"
            r"not a valid duration string|unexpected character inside brackets",
            _DURATION,
        ),
        (r"in offset, expected duration", "offset takes a duration: x offset 5m"),
        (
            r"in @, expected timestamp",
            "@ takes a unix timestamp, start() or end(): x @ 1700000000, x @ end()",
        ),
        (r"offset may not be set multiple times", "give a selector one offset: x offset 1h"),
        (r"@ <timestamp> may not be set multiple times", "give a selector one @ modifier"),
        # --- functions and aggregations -------------------------------------------------
        (r"unknown function with name [\"'](?P<name>[^\"']+)[\"']", _unknown_function),
        (
            r"expected (?:at least |at most )?\d+ argument\(s\) in call to [\"'](?P<name>[^\"']+)",
            _argument_count,
        ),
        (
            r"wrong number of arguments for aggregate expression provided, "
            r"expected (?P<expected>\d+)",
            _aggregation_count,
        ),
        (r"expected type (range vector|matrix) in call to function", _RANGE_NEEDED),
        (r"expected type (instant vector|vector) in .*got (range vector|matrix)", _INSTANT_NEEDED),
        (
            r"expected type (instant vector|vector) in aggregation expression, got scalar",
            "the number goes first: topk(5, x), quantile(0.9, x)",
        ),
        (
            r"expected type scalar in aggregation (parameter|expression), got string",
            "this aggregation's parameter is a number: topk(5, x), quantile(0.9, x)",
        ),
        (
            r"expected type string in aggregation (parameter|expression)",
            'count_values takes the new label\'s name as a string: count_values("value", x)',
        ),
        (r"expected type scalar in call", "this argument is a number, e.g. 0.9"),
        (r"expected type string in call", 'this argument is a quoted string, e.g. "job"'),
        (
            r"expected type (instant vector|vector) in call to function .*got string",
            'this argument is a series selector such as x{job="api"}, not a string',
        ),
        (r"unexpected <without> in aggregation", "use by (...) or without (...), not both"),
        (
            r"in aggregation$",
            "after sum by (...) comes the expression in parentheses: sum by (job) (x); "
            "anything after its closing ) is left over",
        ),
        (
            r"unexpected <on> in grouping opts",
            "on(...) comes before group_left/group_right: x * on(job) group_left(team) y",
        ),
        (
            r"in grouping opts, expected \"\(\"",
            "by, without, on, ignoring, group_left and group_right take a list in "
            "parentheses: sum by (job) (x), x * on(job) group_left(team) y",
        ),
        (
            r"unexpected string .* in grouping opts",
            "write label names in by (...) without quotes (quoted names need Prometheus 3)",
        ),
        (
            r"unexpected <(by|without)>",
            "by and without follow an aggregation (sum, avg, count, max, ...) once: "
            "sum by (job) (x) or sum(x) by (job)",
        ),
        # --- label matchers -------------------------------------------------------------
        (
            r"unexpected [\"']=[\"'] in label matching, expected string",
            'a matcher has one =: x{job="api"}',
        ),
        (
            r"in label matching, expected string",
            'label values are quoted strings: x{job="api"}',
        ),
        (
            r"label matching operator",
            'each matcher is label, operator (=, !=, =~, !~) and a quoted value: x{job="api"}',
        ),
        (
            r"in label matching, expected identifier",
            'each matcher starts with a label name: x{job="api", code="200"}',
        ),
        (
            r"in label matching, expected \",\"",
            'separate matchers with commas: x{job="api", code="200"}',
        ),
        (
            r"error parsing regexp|illegal regex",
            "fix the regular expression (RE2 syntax, anchored at both ends); escape a "
            r'literal special character with a double backslash: x{path=~"/api\\..*"}',
        ),
        (
            r"at least one non-empty matcher",
            'name a metric, or add a matcher that cannot match the empty string: {job=~".+"}',
        ),
        (
            r"metric name must not be set twice",
            'give the metric name once: x{job="api"} or {__name__="x", job="api"}',
        ),
        (
            r"unexpected character inside braces",
            "label names start with a letter or _ and contain letters, digits and _",
        ),
        (r"unterminated quoted string", "close the string with the quote it opened with"),
        (
            r"(unknown|invalid) escape sequence",
            r"in quoted strings write a backslash as \\ (a regex digit is \\d), or use a "
            r"raw `backtick` string: x{path=~`/api\..*`}",
        ),
        # --- operators ------------------------------------------------------------------
        (
            r"set operator .* not allowed in binary scalar expression",
            "and, or and unless combine series; to compare with a number use a comparison: x > 1",
        ),
        (r"comparisons between scalars must use BOOL", "compare numbers with bool: 1 == bool 1"),
        (
            r"bool modifier can only be used on comparison",
            "bool goes after a comparison only (==, !=, >, <, >=, <=): x > bool 1",
        ),
        (r"unexpected <ignoring>", "use on(...) or ignoring(...), not both"),
        (
            r"unexpected <group_(left|right)>",
            "group_left/group_right follow on(...) or ignoring(...): "
            "x * on(job) group_left(team) y",
        ),
        (
            r"no grouping allowed for",
            "and, or and unless take on(...) or ignoring(...) but no group_left/group_right",
        ),
        (
            r"must not occur in ON and GROUP clause",
            "list the label in on(...) or in group_left(...), not in both",
        ),
        (
            r"binary expression must contain only scalar and instant vector",
            "arithmetic takes numbers and instant vectors: wrap a range in a function "
            "(rate(x[5m]) * 60), and strings cannot be used",
        ),
        (r"unexpected <op:\*>", "there is no ** operator: powers are written x ^ 2"),
        (r"unexpected <op:>>", "there is no <> operator: not equal is written !="),
        (r"unexpected \"=\"$", "compare with == (a single = only appears inside {...})"),
        (
            r"unexpected character after '!'",
            "! only starts != and !~; to negate a selector use absent(x) or x unless y",
        ),
        (
            r"unexpected end of input$",
            "the expression ends too early: an operator is missing its right-hand side",
        ),
        # --- subqueries -----------------------------------------------------------------
        (
            r"ranges only allowed for vector selectors",
            "[5m] goes on a selector (rate(x[5m])); for a range of an expression use a "
            "subquery with a step: max_over_time(sum(x)[1h:1m])",
        ),
        (r"unexpected colon|second colon|in subquery selector", _SUBQUERY),
        # --- leftovers ------------------------------------------------------------------
        (r"^unexpected (identifier|number|string) ", _LEFTOVER),
        (r"^unexpected \",\"$", "commas only separate arguments and matchers"),
        (r"unexpected character: ';'", "send a single expression: PromQL has no ;"),
        (
            r"error parsing number|can't be parsed into f64",
            "numbers are written 1, 0.5, 1e3, 0x1f",
        ),
    )
)
