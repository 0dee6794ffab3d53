"""PromQL explained and linted without running it: pure functions over the promql-parser AST.

`explain` turns an expression into a few steps, bottom-up; `lint` finds queries that parse
but answer the wrong question: rate() of a gauge, a raw counter summed, histogram_quantile
without `le`, a window too short for the scrape interval, sides of `/` that cannot match.

Metric types come from metadata when the caller has it (a mapping name -> type, as
/api/v1/metadata spells it), else from the name: `_total`, `_count` and `_sum` are counters,
`_bucket` histogram buckets. Findings that rest on such a guess (or on an assumed scrape
interval) carry `inferred=True`, so an agent knows how far to trust them.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import promql_parser as pp

from . import timespec

Severity = Literal["error", "warning", "info"]
_ORDER: dict[Severity, int] = {"error": 0, "warning": 1, "info": 2}

MAX_DEPTH = 64
"""Deeper expressions are checked by the parser only; no real query nests this far."""
MAX_STEPS = 40
"""An explanation longer than this ends with a count of the steps left out."""

_SUFFIXES = ("_bucket", "_count", "_sum", "_total")
_RATE_FAMILY = frozenset({"rate", "irate", "increase", "resets"})
_GAUGE_FUNCTIONS = frozenset(
    {"delta", "idelta", "deriv", "predict_linear", "holt_winters", "double_exponential_smoothing"}
)
_FOUR_SAMPLES = frozenset({"rate", "increase", "delta", "deriv", "predict_linear"})
"""Functions that want 4 samples in their window (irate and idelta need only the last 2)."""
_TWO_SAMPLES = _FOUR_SAMPLES | {"irate", "idelta"}
_VALUE_AGGREGATIONS = frozenset(
    {"sum", "avg", "min", "max", "stddev", "stdvar", "quantile", "topk", "bottomk"}
)
_LABEL_KEEPING_AGGREGATIONS = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})
_PASS_THROUGH = frozenset(
    {"label_replace", "label_join", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc"}
)
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
_COMPARISON = frozenset({"==", "!=", ">", "<", ">=", "<="})
_WINDOW_PHRASES = {
    "rate": "per-second rate over {w}",
    "irate": "per-second rate of the last 2 samples within {w}",
    "increase": "increase over {w}",
    "delta": "change over {w}",
    "idelta": "change between the last 2 samples within {w}",
    "deriv": "per-second slope over {w}",
    "predict_linear": "value predicted {a}s ahead from {w}",
    "resets": "counter resets within {w}",
    "changes": "value changes within {w}",
    "quantile_over_time": "{a} quantile over {w}",
    "absent_over_time": "1 if no samples within {w}, else nothing",
    "present_over_time": "1 where samples exist within {w}",
}
_RESULT_TYPES = {
    "vector": "instant vector",
    "matrix": "range vector",
    "scalar": "scalar",
    "string": "string",
}


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


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    rule: str
    message: str
    inferred: bool = False


@dataclass(frozen=True, slots=True)
class Explanation:
    steps: tuple[str, ...]
    result_type: str  # instant vector, range vector, scalar or string
    metrics: tuple[str, ...]
    windows: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Reading the tree
# --------------------------------------------------------------------------------------------

_Path = tuple[tuple[pp.Expr, int], ...]
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


def _walk(expr: pp.Expr, path: _Path = ()) -> Iterator[tuple[pp.Expr, _Path]]:
    yield expr, path
    for index, child in enumerate(_children(expr)):
        yield from _walk(child, (*path, (expr, index)))


def depth(expr: pp.Expr) -> int:
    """Nesting depth, counted without recursion (the parser accepts thousands of parens)."""
    deepest, stack = 0, [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:
            stack.extend((child, level + 1) for child in _children(node))
    return deepest


def _unparen(expr: pp.Expr) -> pp.Expr:
    while isinstance(expr, pp.ParenExpr):
        expr = expr.expr
    return expr


def _seconds(delta: datetime.timedelta | None) -> float:
    return delta.total_seconds() if delta is not None else 0.0


def _duration(delta: datetime.timedelta | None) -> str:
    seconds = _seconds(delta)
    return ("-" if seconds < 0 else "") + timespec.format_duration(abs(seconds))


def metric_name(selector: pp.VectorSelector) -> str | None:
    if selector.name:
        return selector.name
    for matcher in selector.matchers.matchers:
        if matcher.name == "__name__" and matcher.op == pp.MatchOp.Equal:
            return matcher.value
    return None


def result_type(expr: pp.Expr) -> str:
    """`vector`, `matrix`, `scalar` or `string`, as the Prometheus API names them."""
    expr = _unparen(expr)
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
    for node, _ in _walk(expr):
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


def syntax_hint(message: str) -> str | None:
    """A fix for the parser errors agents hit most, or None."""
    if "expected type matrix" in message:
        return (
            "this function needs a range vector: add a window (rate(x[5m])); to rate an "
            "aggregation, aggregate the rate instead: sum(rate(x[5m]))"
        )
    if "expected type vector" in message and "got matrix" in message:
        return "a range vector x[5m] must go into a function such as rate() or avg_over_time()"
    return None


# --------------------------------------------------------------------------------------------
# Explaining
# --------------------------------------------------------------------------------------------


class _Explainer:
    def __init__(self) -> None:
        self.steps: list[str] = []

    def add(self, text: str) -> str:
        self.steps.append(text)
        return f"#{len(self.steps)}"

    def of(self, ref: str) -> str:
        """Nothing when `ref` is the step just made (steps work on the one before)."""
        return "" if ref == f"#{len(self.steps)}" else f" of {ref}"

    def visit(self, expr: pp.Expr) -> str:
        """Add the steps computing `expr`; return how a parent refers to it (#n or a literal)."""
        expr = _unparen(expr)
        if isinstance(expr, pp.NumberLiteral | pp.StringLiteral):
            return str(expr)
        if isinstance(expr, pp.VectorSelector):
            return self.add(f"select {expr.prettify()}")
        if isinstance(expr, pp.MatrixSelector):
            return self.add(f"select raw samples {expr.prettify()}")
        if isinstance(expr, pp.SubqueryExpr):
            ref = self.visit(expr.expr)
            text = f"subquery{self.of(ref)} over {_duration(expr.range)}"
            text += f" every {_duration(expr.step)}" if expr.step is not None else ""
            if expr.offset is not None:
                text += f" offset {_duration(expr.offset)}"
            if expr.at is not None:
                text += f" {expr.at}"
            return self.add(text)
        if isinstance(expr, pp.UnaryExpr):
            ref = self.visit(expr.expr)
            return self.add(f"negate{self.of(ref)}")
        if isinstance(expr, pp.AggregateExpr):
            return self._aggregate(expr)
        if isinstance(expr, pp.BinaryExpr):
            return self._binary(expr)
        if isinstance(expr, pp.Call):
            return self._call(expr)
        return self.add(str(expr))  # pragma: no cover - every node type is handled above

    def _aggregate(self, expr: pp.AggregateExpr) -> str:
        text = str(expr.op)
        if isinstance(expr.param, pp.Expr):
            text += f"({self.visit(expr.param)})"
        ref = self.visit(expr.expr)
        modifier = expr.modifier
        if modifier is not None:
            how = "by" if modifier.type == pp.AggModifierType.By else "without"
            text += f" {how} ({', '.join(modifier.labels)})"
        return self.add(text + self.of(ref))

    def _binary(self, expr: pp.BinaryExpr) -> str:
        lhs, rhs = self.visit(expr.lhs), self.visit(expr.rhs)
        op = str(expr.op)
        modifier = expr.modifier
        text = op
        if modifier is not None:
            if modifier.return_bool:
                text += " bool"
            if modifier.matching is not None:
                how = "on" if modifier.matching.type == pp.LabelModifierType.Include else "ignoring"
                text += f" {how} ({', '.join(modifier.matching.labels)})"
            side = None
            if modifier.card == pp.VectorMatchCardinality.ManyToOne:
                side = "group_left"
            elif modifier.card == pp.VectorMatchCardinality.OneToMany:
                side = "group_right"
            if side is not None:
                text += f" {side}" + (
                    f" ({', '.join(modifier.group_labels)})" if modifier.group_labels else ""
                )
        prefix = ""
        if op in _COMPARISON and not (modifier is not None and modifier.return_bool):
            prefix = "keep where "
        return self.add(f"{prefix}{lhs} {text} {rhs}")

    def _call(self, expr: pp.Call) -> str:
        name = expr.func.name
        refs: list[str] = []
        window: str | None = None
        literal: str | None = None
        for arg in expr.args:
            arg = _unparen(arg)
            if isinstance(arg, pp.MatrixSelector):
                refs.append(self.add(f"select {arg.vector_selector.prettify()}"))
                window = _duration(arg.range)
            else:
                refs.append(self.visit(arg))
                if isinstance(arg, pp.SubqueryExpr):
                    window = _duration(arg.range)
                elif isinstance(arg, pp.NumberLiteral) and literal is None:
                    literal = str(arg)
        inputs = [ref for ref in refs if ref.startswith("#")]
        source = self.of(inputs[-1]) if len(inputs) == 1 else ""
        if window is not None and len(inputs) == 1:
            phrase = _WINDOW_PHRASES.get(name)
            if phrase is None:
                kind = name.removesuffix("_over_time")
                phrase = f"{kind} over {{w}}" if kind != name else f"{name} over {{w}}"
            return self.add(phrase.format(w=window, a=literal) + source)
        if name == "histogram_quantile" and len(inputs) == 1 and literal is not None:
            return self.add(f"{literal} quantile from the le buckets{source}")
        return self.add(f"{name}({', '.join(refs)})")


def explain(expr: pp.Expr) -> Explanation:
    metrics: dict[str, None] = {}
    windows: dict[str, None] = {}
    for node, _ in _walk(expr):
        if isinstance(node, pp.VectorSelector):
            name = metric_name(node)
            if name is not None:
                metrics.setdefault(name, None)
        elif isinstance(node, pp.MatrixSelector | pp.SubqueryExpr):
            windows.setdefault(_duration(node.range), None)
    explainer = _Explainer()
    ref = explainer.visit(expr)
    if not explainer.steps:
        explainer.add(f"constant {ref}")
    steps = explainer.steps
    if len(steps) > MAX_STEPS:
        steps = [*steps[: MAX_STEPS - 1], f"... {len(steps) - MAX_STEPS + 1} more steps"]
    return Explanation(
        steps=tuple(steps),
        result_type=_RESULT_TYPES[result_type(expr)],
        metrics=tuple(metrics),
        windows=tuple(windows),
    )


# --------------------------------------------------------------------------------------------
# Linting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    types: Mapping[str, str]
    interval: float
    interval_assumed: bool

    @property
    def window(self) -> str:
        """The window to suggest: 5m, or 4 scrape intervals where that is longer."""
        return timespec.format_duration(max(300.0, 4 * self.interval))


def lint(
    expr: pp.Expr,
    *,
    types: Mapping[str, str],
    scrape_interval: float,
    interval_assumed: bool = False,
) -> list[Finding]:
    """Findings for `expr`, errors first; an empty list means nothing looked wrong."""
    context = _Context(types, scrape_interval, interval_assumed)
    findings: dict[tuple[str, str], Finding] = {}
    if result_type(expr) == "matrix":
        _add(
            findings,
            "info",
            "range_vector_result",
            "the result is a range vector (raw samples), which query_range refuses; use a "
            "function such as rate(...) or avg_over_time(...) around it",
        )
    for node, path in _walk(expr):
        if isinstance(node, pp.VectorSelector):
            _selector(findings, node, path, context)
        elif isinstance(node, pp.Call):
            _window(findings, node, context)
            _nested_rate(findings, node)
            if node.func.name == "histogram_quantile":
                _histogram_quantile(findings, node, context)
            if node.func.name in ("histogram_quantile", "quantile_over_time") and node.args:
                _quantile(findings, node.func.name, node.args[0])
        elif isinstance(node, pp.AggregateExpr) and str(node.op) == "quantile":
            if isinstance(node.param, pp.Expr):
                _quantile(findings, "quantile", node.param)
        elif isinstance(node, pp.BinaryExpr):
            _label_mismatch(findings, node)
    return sorted(findings.values(), key=lambda f: _ORDER[f.severity])


def _add(
    findings: dict[tuple[str, str], Finding],
    severity: Severity,
    rule: str,
    message: str,
    *,
    inferred: bool = False,
) -> None:
    findings.setdefault((rule, message), Finding(severity, rule, message, inferred))


def _consumer(path: _Path) -> int | None:
    """Where in `path` the nearest ancestor is that does something with the values of the
    node below, skipping parentheses, ranges, subqueries and functions passing values on."""
    for position in range(len(path) - 1, -1, -1):
        parent, index = path[position]
        if isinstance(parent, pp.ParenExpr | pp.MatrixSelector | pp.SubqueryExpr | pp.UnaryExpr):
            continue
        if isinstance(parent, pp.Call) and parent.func.name in _PASS_THROUGH:
            continue
        if isinstance(parent, pp.BinaryExpr) and str(parent.op) in ("and", "or", "unless"):
            if str(parent.op) == "or" or index == 0:
                continue  # values flow through; the right side of and/unless only filters
            return None
        return position
    return None


def _selector(
    findings: dict[tuple[str, str], Finding],
    selector: pp.VectorSelector,
    path: _Path,
    context: _Context,
) -> None:
    name = metric_name(selector)
    position = _consumer(path)
    if name is None or position is None:
        return
    mtype = metric_type(name, context.types)
    counter = mtype.kind in (Kind.COUNTER, Kind.BUCKET)
    parent = path[position][0]
    w = context.window
    if isinstance(parent, pp.Call):
        function = parent.func.name
        if function in _RATE_FAMILY and mtype.kind is Kind.GAUGE:
            fix = (
                f"changes({name}[{w}])"
                if function == "resets"
                else f"deriv({name}[{w}]) for the per-second slope, delta({name}[{w}]) for "
                f"the change, or avg_over_time({name}[{w}])"
            )
            message = f"{function}() of gauge {name} reads every drop as a counter reset; use {fix}"
            _add(findings, "warning", "rate_on_gauge", message)
        elif function in _GAUGE_FUNCTIONS and counter:
            message = (
                f"{function}() of counter {name} misreads its resets as drops; use "
                f"rate({name}[{w}]) or increase({name}[{w}])"
            )
            _add(findings, "warning", "gauge_function_on_counter", message, inferred=mtype.inferred)
        elif function == "histogram_quantile" and counter:
            message = (
                f"histogram_quantile() of raw {name} gives the quantile since each process "
                f"started; use histogram_quantile(φ, sum by (le) (rate({name}[{w}])))"
            )
            _add(findings, "warning", "raw_counter", message, inferred=mtype.inferred)
        return
    if not counter:
        return
    if isinstance(parent, pp.AggregateExpr) and str(parent.op) in _VALUE_AGGREGATIONS:
        above = _consumer(path[:position])
        outer = path[above][0] if above is not None else None
        if isinstance(outer, pp.Call) and outer.func.name in _RATE_FAMILY:
            return  # rate(sum(x)[5m:]): rate_of_aggregation says it
        used, fix = f"{parent.op}()", f"{parent.op}(rate({name}[{w}]))"
    elif isinstance(parent, pp.BinaryExpr) and str(parent.op) in _ARITHMETIC:
        used, fix = f"arithmetic ({parent.op})", f"rate({name}[{w}]) or increase({name}[{w}])"
    else:
        return
    message = (
        f"{name} is a counter: its raw value only grows since the process started, so "
        f"{used} of it mixes uptimes and breaks on resets; use {fix}"
    )
    _add(findings, "warning", "raw_counter", message, inferred=mtype.inferred)


def _window(findings: dict[tuple[str, str], Finding], call: pp.Call, context: _Context) -> None:
    function = call.func.name
    if function not in _TWO_SAMPLES:
        return
    for arg in call.args:
        arg = _unparen(arg)
        if isinstance(arg, pp.MatrixSelector):
            window, interval, assumed = _seconds(arg.range), context.interval, True
            assumed = context.interval_assumed
        elif isinstance(arg, pp.SubqueryExpr) and arg.step is not None:
            window, interval, assumed = _seconds(arg.range), _seconds(arg.step), False
        else:
            continue
        samples = window / interval
        shown = timespec.format_duration(window)
        every = timespec.format_duration(interval)
        suggest = timespec.format_duration(4 * interval)
        if samples < 2:
            message = (
                f"{function}() over {shown} holds fewer than 2 samples at one every {every} "
                f"and returns nothing; use [{suggest}] or longer (4 samples)"
            )
            _add(findings, "error", "window_too_short", message, inferred=assumed)
        elif samples < 4 and function in _FOUR_SAMPLES:
            message = (
                f"{function}() over {shown} holds under 4 samples at one every {every}: one "
                f"missed scrape empties it; use [{suggest}] or longer"
            )
            _add(findings, "warning", "window_short", message, inferred=assumed)


def _nested_rate(findings: dict[tuple[str, str], Finding], call: pp.Call) -> None:
    function = call.func.name
    if function not in _RATE_FAMILY:
        return
    for arg in call.args:
        arg = _unparen(arg)
        if not isinstance(arg, pp.SubqueryExpr):
            continue
        inner = _unparen(arg.expr)
        if isinstance(inner, pp.AggregateExpr) and str(inner.op) != "count":
            names = [metric_name(n) for n, _ in _walk(inner) if isinstance(n, pp.VectorSelector)]
            name = next((n for n in names if n), "x")
            grouped = f"{inner.op} {inner.modifier} " if inner.modifier else f"{inner.op}"
            message = (
                f"{function}() of {inner.op}(...) sees a reset of any one series as a drop of "
                f"the {inner.op}; aggregate the rate instead: use "
                f"{grouped}({function}({name}[{_duration(arg.range)}]))"
            )
            _add(findings, "error", "rate_of_aggregation", message)
        elif isinstance(inner, pp.Call) and inner.func.name in _RATE_FAMILY:
            message = (
                f"{function}() of {inner.func.name}() treats a rate as a counter; for how fast a "
                f"rate changes use deriv(...), else drop the outer {function}()"
            )
            _add(findings, "warning", "rate_of_rate", message)


def _quantile(findings: dict[tuple[str, str], Finding], function: str, arg: pp.Expr) -> None:
    phi = _unparen(arg)
    if isinstance(phi, pp.NumberLiteral) and not 0 <= phi.val <= 1:
        message = (
            f"{function}() quantile {phi} is outside 0..1 and gives ±Inf; use 0.99 for p99, "
            "0.5 for the median"
        )
        _add(findings, "error", "quantile_out_of_range", message)


def _drops_le(aggregation: pp.AggregateExpr) -> str | None:
    """The grouping that keeps `le`, when `aggregation` drops it."""
    op = str(aggregation.op)
    if op in _LABEL_KEEPING_AGGREGATIONS:
        return None
    modifier = aggregation.modifier
    if modifier is None:
        return f"{op} by (le)"
    if modifier.type == pp.AggModifierType.By:
        return (
            None if "le" in modifier.labels else f"{op} by ({', '.join([*modifier.labels, 'le'])})"
        )
    if "le" not in modifier.labels:
        return None
    kept = [label for label in modifier.labels if label != "le"]
    return f"{op} without ({', '.join(kept)})" if kept else op + " by (le)"


def _histogram_quantile(
    findings: dict[tuple[str, str], Finding], call: pp.Call, context: _Context
) -> None:
    if len(call.args) != 2:
        return
    nodes = [node for node, _ in _walk(call.args[1])]
    typed = [
        (name, metric_type(name, context.types))
        for node in nodes
        if isinstance(node, pp.VectorSelector) and (name := metric_name(node)) is not None
    ]
    buckets = [t for _, t in typed if t.kind is Kind.BUCKET]
    if buckets:
        for node in nodes:
            if isinstance(node, pp.AggregateExpr) and (fix := _drops_le(node)) is not None:
                shown = str(node.op) + (f" {node.modifier}" if node.modifier is not None else "")
                message = (
                    f"{shown.strip()} drops the le label, so histogram_quantile() has no "
                    f"buckets and returns nothing; use {fix}"
                )
                inferred = all(t.inferred for t in buckets)
                _add(findings, "error", "quantile_drops_le", message, inferred=inferred)
        return
    if typed and not any(t.kind is Kind.HISTOGRAM for _, t in typed):
        names = ", ".join(dict.fromkeys(name for name, _ in typed))
        message = (
            f"histogram_quantile() needs histogram buckets (a _bucket metric with an le label, "
            f"or a native histogram) but gets {names}; use histogram_quantile(0.9, sum by (le) "
            f"(rate(<name>_bucket[{context.window}])))"
        )
        inferred = all(t.kind is Kind.UNKNOWN or t.inferred for _, t in typed)
        _add(findings, "warning", "quantile_not_buckets", message, inferred=inferred)


def _known_labels(expr: pp.Expr) -> frozenset[str] | None:
    """The exact label names of every series `expr` returns, where the tree tells."""
    expr = _unparen(expr)
    if isinstance(expr, pp.Call) and expr.func.name == "vector":
        return frozenset()
    if not isinstance(expr, pp.AggregateExpr) or str(expr.op) in _LABEL_KEEPING_AGGREGATIONS:
        return None
    modifier = expr.modifier
    if modifier is not None and modifier.type != pp.AggModifierType.By:
        return None
    labels = frozenset(modifier.labels if modifier is not None else ())
    if str(expr.op) == "count_values" and isinstance(expr.param, pp.StringLiteral):
        labels |= {expr.param.val}
    return labels


def _label_mismatch(findings: dict[tuple[str, str], Finding], binary: pp.BinaryExpr) -> None:
    op = str(binary.op)
    if op == "or" or (binary.modifier is not None and binary.modifier.matching is not None):
        return
    left, right = _known_labels(binary.lhs), _known_labels(binary.rhs)
    if left is None or right is None or left == right:
        return
    show = ", ".join
    message = (
        f"the sides of {op} carry labels ({show(sorted(left))}) and ({show(sorted(right))}); "
        f"{op} pairs series with identical labels, so nothing matches: use the same by (...) "
        f"on both sides, or on({show(sorted(left & right))}) with group_left (or group_right) "
        "towards the side with more labels"
    )
    _add(findings, "warning", "labels_cannot_match", message)
