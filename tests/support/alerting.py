"""A real alerting stack for tests, benchmarks and the docs' worked example: Prometheus
evaluating rules every second and sending its alerts (with external labels) to a real
Alertmanager, which silences one, inhibits another and routes a critical one to two
receivers.

The alerts, once :func:`settle` returns:

- ``HighBacklog{queue="email"}`` fires (``severity="critical"``, receivers ``pager`` and
  ``default``): the live target's ``demo_backlog / demo_workers`` for the email queue went
  from exactly the threshold (10, not above it) to 60 when the stack flipped it. A silence
  that matched it was expired, a pending one will match it in an hour, one for the billing
  queue differs from it by one label, and the maintenance inhibition differs by one label
  (``queue``) too.
- ``DemoSilenced`` fires and is silenced (:data:`SILENCED_COMMENT`).
- ``DemoInhibited`` fires and is inhibited by ``DemoInhibitor`` (same ``team``).
- ``DemoFlapping`` (``vector(time()) % 4 > 1``) fires and resolves every few seconds.
- The default rules of ``prometheus_process`` fire too (``DemoAlwaysFiring``, ...).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

from tests.support import alertmanager_process, harness, prometheus_process

EXTERNAL_LABELS = {"cluster": "test-cluster", "replica": "a"}
FIRING = "HighBacklog"
SILENCED = "DemoSilenced"
INHIBITED = "DemoInhibited"
INHIBITOR = "DemoInhibitor"
FLAPPING = "DemoFlapping"
MAINTENANCE = "DemoMaintenance"
FIRING_LHS = 'demo_backlog{queue="email"} / demo_workers{queue="email"}'
FIRING_EXPRESSION = f"{FIRING_LHS} > 10"
SILENCED_COMMENT = "known: billing export is noisy"
RULE_GROUPS: list[dict[str, object]] = [
    {
        "name": "alerting-demo",
        "interval": "1s",
        "rules": [
            {
                "alert": FIRING,
                "expr": FIRING_EXPRESSION,
                "for": "2s",
                "labels": {"severity": "critical", "team": "mail"},
                "annotations": {
                    "summary": "Email backlog per worker is high",
                    "runbook": "https://runbooks.example/backlog",
                },
            },
            {
                "alert": SILENCED,
                "expr": "vector(1)",
                "labels": {"severity": "warning", "team": "billing"},
            },
            {"alert": INHIBITOR, "expr": "vector(1)", "labels": {"team": "storage"}},
            {
                "alert": INHIBITED,
                "expr": "vector(1)",
                "labels": {"severity": "warning", "team": "storage"},
            },
            {"alert": FLAPPING, "expr": "vector(time()) % 4 > 1", "labels": {"team": "mail"}},
            {"alert": MAINTENANCE, "expr": 'label_replace(vector(1), "queue", "billing", "", "")'},
        ],
    }
]
INHIBIT_RULES: list[dict[str, object]] = [
    {
        "source_matchers": [f'alertname="{INHIBITOR}"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["team"],
    },
    {
        "source_matchers": [f"alertname={MAINTENANCE}"],
        "target_matchers": ['team="mail"'],
        "equal": ["queue"],
    },
]


class LiveTarget(harness.MetricsTarget):
    """Backlog and workers per queue; the email backlog jumps when the stack flips it."""

    backlog: ClassVar[dict[str, float]] = {"email": 50.0, "billing": 7.0}

    def exposition(self) -> str:
        lines = ["# TYPE demo_backlog gauge", "# TYPE demo_workers gauge"]
        for queue, backlog in self.backlog.items():
            lines.append(f'demo_backlog{{queue="{queue}"}} {backlog}')
            lines.append(f'demo_workers{{queue="{queue}"}} 5')
        return "\n".join(lines) + "\n"


@dataclass
class AlertingStack:
    prometheus: prometheus_process.RunningPrometheus
    alertmanager: alertmanager_process.RunningAlertmanager
    flipped_at: float
    silences: dict[str, str] = field(default_factory=dict)
    """what the silence is for -> its id: silenced, expired, pending, near."""


@contextlib.contextmanager
def running_stack(workdir: Path) -> Iterator[AlertingStack]:
    """Alertmanager, then Prometheus sending to it; the backlog flipped and the silences
    made. Call :func:`settle` before reading alerts."""
    backlog = dict(LiveTarget.backlog)
    target = type("Target", (LiveTarget,), {"backlog": backlog})
    with (
        alertmanager_process.running_alertmanager(
            workdir / "alertmanager", inhibit_rules=INHIBIT_RULES
        ) as am,
        harness.http_server(target) as target_url,
        prometheus_process.running_prometheus(
            workdir / "prometheus",
            extra_scrape_targets=[target_url.removeprefix("http://")],
            extra_rule_groups=RULE_GROUPS,
            alertmanager=am.url,
            external_labels=EXTERNAL_LABELS,
        ) as prom,
    ):
        _wait(lambda: _at_threshold(prom), "the email backlog scraped at the threshold")
        flipped_at = time.time()
        backlog["email"] = 300.0
        stack = AlertingStack(prom, am, flipped_at)
        stack.silences = _silences(am)
        yield stack


def _silences(am: alertmanager_process.RunningAlertmanager) -> dict[str, str]:
    make = alertmanager_process.create_silence
    firing = [{"name": "alertname", "value": FIRING}, {"name": "queue", "value": "email"}]
    expired = make(am, firing, comment="deploy window", created_by="release-bot")
    alertmanager_process.expire_silence(am, expired)
    return {
        "silenced": make(am, [{"name": "alertname", "value": SILENCED}], comment=SILENCED_COMMENT),
        "expired": expired,
        "pending": make(am, firing, comment="maintenance tonight", starts_in=3600.0),
        "near": make(
            am,
            [{"name": "alertname", "value": FIRING}, {"name": "queue", "value": "billing"}],
            comment="billing migration",
        ),
    }


def _at_threshold(prom: prometheus_process.RunningPrometheus) -> bool:
    """Three scrapes of the threshold value, so `before` the flip is in the history."""
    query = f"count_over_time(({FIRING_LHS})[5s:1s]) >= 3"
    return bool(_query(prom, query))


def settle(stack: AlertingStack, timeout: float = 30.0) -> None:
    """Until Alertmanager shows every alert of the module docstring in its state, and
    Prometheus's ALERTS shows the flapping alert firing at least three separate times."""

    def settled() -> bool:
        alerts = _am_alerts(stack.alertmanager)
        firing = alerts.get(FIRING)
        return bool(
            firing
            and firing["status"]["state"] == "active"
            and sorted(r["name"] for r in firing["receivers"]) == ["default", "pager"]
            and alerts.get(SILENCED, {}).get("status", {}).get("silencedBy")
            and alerts.get(INHIBITED, {}).get("status", {}).get("inhibitedBy")
            and _flaps(stack.prometheus) >= 3
        )

    _wait(settled, "the alerting stack to settle", timeout)


def _am_alerts(am: alertmanager_process.RunningAlertmanager) -> dict[str, dict[str, Any]]:
    alerts = httpx.get(f"{am.url}/api/v2/alerts", trust_env=False, timeout=5).json()
    return {a["labels"]["alertname"]: a for a in alerts}


def _flaps(prom: prometheus_process.RunningPrometheus) -> int:
    """Firing runs of the flapping alert in the last minute (1 s resolution)."""
    query = f'ALERTS{{alertname="{FLAPPING}",alertstate="firing"}}'
    now = time.time()
    params = {"query": query, "start": str(now - 60), "end": str(now), "step": "1"}
    body = httpx.get(
        f"{prom.url}/api/v1/query_range", params=params, trust_env=False, timeout=5
    ).json()
    result = body["data"]["result"]
    if not result:
        return 0
    times = [float(t) for t, _ in result[0]["values"]]
    return 1 + sum(1 for a, b in itertools.pairwise(times) if b - a > 1.5)


def _query(prom: prometheus_process.RunningPrometheus, query: str) -> list[Any]:
    body = httpx.get(
        f"{prom.url}/api/v1/query", params={"query": query}, trust_env=False, timeout=5
    ).json()
    result: list[Any] = body["data"]["result"]
    return result


def _wait(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (httpx.TransportError, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")
