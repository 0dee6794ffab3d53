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

from pydantic import BaseModel, ConfigDict, Field

from . import models, suppression
from .history import History  # by name: a field is called `history`

READING_MOMENTS = ("before", "pending", "firing", "now")
"""Evaluation times: one rule interval before the condition first held, when it first held
(only when the rule has a `for`), when the alert started firing, and now."""


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Alert(_Result):
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


class Rule(_Result):
    group: str
    name: str
    expression: str
    for_duration: str | None = None
    interval_seconds: float | None = Field(None, description="its group's evaluation interval")
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = Field(None, description="templates, when not as above")
    health: str | None = None
    last_error: str | None = None


class Reading(_Result):
    at: str = Field(description="before, pending, firing or now")
    time: str
    value: models.Number | None = None
    threshold: models.Number | None = Field(None, description="when it is an expression")
    holds: bool | None = None
    margin: models.Number | None = None
    note: str | None = None


class Part(_Result):
    expression: str
    readings: list[Reading]


class Condition(_Result):
    expression: str | None = Field(None, description="the left-hand side, evaluated below")
    comparison: str | None = None
    threshold: models.Number | None = None
    threshold_expression: str | None = None
    readings: list[Reading] | None = None
    parts: list[Part] | None = Field(None, description="its operands, evaluated alone")
    note: str | None = None


class NextQuery(_Result):
    tool: str
    arguments: dict[str, Any]
    why: str


class Other(_Result):
    state: str
    labels: dict[str, str] | None = None
    fingerprint: str | None = None


class Investigation(_Result):
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
