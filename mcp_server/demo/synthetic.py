"""The demo's synthetic shop: three services with hours of history that keep going live.

Every value is a pure function of the time, so the history backfilled with promtool and the
live /metrics target the demo Prometheus scrapes say the same thing: a counter scraped live
continues exactly where its history ended, and a query over the last hour has no gap.

What there is to find: request counters whose rates drift (a slow and a fast wave per
series), a latency histogram made of a fast and a slow population, a queue-depth gauge, and
an incident: twenty minutes before the demo started, checkout's payment requests began to
fail and queue up, so `HighErrorRate` fires from the first rule evaluation and checkout's
tail latency is up. `up` and the scrape series of the shop's targets have history too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

JOB: Final = "shop"
STEP_SECONDS: Final = 15
"""The demo's scrape interval, and the spacing of the backfilled history."""
HISTORY_SECONDS: Final = 3 * 3600
INCIDENT_AGO_SECONDS: Final = 20 * 60
"""How long before the start the checkout incident began."""
ALERT: Final = "HighErrorRate"
FAILING_SERVICE: Final = "checkout"


@dataclass(frozen=True, slots=True)
class Instance:
    service: str
    address: str  # the `instance` label: what a pod's scrape address looks like
    share: float  # of the service's traffic
    queue: str | None = None  # the queue whose depth it reports


INSTANCES: Final = (
    Instance("cart", "10.42.1.17:8080", 0.55, "email-notifications"),
    Instance("cart", "10.42.2.31:8080", 0.45, "email-notifications"),
    Instance("catalog", "10.42.1.22:8080", 0.5),
    Instance("catalog", "10.42.3.9:8080", 0.5),
    Instance("checkout", "10.42.2.14:8080", 0.52, "payment-requests"),
    Instance("checkout", "10.42.3.40:8080", 0.48, "payment-requests"),
)
METHODS: Final = ("GET", "POST")
CODES: Final = ("200", "404", "500")
BUCKETS: Final = ("0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")

_TRAFFIC = {  # requests per second of a whole service, by method
    "cart": {"GET": 14.0, "POST": 6.0},
    "catalog": {"GET": 42.0, "POST": 1.5},
    "checkout": {"GET": 2.5, "POST": 4.0},
}
_CODE_SHARE = {"200": 0.97, "404": 0.025, "500": 0.005}
_SLOW_SHARE = {"cart": 0.01, "catalog": 0.005, "checkout": 0.02}
_FAST = (0.22, 0.58, 0.86, 0.975, 0.995, 1.0, 1.0, 1.0)  # cumulative, per bucket
_SLOW = (0.0, 0.0, 0.02, 0.12, 0.38, 0.72, 0.96, 1.0)
_FAST_MEAN, _SLOW_MEAN = 0.055, 0.85  # seconds
_INCIDENT_RPS = 1.1  # extra failing checkout POSTs per second, whole service
_INCIDENT_RAMP = 120.0  # seconds: how fast it set in
_UPTIME = 2.3 * 86400  # counters start as if the services had been up this long
_WAVES = ((0.3, 2 * math.pi / 5400), (0.1, 2 * math.pi / 600))  # (amplitude, angular speed)

_KIND = {  # OpenMetrics family names: a counter's samples add `_total`
    "http_requests": "counter",
    "http_request_duration_seconds": "histogram",
    "queue_depth": "gauge",
}
_HELP = {
    "http_requests": "Requests answered, by method and status code.",
    "http_request_duration_seconds": "Time to answer a request.",
    "queue_depth": "Messages waiting in the queue the service feeds.",
}
_SCRAPE_SERIES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)

RULES: Final[dict[str, Any]] = {
    "groups": [
        {
            "name": "shop-slo",
            # Evaluated every second so the alert fires within a second of the start; the
            # history already holds the incident, so no `for` is needed to look real.
            "interval": "1s",
            "rules": [
                {
                    "alert": ALERT,
                    "expr": (
                        f'sum by (service) (rate(http_requests_total{{job="{JOB}",code=~"5.."}}'
                        f"[5m])) / sum by (service) "
                        f'(rate(http_requests_total{{job="{JOB}"}}[5m])) > 0.05'
                    ),
                    "labels": {"severity": "page"},
                    "annotations": {
                        "summary": "{{ $labels.service }} fails {{ $value | humanizePercentage }}"
                        " of its requests",
                        "description": "More than 5% of the requests to {{ $labels.service }} "
                        "answered 5xx over the last 5 minutes.",
                    },
                },
                {
                    "alert": "ShopTargetDown",
                    "expr": f'up{{job="{JOB}"}} == 0',
                    "for": "1m",
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": "{{ $labels.instance }} ({{ $labels.service }}) cannot be "
                        "scraped"
                    },
                },
            ],
        }
    ]
}


def _softplus(x: float) -> float:
    return x if x > 30 else math.log1p(math.exp(x))


@dataclass(frozen=True, slots=True)
class _Counter:
    """One request counter: a base rate with two waves, plus the incident where it applies."""

    base: float  # requests per second
    phases: tuple[float, float]
    incident: float  # extra requests per second once the incident is on
    origin: float  # the start of the history

    def steady(self, t: float) -> float:
        """Requests served up to `t` without the incident: the integral of the rate
        `base * (1 + sum(a * sin(w*t + phase)))`, which never drops below 60 % of `base`."""
        waves = sum(
            a / w * -math.cos(w * t + p) for (a, w), p in zip(_WAVES, self.phases, strict=True)
        )
        return self.base * (_UPTIME + (t - self.origin) + waves)


class Shop:
    """The shop as seen from a start time `now`: history up to it, live values after."""

    def __init__(self, now: float) -> None:
        self.end = int(now) // STEP_SECONDS * STEP_SECONDS
        """The newest backfilled sample; live scrapes come after it."""
        self.start = self.end - HISTORY_SECONDS
        self.incident = now - INCIDENT_AGO_SECONDS
        self._counters: dict[tuple[str, str, str], _Counter] = {}
        index = 0
        for instance in INSTANCES:
            for method in METHODS:
                for code in CODES:
                    base = _TRAFFIC[instance.service][method] * instance.share * _CODE_SHARE[code]
                    failing = (instance.service, method, code) == (FAILING_SERVICE, "POST", "500")
                    incident = _INCIDENT_RPS * instance.share if failing else 0.0
                    phases = (0.7 * index, 1.3 * index)
                    self._counters[(instance.address, method, code)] = _Counter(
                        base, phases, incident, self.start
                    )
                    index += 1

    def _incident_requests(self, counter: _Counter, t: float) -> float:
        """Failed requests the incident added up to `t` (the integral of a logistic ramp)."""
        if not counter.incident:
            return 0.0
        ramp = _INCIDENT_RAMP
        x0 = (self.start - self.incident) / ramp
        return counter.incident * ramp * (_softplus((t - self.incident) / ramp) - _softplus(x0))

    def _series(self, instance: Instance, t: float) -> list[tuple[str, str, str]]:
        """(family, sample name with its own labels, value) in a fixed order."""
        samples: list[tuple[str, str, str]] = []
        steady_total = incident_total = 0.0
        for method in METHODS:
            for code in CODES:
                counter = self._counters[(instance.address, method, code)]
                steady, extra = counter.steady(t), self._incident_requests(counter, t)
                steady_total += steady
                incident_total += extra
                labels = f'method="{method}",code="{code}"'
                samples.append(
                    ("http_requests", f"http_requests_total{{{labels}}}", _int(steady + extra))
                )
        slow_share = _SLOW_SHARE[instance.service]
        fast = (1 - slow_share) * steady_total
        slow = slow_share * steady_total + incident_total
        name = "http_request_duration_seconds"
        for le, f, s in zip(BUCKETS, _FAST, _SLOW, strict=True):
            samples.append((name, f'{name}_bucket{{le="{le}"}}', _int(fast * f + slow * s)))
        samples.append((name, f"{name}_sum", f"{fast * _FAST_MEAN + slow * _SLOW_MEAN:.3f}"))
        samples.append((name, f"{name}_count", _int(fast + slow)))
        if instance.queue is not None:
            samples.append(
                (
                    "queue_depth",
                    f'queue_depth{{queue="{instance.queue}"}}',
                    self._queue(instance, t),
                )
            )
        return samples

    def _queue(self, instance: Instance, t: float) -> str:
        phase = 1.9 * INSTANCES.index(instance)
        depth = 12 + 8 * math.sin(2 * math.pi * t / 1800 + phase) + 3 * math.sin(t / 40 + phase)
        if instance.service == FAILING_SERVICE:
            depth += 140 / (1 + math.exp(-(t - self.incident) / _INCIDENT_RAMP))
        return str(max(0, round(depth)))

    def exposition(self, address: str, t: float) -> str | None:
        """The live /metrics text of one instance at `t` (Prometheus text format 0.0.4);
        None for an unknown instance. `job`, `instance` and `service` are target labels."""
        instance = next((i for i in INSTANCES if i.address == address), None)
        if instance is None:
            return None
        lines: list[str] = []
        family = ""
        for name, sample, value in self._series(instance, t):
            if name != family:
                family = name
                exposed = f"{name}_total" if _KIND[name] == "counter" else name
                lines += [f"# HELP {exposed} {_HELP[name]}", f"# TYPE {exposed} {_KIND[name]}"]
            lines.append(f"{sample} {value}")
        return "\n".join(lines) + "\n"

    def history(self) -> str:
        """OpenMetrics text of every series from `start` to `end`, for promtool; it ends with
        `# EOF` as promtool requires. Backfilled series carry no HELP/TYPE (promtool drops
        them); the live scrapes bring them."""
        times = range(self.start, self.end + 1, STEP_SECONDS)
        families: dict[str, list[str]] = {}
        for instance in INSTANCES:
            target = f'job="{JOB}",instance="{instance.address}",service="{instance.service}"'
            rows = [self._series(instance, t) for t in times]
            for column, (family, sample, _) in enumerate(rows[0]):
                name, _, own = sample.partition("{")
                labels = f"{target},{own[:-1]}" if own else target
                lines = families.setdefault(family, [])
                lines += [
                    f"{name}{{{labels}}} {row[column][2]} {t}"
                    for t, row in zip(times, rows, strict=True)
                ]
            for scrape_family in _SCRAPE_SERIES:
                value = _scrape_value(scrape_family, len(rows[0]))
                families.setdefault(scrape_family, []).extend(
                    f"{scrape_family}{{{target}}} {value} {t}" for t in times
                )
        text: list[str] = []
        for family, lines in families.items():
            text.append(f"# TYPE {family} {_KIND.get(family, 'gauge')}")
            text += lines
        text.append("# EOF")
        return "\n".join(text) + "\n"

    def series_count(self) -> int:
        per_instance = [len(self._series(i, self.end)) + len(_SCRAPE_SERIES) for i in INSTANCES]
        return sum(per_instance)


def _scrape_value(family: str, samples: int) -> str:
    return {
        "up": "1",
        "scrape_duration_seconds": "0.004",
        "scrape_samples_scraped": str(samples),
        "scrape_samples_post_metric_relabeling": str(samples),
        "scrape_series_added": "0",
    }[family]


def _int(value: float) -> str:
    return str(math.floor(value))
