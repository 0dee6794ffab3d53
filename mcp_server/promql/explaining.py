"""PromQL explained without running it: `explain` turns an expression into a few steps,
bottom-up, with its result type, the metrics it reads and the windows it uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import promql_parser as pp

from .syntax import duration, metric_name, result_type, unparen, walk

MAX_STEPS = 40
"""An explanation longer than this ends with a count of the steps left out."""

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


@dataclass(frozen=True, slots=True)
class Explanation:
    steps: tuple[str, ...]
    result_type: str  # instant vector, range vector, scalar or string
    metrics: tuple[str, ...]
    windows: tuple[str, ...]


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
        expr = unparen(expr)
        if isinstance(expr, pp.NumberLiteral | pp.StringLiteral):
            return str(expr)
        if isinstance(expr, pp.VectorSelector):
            return self.add(f"select {expr.prettify()}")
        if isinstance(expr, pp.MatrixSelector):
            return self.add(f"select raw samples {expr.prettify()}")
        if isinstance(expr, pp.SubqueryExpr):
            ref = self.visit(expr.expr)
            text = f"subquery{self.of(ref)} over {duration(expr.range)}"
            text += f" every {duration(expr.step)}" if expr.step is not None else ""
            if expr.offset is not None:
                text += f" offset {duration(expr.offset)}"
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
            arg = unparen(arg)
            if isinstance(arg, pp.MatrixSelector):
                refs.append(self.add(f"select {arg.vector_selector.prettify()}"))
                window = duration(arg.range)
            else:
                refs.append(self.visit(arg))
                if isinstance(arg, pp.SubqueryExpr):
                    window = duration(arg.range)
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
    for node, _ in walk(expr):
        if isinstance(node, pp.VectorSelector):
            name = metric_name(node)
            if name is not None:
                metrics.setdefault(name, None)
        elif isinstance(node, pp.MatrixSelector | pp.SubqueryExpr):
            windows.setdefault(duration(node.range), None)
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
