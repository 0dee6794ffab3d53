"""What investigate_alert answers: the alert, the rule behind it, its condition's values
around the time it started, its history, what silences or inhibits it (or almost does),
and the next queries worth running.

Every figure is the backend's: sample values exactly as Prometheus returned them, the
threshold as the rule's number literal (the float Prometheus compares with), times as
the backends wrote them or as sent to Prometheus (milliseconds). The two derived figures
are stated as such: `holds` is the comparison in float64, as Prometheus makes it, and
`margin` one float64 subtraction (value - threshold for > and >=, threshold - value for
< and <=), positive when the condition holds by that much.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from . import budget, models, suppression
from .history import History  # by name: a field is called `history`

READING_MOMENTS = ("before", "pending", "firing", "now")
"""Evaluation times: one rule interval before the condition first held, when it first held
(only when the rule has a `for`), when the alert started firing, and now."""


class Alert(models.Result):
    name: str
    state: str = Field(description="Alertmanager's (active, silenced, ...) or Prometheus's")
    labels: dict[str, str] | None = Field(None, description="labels except alertname")
    external_labels: dict[str, str] | None = Field(
        None, description="labels Alertmanager has that Prometheus's alert lacks"
    )
    annotations: dict[str, str] | None = None
    starts_at: str | None = Field(None, description="when it started firing (Alertmanager)")
    active_at: str | None = Field(None, description="when its condition first held")
    value: models.Number | None = Field(None, description="at the last evaluation")
    receivers: list[str] | None = None
    fingerprint: str | None = None


class Rule(models.Result):
    group: str
    name: str
    expression: str
    for_duration: str | None = None
    interval_seconds: float | None = Field(None, description="its group's evaluation interval")
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = Field(None, description="templates, when not as above")
    health: str | None = None
    last_error: str | None = None


class Reading(models.Result):
    at: str = Field(description="before, pending, firing or now")
    time: str
    value: models.Number | None = None
    threshold: models.Number | None = Field(None, description="when it is an expression")
    holds: bool | None = None
    margin: models.Number | None = None
    note: str | None = None


class Part(models.Result):
    expression: str
    readings: list[Reading]


class Condition(models.Result):
    expression: str | None = Field(None, description="the left-hand side, evaluated below")
    comparison: str | None = None
    threshold: models.Number | None = None
    threshold_expression: str | None = None
    readings: list[Reading] | None = None
    parts: list[Part] | None = Field(None, description="its operands, evaluated alone")
    note: str | None = None


class NextQuery(models.Result):
    tool: str
    arguments: dict[str, Any]
    why: str


class Other(models.Result):
    state: str
    labels: dict[str, str] | None = None
    fingerprint: str | None = None


class Investigation(models.Result):
    alert: Alert
    alertmanager: str | None = Field(None, description="datasource id read for silences")
    prometheus: str | None = Field(None, description="datasource id read for the rule")
    rule: Rule | None = None
    conditions: list[Condition] | None = None
    history: History | None = None
    silences: suppression.Silences | None = None
    inhibitions: suppression.Inhibitions | None = None
    next: list[NextQuery] | None = None
    others: list[Other] | None = Field(None, description="other alerts the reference matched")
    notes: list[str] | None = None
    cut: dict[str, Any] | None = Field(None, description="parts left out to fit the budget")


def compare(op: str, value: float, threshold: float) -> tuple[bool, models.Number | None]:
    """(whether `value op threshold` holds, the margin) in float64, as Prometheus compares."""
    holds = {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
        "==": value == threshold,
        "!=": value != threshold,
    }[op]
    if op in ("==", "!=") or not (math.isfinite(value) and math.isfinite(threshold)):
        return holds, None
    margin = value - threshold if op in (">", ">=") else threshold - value
    return holds, models.number(margin)


CUTS: tuple[tuple[str, ...], ...] = (
    ("others",),
    ("next",),
    ("conditions", "parts"),
    ("alert", "annotations"),
    ("rule", "annotations"),
    ("history", "gaps"),
    ("inhibitions",),
    ("silences",),
    ("conditions",),
    ("history",),
    ("rule",),
    ("notes",),
    ("alert", "external_labels"),
    ("alert", "receivers"),
    ("alertmanager",),
    ("prometheus",),
)
"""What goes, in this order, when an investigation does not fit its budget: the least
decisive first; the alert's name, state, labels, times and fingerprint always stay."""


def fitted(answer: Investigation, limit: int) -> budget.Encoded:
    """The answer within `limit` tokens, cutting whole parts in `CUTS` order and naming
    them in `cut` (the generic budget cut is the last resort, for a huge alert alone)."""
    data = answer.model_dump(mode="json", exclude_none=True)
    encoded = budget.Encoded.of(data)
    cut: list[str] = []
    for path in CUTS:
        if encoded.tokens <= limit:
            break
        if _drop(data, path):
            cut.append(".".join(path))
            data["cut"] = {"parts": cut, "hint": _HINT}
            encoded = budget.Encoded.of(data)
    return encoded


_HINT = "raise max_tokens to see these"


def _drop(data: dict[str, Any], path: tuple[str, ...]) -> bool:
    """Remove `path` (a key, or a key of every item of a list); whether anything went."""
    head, *rest = path
    if head not in data:
        return False
    if not rest:
        del data[head]
        return True
    inner = data[head]
    items = inner if isinstance(inner, list) else [inner]
    dropped = [_drop(item, tuple(rest)) for item in items if isinstance(item, dict)]
    return any(dropped)
