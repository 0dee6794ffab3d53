"""An alerting rule's expression read as the conditions it checks: `lhs <op> threshold`.

`rate(errors[5m]) / rate(requests[5m]) > 0.05` is one condition: its left-hand side, the
comparison, and the threshold (the number literal, exactly as the parser read it, which is
the float Prometheus compares with), plus the operands of the left-hand side (`rate(errors
[5m])`, `rate(requests[5m])`) worth evaluating on their own. Conditions joined with `and`,
`or` or `unless` are read one by one; `4 < x` is read as `x > 4`; a threshold that is an
expression is kept as one, to be evaluated like the left-hand side; an expression without a
comparison (`absent(up)`) is a condition without a threshold.

Sub-expressions are evaluated by sending their text, which promql-parser prints without
escaping label values. A text is used only when it parses back into the same tree (same
node types, names, matchers, numbers and strings); otherwise it is None and the caller says
it could not be evaluated, rather than evaluating something else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import promql_parser as pp

from . import syntax

MAX_CONDITIONS = 6
MAX_PARTS = 4
_FLIPPED = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "==", "!=": "!="}
_COMPARISONS = frozenset(_FLIPPED)
_SET_OPERATORS = frozenset({"and", "or", "unless"})
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})


@dataclass(frozen=True, slots=True)
class Condition:
    expression: str | None
    """The left-hand side (the whole expression when there is no comparison); None when its
    text cannot be rebuilt exactly."""
    op: str | None = None
    """`>`, `>=`, `<`, `<=`, `==` or `!=`, with the left-hand side first."""
    threshold: float | None = None
    threshold_expression: str | None = None
    parts: tuple[str, ...] = ()
    """Operands of the left-hand side's arithmetic, for evaluating on their own."""


def conditions(expression: str) -> list[Condition]:
    """The conditions of a rule expression; empty when proms-mcp's parser cannot read it."""
    try:
        tree = pp.parse(expression)
    except ValueError:
        return []
    if syntax.depth(tree) > syntax.MAX_DEPTH:
        return []
    return [_condition(node) for node in _checks(tree)][:MAX_CONDITIONS]


def _checks(expr: pp.Expr) -> Iterator[pp.Expr]:
    """The comparisons a set operation joins, each once; the expression itself otherwise."""
    node = syntax.unparen(expr)
    if isinstance(node, pp.BinaryExpr) and str(node.op) in _SET_OPERATORS:
        yield from _checks(node.lhs)
        yield from _checks(node.rhs)
    else:
        yield node


def _condition(node: pp.Expr) -> Condition:
    if not (isinstance(node, pp.BinaryExpr) and str(node.op) in _COMPARISONS) or _is_bool(node):
        return Condition(text(node))
    op, lhs, rhs = str(node.op), node.lhs, node.rhs
    if _number(lhs) is not None and _number(rhs) is None:
        op, lhs, rhs = _FLIPPED[op], rhs, lhs
    threshold = _number(rhs)
    return Condition(
        expression=text(lhs),
        op=op,
        threshold=threshold,
        threshold_expression=text(rhs) if threshold is None else None,
        parts=_parts(lhs),
    )


def _is_bool(node: pp.BinaryExpr) -> bool:
    return node.modifier is not None and bool(node.modifier.return_bool)


def _number(expr: pp.Expr) -> float | None:
    node = syntax.unparen(expr)
    if isinstance(node, pp.NumberLiteral):
        return float(node.val)
    if isinstance(node, pp.UnaryExpr):  # -(5): the parser folds `-5` itself
        inner = _number(node.expr)
        return -inner if inner is not None else None
    return None


def _parts(lhs: pp.Expr) -> tuple[str, ...]:
    node = syntax.unparen(lhs)
    if not (isinstance(node, pp.BinaryExpr) and str(node.op) in _ARITHMETIC):
        return ()
    found = [text(side) for side in (node.lhs, node.rhs) if _number(side) is None]
    return tuple(part for part in found if part is not None)[:MAX_PARTS]


def text(expr: pp.Expr) -> str | None:
    """PromQL that means exactly `expr`, or None (see the module docstring)."""
    printed = _without_empty_braces(str(syntax.unparen(expr)))
    try:
        again = pp.parse(printed)
    except ValueError:
        return None
    return printed if _shape(again) == _shape(syntax.unparen(expr)) else None


def _shape(expr: pp.Expr) -> list[tuple[object, ...]]:
    """What must survive printing: node types, names, matchers, numbers and strings."""
    shape: list[tuple[object, ...]] = []
    for node, _ in syntax.walk(expr):
        facts: tuple[object, ...] = (type(node).__name__,)
        if isinstance(node, pp.VectorSelector):
            matchers = [(m.name, str(m.op), m.value) for m in node.matchers.matchers]
            facts += (node.name, tuple(matchers), str(node.offset), str(node.at))
        elif isinstance(node, pp.NumberLiteral):
            facts += (repr(float(node.val)),)
        elif isinstance(node, pp.StringLiteral):
            facts += (node.val,)
        elif isinstance(node, pp.BinaryExpr | pp.AggregateExpr):
            facts += (str(node.op),)
        elif isinstance(node, pp.Call):
            facts += (node.func.name,)
        shape.append(facts)
    return shape


def _without_empty_braces(printed: str) -> str:
    """`up{}` as `up`: the parser prints every selector with braces. Text in quotes is kept
    (a string there may hold `{}`); `text` checks the result still means the same."""
    out: list[str] = []
    quote: str | None = None
    index = 0
    while index < len(printed):
        char = printed[index]
        if quote is not None:
            if char == "\\" and quote != "`":
                out.append(printed[index : index + 2])
                index += 2
                continue
            quote = None if char == quote else quote
        elif char in "\"'`":
            quote = char
        elif (
            printed.startswith("{}", index)
            and out
            and (out[-1][-1:].isalnum() or out[-1][-1:] in "_:")
        ):
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)
