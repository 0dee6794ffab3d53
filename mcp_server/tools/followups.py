"""The next queries an investigation suggests: tool calls with their arguments filled in,
each with why it is worth running. PromQL in them is the rule's own (as Prometheus printed
it) or a selector built with every label value quoted."""

from __future__ import annotations

from collections.abc import Sequence

from ..core import timespec
from ..promql import matchers, syntax
from ..results import history, investigation
from . import evidence, locating

MAX_SUGGESTIONS = 5
_CONTEXT_SECONDS = 3600.0
"""How far before the alert became active the suggested range queries start."""


def next_queries(
    found: locating.Found,
    alert: investigation.Alert,
    conditions: Sequence[investigation.Condition],
    past: history.History | None,
    am: evidence.Backend | None,
    span: float,
) -> list[investigation.NextQuery]:
    suggestions: list[investigation.NextQuery] = []
    prom = found.prom.datasource.id if found.prom is not None else None
    start = _start(alert, span)
    if prom is not None:
        for condition in conditions:
            if condition.expression is None:
                continue
            threshold = (
                f" against {condition.comparison} {condition.threshold}"
                if (condition.comparison and condition.threshold is not None)
                else ""
            )
            suggestions.append(
                _call(
                    "query_range",
                    f"the condition's left-hand side over time{threshold}, from before it fired",
                    datasource_id=prom,
                    promql=condition.expression,
                    start=start,
                    end="now",
                )
            )
        labels = alert.labels or {}
        if past is not None and past.firing_runs > 1:
            suggestions.append(
                _call(
                    "query_range",
                    "when it fired and resolved (1 while firing, no point while resolved)",
                    datasource_id=prom,
                    promql=past.query,
                    start=past.start,
                    end="now",
                )
            )
        if "job" in labels and "instance" in labels:
            selector = ",".join(
                f"{name}={syntax.quote(labels[name])}" for name in ("job", "instance")
            )
            suggestions.append(
                _call(
                    "query_range",
                    "whether its target was scraped (up) over the same time",
                    datasource_id=prom,
                    promql=f"up{{{selector}}}",
                    start=start,
                    end="now",
                )
            )
    if am is not None:
        by_name = str(matchers.Matcher(matchers.ALERTNAME, matchers.Op.EQUAL, alert.name))
        suggestions.append(
            _call(
                "list_alertmanager_alerts",
                "every alert of this name, and which are silenced or inhibited",
                datasource_id=am.datasource.id,
                match=f"{{{by_name}}}",
            )
        )
        suggestions.append(
            _call(
                "list_silences",
                "every silence of this alert name, expired ones too",
                datasource_id=am.datasource.id,
                match=f"{{{by_name}}}",
                include_expired=True,
            )
        )
    return suggestions[:MAX_SUGGESTIONS]


def _start(alert: investigation.Alert, span: float) -> str:
    """An hour before the alert became active, else the history window's start."""
    active = timespec.moment_milliseconds(alert.active_at or alert.starts_at or "")
    if active is None:
        return f"now-{timespec.format_duration(span)}"
    return timespec.isoformat(active / 1000 - _CONTEXT_SECONDS)


def _call(tool: str, why: str, **arguments: object) -> investigation.NextQuery:
    return investigation.NextQuery(tool=tool, arguments=dict(arguments), why=why)
