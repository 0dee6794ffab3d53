"""Reading the promql-parser AST: the walks and facts that explaining, linting and the
PromQL tools share, all pure functions over the tree.

Metric types come from metadata when the caller has it (a mapping name -> type, as
/api/v1/metadata spells it), else from the name: `_total`, `_count` and `_sum` are counters,
`_bucket` histogram buckets. A type that rests on such a guess carries `inferred=True`.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import promql_parser as pp

from ..core import timespec

MAX_DEPTH = 64
"""Deeper expressions are checked by the parser only; no real query nests this far."""

_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


class Kind(enum.StrEnum):
    COUNTER = "counter"
    BUCKET = "histogram bucket"
    HISTOGRAM = "histogram"  # a series named like the family: a native histogram
    GAUGE = "gauge"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MetricType:
    kind: Kind
    inferred: bool = False  # from the name, not from metadata

    def __str__(self) -> str:
        return f"{self.kind} (by name)" if self.inferred else str(self.kind)


Path = tuple[tuple[pp.Expr, int], ...]
"""The ancestors of a node, root first, each with the index of the child taken."""


def _children(expr: pp.Expr) -> list[pp.Expr]:
    if isinstance(expr, pp.AggregateExpr):
        param = expr.param
        return [param, expr.expr] if isinstance(param, pp.Expr) else [expr.expr]
    if isinstance(expr, pp.BinaryExpr):
        return [expr.lhs, expr.rhs]
    if isinstance(expr, pp.Call):
        return [arg for arg in expr.args if isinstance(arg, pp.Expr)]
    if isinstance(expr, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        return [expr.expr]
    if isinstance(expr, pp.MatrixSelector):
        return [expr.vector_selector]
    return []


def walk(expr: pp.Expr, path: Path = ()) -> Iterator[tuple[pp.Expr, Path]]:
    yield expr, path
    for index, child in enumerate(_children(expr)):
        yield from walk(child, (*path, (expr, index)))


def depth(expr: pp.Expr) -> int:
    """Nesting depth, counted without recursion (the parser accepts thousands of parens)."""
    deepest, stack = 0, [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:
            stack.extend((child, level + 1) for child in _children(node))
    return deepest


def unparen(expr: pp.Expr) -> pp.Expr:
    while isinstance(expr, pp.ParenExpr):
        expr = expr.expr
    return expr


def seconds(delta: datetime.timedelta | None) -> float:
    return delta.total_seconds() if delta is not None else 0.0


def duration(delta: datetime.timedelta | None) -> str:
    total = seconds(delta)
    return ("-" if total < 0 else "") + timespec.format_duration(abs(total))


def metric_name(selector: pp.VectorSelector) -> str | None:
    if selector.name:
        return selector.name
    for matcher in selector.matchers.matchers:
        if matcher.name == "__name__" and matcher.op == pp.MatchOp.Equal:
            return matcher.value
    return None


def result_type(expr: pp.Expr) -> str:
    """`vector`, `matrix`, `scalar` or `string`, as the Prometheus API names them."""
    expr = unparen(expr)
    if isinstance(expr, pp.VectorSelector | pp.AggregateExpr):
        return "vector"
    if isinstance(expr, pp.MatrixSelector | pp.SubqueryExpr):
        return "matrix"
    if isinstance(expr, pp.StringLiteral):
        return "string"
    if isinstance(expr, pp.UnaryExpr):
        return result_type(expr.expr)
    if isinstance(expr, pp.BinaryExpr):
        sides = (result_type(expr.lhs), result_type(expr.rhs))
        return "vector" if "vector" in sides else "scalar"
    if isinstance(expr, pp.Call):
        returns = expr.func.return_type
        for name, value_type in (("vector", pp.ValueType.Vector), ("matrix", pp.ValueType.Matrix)):
            if returns == value_type:
                return name
        return "string" if returns == pp.ValueType.String else "scalar"
    return "scalar"


def selectors(expr: pp.Expr) -> list[str]:
    """The distinct vector selectors, as PromQL with their offset and @ (range dropped)."""
    found: dict[str, None] = {}
    for node, _ in walk(expr):
        if isinstance(node, pp.VectorSelector):
            found.setdefault(node.prettify(), None)
    return list(found)


def metadata_names(names: list[str]) -> list[str]:
    """Names whose metadata types `names`: each name, and the family of suffixed ones
    (metadata keys histograms and summaries by family, `foo`, not `foo_bucket`)."""
    wanted: dict[str, None] = {}
    for name in names:
        wanted.setdefault(name, None)
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                wanted.setdefault(name[: -len(suffix)], None)
    return list(wanted)


def metric_type(name: str, types: Mapping[str, str]) -> MetricType:
    """The type of the series called `name`, from metadata `types` or else from the name."""
    suffix = next((s for s in _SUFFIXES if name.endswith(s) and len(name) > len(s)), None)
    declared = types.get(name)
    if declared in ("gauge", "info", "stateset"):
        return MetricType(Kind.GAUGE)
    if declared == "counter":
        return MetricType(Kind.COUNTER)
    if declared == "histogram":
        if suffix is None:
            return MetricType(Kind.HISTOGRAM)
        return MetricType(Kind.BUCKET if suffix == "_bucket" else Kind.COUNTER)
    if declared == "summary":
        return MetricType(Kind.COUNTER if suffix in ("_count", "_sum") else Kind.GAUGE)
    if suffix is not None:
        family = types.get(name[: -len(suffix)])
        if family == "histogram" and suffix != "_total":
            return MetricType(Kind.BUCKET if suffix == "_bucket" else Kind.COUNTER)
        if family == "summary" and suffix in ("_count", "_sum"):
            return MetricType(Kind.COUNTER)
        if family == "counter" and suffix == "_total":
            return MetricType(Kind.COUNTER)
        return MetricType(Kind.BUCKET if suffix == "_bucket" else Kind.COUNTER, inferred=True)
    return MetricType(Kind.UNKNOWN)


def quote(value: str) -> str:
    """A PromQL string literal for any text (used for matchers we build ourselves)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
