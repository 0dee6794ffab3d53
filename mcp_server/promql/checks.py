"""PromQL checked before a parser or a backend sees it: its size and complexity, and
proms-mcp's own parser's verdict (metric and label names are `tools.arguments`' to check).

PromQL is checked here for size and complexity only when a backend will parse it (its
parser is the one that decides, and it names the line and column): see `backends.parsing`.
promql-parser (the Rust parser Prometheus-compatible tools share) is the verdict where there
is no backend to ask; it names the problem but never its position.
"""

from __future__ import annotations

import re

import promql_parser

from ..core import errors
from . import syntax_errors

MAX_QUERY_LENGTH = 16_384
MAX_OPERATORS = 500
MAX_NESTING = 128
"""The parser's time grows with the square of a chain of operators (2000 `+` take 1.2 s)
and it holds the event loop while it runs; real queries stay far below both limits."""
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_OPERATORS = re.compile(r"[-+*/%^]|==|!=|<=|>=|[<>]|\b(?:and|or|unless|atan2)\b")


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
        raise syntax_errors.from_parser(problem, why_no_position=NO_BACKEND)
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
