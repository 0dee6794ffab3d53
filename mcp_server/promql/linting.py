"""PromQL linted without running it: `lint` finds queries that parse but answer the wrong
question: rate() of a gauge, a raw counter summed, histogram_quantile without `le`, a window
too short for the scrape interval, sides of `/` that cannot match.

Metric types come from metadata or else from the name (see promql_syntax.metric_type).
Findings that rest on such a guess (or on an assumed scrape interval) carry `inferred=True`,
so an agent knows how far to trust them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import promql_parser as pp

from ..core import timespec
from .syntax import (
    Kind,
    Path,
    duration,
    metric_name,
    metric_type,
    result_type,
    seconds,
    unparen,
    walk,
)

Severity = Literal["error", "warning", "info"]
_ORDER: dict[Severity, int] = {"error": 0, "warning": 1, "info": 2}

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


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    rule: str
    message: str
    inferred: bool = False


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
    for node, path in walk(expr):
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


def _consumer(path: Path) -> int | None:
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
    path: Path,
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
        arg = unparen(arg)
        if isinstance(arg, pp.MatrixSelector):
            window, interval, assumed = seconds(arg.range), context.interval, True
            assumed = context.interval_assumed
        elif isinstance(arg, pp.SubqueryExpr) and arg.step is not None:
            window, interval, assumed = seconds(arg.range), seconds(arg.step), False
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
        arg = unparen(arg)
        if not isinstance(arg, pp.SubqueryExpr):
            continue
        inner = unparen(arg.expr)
        if isinstance(inner, pp.AggregateExpr) and str(inner.op) != "count":
            names = [metric_name(n) for n, _ in walk(inner) if isinstance(n, pp.VectorSelector)]
            name = next((n for n in names if n), "x")
            grouped = f"{inner.op} {inner.modifier} " if inner.modifier else f"{inner.op}"
            message = (
                f"{function}() of {inner.op}(...) sees a reset of any one series as a drop of "
                f"the {inner.op}; aggregate the rate instead: use "
                f"{grouped}({function}({name}[{duration(arg.range)}]))"
            )
            _add(findings, "error", "rate_of_aggregation", message)
        elif isinstance(inner, pp.Call) and inner.func.name in _RATE_FAMILY:
            message = (
                f"{function}() of {inner.func.name}() treats a rate as a counter; for how fast a "
                f"rate changes use deriv(...), else drop the outer {function}()"
            )
            _add(findings, "warning", "rate_of_rate", message)


def _quantile(findings: dict[tuple[str, str], Finding], function: str, arg: pp.Expr) -> None:
    phi = unparen(arg)
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
    nodes = [node for node, _ in walk(call.args[1])]
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
    expr = unparen(expr)
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
