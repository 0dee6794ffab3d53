"""Checks on what agents send before it reaches a backend: PromQL, metric and label names.

PromQL is checked here for size and complexity only when a backend will parse it (its
parser is the one that decides, and it names the line and column): see `promql_parse`.
promql-parser (the Rust parser Prometheus-compatible tools share) is the verdict where there
is no backend to ask; it names the problem but never its position.
"""

from __future__ import annotations

import re

import promql_parser

from . import errors, promql_errors

MAX_QUERY_LENGTH = 16_384
MAX_OPERATORS = 500
MAX_NESTING = 128
"""The parser's time grows with the square of a chain of operators (2000 `+` take 1.2 s)
and it holds the event loop while it runs; real queries stay far below both limits."""
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_OPERATORS = re.compile(r"[-+*/%^]|==|!=|<=|>=|[<>]|\b(?:and|or|unless|atan2)\b")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


NO_BACKEND = "pass datasource_id to have its Prometheus name the line and column"


def check_limits(query: str) -> str:
    """Return the query stripped, or raise InvalidQuery when it is empty, too long or too
    complex to parse safely; whether it parses is the backend's to say."""
    text = query.strip()
    if not text:
        raise errors.InvalidQuery("promql is empty; pass a PromQL expression such as up")
    if len(query) > MAX_QUERY_LENGTH:
        raise errors.InvalidQuery(
            f"promql is {len(query)} characters long; the limit is {MAX_QUERY_LENGTH}"
        )
    _check_complexity(text)
    return text


def check_query(query: str) -> str:
    """Return the query stripped, or raise InvalidQuery with proms-mcp's parser's message:
    the check where there is no backend to parse it."""
    text = check_limits(query)
    problem = parse_problem(text)
    if problem is not None:
        raise promql_errors.from_parser(problem, why_no_position=NO_BACKEND)
    return text


def parse_problem(query: str) -> str | None:
    """What proms-mcp's parser finds wrong with `query` (already within the limits)."""
    try:
        promql_parser.parse(query)
    except ValueError as exc:
        return str(exc)
    return None


def _check_complexity(text: str) -> None:
    code = _STRINGS.sub('""', text)
    operators = len(_OPERATORS.findall(code))
    if operators > MAX_OPERATORS:
        raise errors.InvalidQuery(
            f"promql has {operators} operators; the limit is {MAX_OPERATORS}: aggregate with "
            "sum by (...) or a regex matcher instead of chaining series"
        )
    depth = deepest = 0
    for char in code:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_NESTING:
        raise errors.InvalidQuery(f"promql nests {deepest} levels deep; the limit is {MAX_NESTING}")


def check_metric_name(name: str, *, argument: str = "metric_name") -> str:
    text = name.strip()
    if not text:
        raise errors.InvalidArgument(f"{argument} is empty; pass a metric name such as up")
    if not _METRIC_NAME.match(text):
        raise errors.InvalidArgument(
            f"{argument}={name!r} is not a metric name (letters, digits, _ and :, not "
            "starting with a digit); for patterns use find_metrics_by_pattern"
        )
    return text


def check_label_name(name: str, *, argument: str = "label_name") -> str:
    text = name.strip()
    if not text:
        raise errors.InvalidArgument(f"{argument} is empty; pass a label name such as job")
    if not _LABEL_NAME.match(text):
        raise errors.InvalidArgument(
            f"{argument}={name!r} is not a label name (letters, digits and _, not starting "
            "with a digit)"
        )
    return text


def check_regex(pattern: str, *, argument: str = "pattern") -> str:
    """RE2 syntax is checked by Prometheus itself; here only what would break the matcher."""
    text = pattern.strip()
    if not text:
        raise errors.InvalidArgument(f"{argument} is empty; pass a regular expression")
    if len(text) > 1024:
        raise errors.InvalidArgument(f"{argument} is longer than 1024 characters")
    return text


def quote(value: str) -> str:
    """A PromQL string literal for any text (used for matchers we build ourselves)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
