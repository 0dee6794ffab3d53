"""What investigate_alert reads from the backends once it knows the alert: its condition
evaluated at a few moments, its ALERTS history, and the silences and inhibitions around it.

Each piece is best effort: a backend that refuses one query costs that piece a note, never
the investigation. Queries are PromQL we build (the rule's own sub-expressions and an
ALERTS selector), sent at times on Prometheus's millisecond grid.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..backends import alertmanager, prometheus
from ..core import errors, hygiene, raw, timespec
from ..promql import conditions, syntax
from ..results import converting, history, investigation, models, suppression
from ..sources import datasources

MAX_HISTORY_POINTS = 10_000


@dataclass(frozen=True, slots=True)
class Backend:
    datasource: datasources.Datasource
    client: prometheus.PrometheusClient


@dataclass(frozen=True, slots=True)
class Series:
    """Which series of a result is the alert's: their labels are the alert's (but for the
    rule's own labels, which override them)."""

    labels: Mapping[str, str]
    overridden: frozenset[str]

    def owns(self, raw_metric: Any) -> bool:
        return all(
            self.labels.get(name) == value
            for name, value in raw.fields(raw_metric, dict).items()
            if name != "__name__" and name not in self.overridden
        )


Moment = tuple[str, int]
"""(which moment, unix milliseconds)."""


async def evaluate(
    prom: Backend, expression: str, alert: Series, moments: Sequence[Moment]
) -> tuple[list[investigation.Condition], list[str]]:
    """The rule's conditions, each side evaluated at every moment (concurrently)."""
    parsed = conditions.conditions(expression)
    if not parsed:
        return [], ["proms-mcp's parser cannot read the rule expression: nothing evaluated"]
    texts = {
        text
        for c in parsed
        for text in (c.expression, c.threshold_expression, *c.parts)
        if text is not None
    }
    keys = [(text, moment) for text in sorted(texts) for moment in moments]
    found = await asyncio.gather(*(_value(prom, text, ms, alert) for text, (_, ms) in keys))
    values = dict(zip(((t, m[0]) for t, m in keys), found, strict=True))
    return [_report(c, moments, values) for c in parsed], []


Value = tuple[str | None, str | None]
"""(the sample as Prometheus wrote it, or None; a note when there is none)."""


async def _value(prom: Backend, expression: str, milliseconds: int, alert: Series) -> Value:
    params = [("query", expression), ("time", f"{milliseconds / 1000:.3f}")]
    try:
        answer = await prom.client.get("/api/v1/query", params)
    except errors.UpstreamError as exc:
        return None, f"{exc.code}: {exc.message}"
    data = raw.fields(answer.data, dict)
    result = data.get("result")
    if data.get("resultType") == "scalar":
        return _sample(result), None
    series = raw.objects(result, dict)
    mine = [s for s in series if alert.owns(s.get("metric"))]
    if len(mine) == 1:
        return _sample(mine[0].get("value")), None
    if not series:
        return None, "no series at this time"
    if len(series) == 1:
        return _sample(series[0].get("value")), None
    return None, f"{len(series)} series, {len(mine)} of them with the alert's labels"


def _sample(value: Any) -> str | None:
    pair = raw.elements(value)
    return str(pair[1]) if len(pair) == 2 else None


def _report(
    condition: conditions.Condition,
    moments: Sequence[Moment],
    values: Mapping[tuple[str, str], Value],
) -> investigation.Condition:
    if condition.expression is None:
        return investigation.Condition(
            comparison=condition.op,
            threshold=_number(condition.threshold),
            note="its left-hand side quotes a label value proms-mcp cannot rewrite exactly; "
            "not evaluated",
        )
    readings = [_reading(condition, name, ms, values) for name, ms in moments]
    parts = [
        investigation.Part(
            expression=part,
            readings=[_plain(name, ms, values[(part, name)]) for name, ms in moments],
        )
        for part in condition.parts
    ]
    return investigation.Condition(
        expression=condition.expression,
        comparison=condition.op,
        threshold=_number(condition.threshold),
        threshold_expression=condition.threshold_expression,
        readings=readings,
        parts=parts or None,
    )


def _reading(
    condition: conditions.Condition,
    name: str,
    milliseconds: int,
    values: Mapping[tuple[str, str], Value],
) -> investigation.Reading:
    assert condition.expression is not None
    plain = _plain(name, milliseconds, values[(condition.expression, name)])
    threshold_raw: str | None = None
    if condition.threshold_expression is not None:
        threshold_raw, note = values.get((condition.threshold_expression, name), (None, None))
        if threshold_raw is None:
            return plain.model_copy(update={"note": plain.note or f"threshold: {note}"})
    threshold = condition.threshold if threshold_raw is None else float(threshold_raw)
    value = values[(condition.expression, name)][0]
    if condition.op is None or threshold is None or value is None:
        return plain
    holds, margin = investigation.compare(condition.op, float(value), threshold)
    return plain.model_copy(
        update={
            "threshold": models.number(threshold_raw) if threshold_raw is not None else None,
            "holds": holds,
            "margin": margin,
        }
    )


def _plain(name: str, milliseconds: int, value: Value) -> investigation.Reading:
    sample, note = value
    return investigation.Reading(
        at=name,
        time=timespec.isoformat(milliseconds / 1000),
        value=models.number(sample) if sample is not None else None,
        note=hygiene.clean(note) if note else None,
    )


def _number(value: float | None) -> models.Number | None:
    return models.number(value) if value is not None else None


def alerts_selector(labels: Mapping[str, str]) -> str:
    """The ALERTS series of an alert whose labels (Prometheus's, without external ones) are
    `labels`, firing only."""
    pairs = {**labels, "alertstate": "firing"}
    inner = ",".join(f"{name}={syntax.quote(value)}" for name, value in sorted(pairs.items()))
    return f"ALERTS{{{inner}}}"


async def read_history(
    prom: Backend, labels: Mapping[str, str], window: float, interval: float, now: float
) -> tuple[history.History | None, str | None]:
    query = alerts_selector(labels)
    step = timespec.milliseconds(max(interval, window / MAX_HISTORY_POINTS))
    end = timespec.milliseconds(now)
    start = timespec.milliseconds(end - window)
    params = [
        ("query", query),
        ("start", f"{start:.3f}"),
        ("end", f"{end:.3f}"),
        ("step", f"{step:.3f}"),
    ]
    try:
        answer = await prom.client.get("/api/v1/query_range", params)
    except errors.UpstreamError as exc:
        return None, f"history unavailable: {exc.code}: {exc.message}"
    result = raw.fields(answer.data, dict).get("result")
    return history.history(query, result, start, end, step), None


async def read_suppression(
    am: Backend, alert: Any, every_alert: Sequence[Any], expired_after_ms: int
) -> tuple[suppression.Silences | None, suppression.Inhibitions | None, list[str]]:
    """Silences and inhibitions of `alert` (an Alertmanager alert), each best effort."""
    labels = converting.labels(raw.fields(alert, dict).get("labels"))
    found_silences, status = await asyncio.gather(
        alertmanager.listed(am.datasource, am.client, alertmanager.SILENCES),
        alertmanager.status(am.datasource, am.client),
        return_exceptions=True,
    )
    notes: list[str] = []
    silences = None
    if isinstance(found_silences, errors.PromsMcpError):
        notes.append(f"silences unavailable: {found_silences.code}: {found_silences.message}")
    elif isinstance(found_silences, list):
        silences = suppression.silences(found_silences, labels, expired_after_ms)
    rules: list[Any] = []
    if isinstance(status, errors.PromsMcpError):
        notes.append(f"inhibition rules unavailable: {status.code}: {status.message}")
    elif isinstance(status, dict):
        rules = alertmanager.inhibit_rules(status)
    for failure in (found_silences, status):
        if isinstance(failure, BaseException) and not isinstance(failure, errors.PromsMcpError):
            raise failure
    parsed = suppression.inhibition_rules(rules)
    return silences, suppression.inhibitions(alert, every_alert, parsed), notes
