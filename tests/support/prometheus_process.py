"""Start a real Prometheus, with deterministic synthetic history, for tests and benchmarks.

The Prometheus binary is Debian's ``prometheus`` package (or ``$PROMETHEUS_BIN``). Before it
starts, ``promtool tsdb create-blocks-from openmetrics`` backfills six hours of synthetic
history ending at :data:`SYNTHETIC_END`, so queries have stable, known answers::

    with running_prometheus(tmp_path) as prom:
        httpx.get(f"{prom.url}/api/v1/query",
                  params={"query": "demo_queue_depth", "time": SYNTHETIC_END})

Always pass ``time=SYNTHETIC_END`` (or a range inside the window): the last synthetic sample
is about a minute old when this module is imported, so a query "at now" stops seeing it once
the 5 minute lookback has passed. Backfilled series carry no metadata (HELP/TYPE are dropped
by promtool), and Prometheus scrapes itself (job ``prometheus``) so live series exist too.

For the inspection tools it also evaluates :data:`RULES` every second (recording rules, one
of which always fails, and alerts that fire, pend or never fire, all on live or constant
series since rules run at "now"), scrapes a target that is always down with secrets in its
query and basic auth (job ``unreachable``), and stores exemplars scraped from a small
OpenMetrics target (job ``exemplars``).

The data is deterministic (no randomness, fixed once the module is imported), so a test can compute
the value it expects with the ``expected_*`` helpers and compare exactly.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from mcp_server.core import errors
from mcp_server.demo import local
from tests.support import harness, ports

__all__ = [
    "ALERT_FIRING",
    "ALERT_INACTIVE",
    "ALERT_PENDING",
    "ALERT_TARGET_DOWN",
    "BROKEN_RULE",
    "CARDINALITY_SHARDS",
    "COUNTER_CODES",
    "COUNTER_INSTANCES",
    "COUNTER_METHODS",
    "DROPPED_TARGET",
    "EXEMPLARS_JOB",
    "EXEMPLAR_METRIC",
    "EXEMPLAR_TRACE_IDS",
    "HISTOGRAM_BUCKETS",
    "HISTOGRAM_INSTANCES",
    "QUEUE_INSTANCES",
    "QUEUE_NAMES",
    "RECORDING_RULE",
    "RULES",
    "STEP",
    "SYNTHETIC_END",
    "SYNTHETIC_START",
    "UNREACHABLE_JOB",
    "UNREACHABLE_SECRETS",
    "PrometheusUnavailable",
    "RunningPrometheus",
    "expected_cardinality_value",
    "expected_counter_rate",
    "expected_counter_value",
    "expected_histogram_bucket",
    "expected_histogram_count",
    "expected_histogram_sum",
    "expected_queue_depth",
    "find_binary",
    "running_prometheus",
    "synthetic_openmetrics",
    "wait_until_scraped",
]

STEP = 60
"""Seconds between two synthetic samples."""

_WINDOW = 6 * 3600

# The newest synthetic sample is one whole minute in the past, so it is strictly older than
# anything Prometheus will scrape into its head block (the head accepts nothing older than
# the newest backfilled block, and its first sample is "now").
SYNTHETIC_END: int = (int(time.time()) // 60) * 60 - 60
SYNTHETIC_START: int = SYNTHETIC_END - _WINDOW

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
_PORT_ATTEMPTS = 3

# --------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------

COUNTER_INSTANCES: tuple[str, ...] = ("api-0:8080", "api-1:8080", "api-2:8080")
COUNTER_METHODS: tuple[str, ...] = ("GET", "POST")
COUNTER_CODES: tuple[str, ...] = ("200", "500")
QUEUE_INSTANCES: tuple[str, ...] = ("worker-0", "worker-1")
QUEUE_NAMES: tuple[str, ...] = ("email", "billing")
HISTOGRAM_INSTANCES: tuple[str, ...] = COUNTER_INSTANCES
HISTOGRAM_BUCKETS: tuple[str, ...] = ("0.1", "0.5", "1", "+Inf")
CARDINALITY_SHARDS = 500

# Live state for the inspection tools (rules run at "now", after the synthetic window).
UNREACHABLE_JOB = "unreachable"
UNREACHABLE_SECRETS = ("s3cret-t0ken-value", "hunter2-passw0rd")
"""The ``token`` query parameter and basic-auth password of the unreachable target."""
DROPPED_TARGET = "127.0.0.1:1"
"""A second target of job ``unreachable`` that relabelling drops: one dropped target."""
RECORDING_RULE = "job:up:sum"
BROKEN_RULE = "demo:broken:duplicate_match"
"""A recording rule whose evaluation always fails (duplicate series on one side): health err."""
ALERT_FIRING = "DemoAlwaysFiring"
ALERT_PENDING = "DemoPendingForAnHour"
ALERT_INACTIVE = "DemoNeverFires"
ALERT_TARGET_DOWN = "DemoTargetDown"
"""Fires for the target of job ``unreachable`` once it has been scraped (up == 0)."""
RULES: dict[str, object] = {
    "groups": [
        {
            "name": "demo-recording",
            "rules": [
                {"record": RECORDING_RULE, "expr": "sum by (job) (up)"},
                {
                    "record": BROKEN_RULE,
                    "expr": 'vector(1) + on() (vector(1) or label_replace(vector(1), "copy", '
                    '"yes", "", ""))',
                },
            ],
        },
        {
            "name": "demo-alerts",
            "rules": [
                {
                    "alert": ALERT_FIRING,
                    "expr": "vector(1)",
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": "Always firing",
                        "description": "value {{ $value }}\nsecond line",
                    },
                },
                {"alert": ALERT_PENDING, "expr": "vector(2)", "for": "1h"},
                {"alert": ALERT_INACTIVE, "expr": "vector(1) == 2"},
                {
                    "alert": ALERT_TARGET_DOWN,
                    "expr": f'up{{job="{UNREACHABLE_JOB}"}} == 0',
                    "labels": {"severity": "critical"},
                },
            ],
        },
    ]
}
EXEMPLARS_JOB = "exemplars"
EXEMPLAR_METRIC = "demo_exemplar_requests_total"
EXEMPLAR_TRACE_IDS: dict[str, str] = {"/checkout": "4bf92f3577b34da6", "/cart": "00f067aa0ba902b7"}
"""path label -> trace_id of the one exemplar each series of EXEMPLAR_METRIC carries."""

# Fraction of requests at or below each bucket's upper bound (cumulative).
_BUCKET_FRACTION = {"0.1": 0.5, "0.5": 0.8, "1": 0.95, "+Inf": 1.0}
_QUEUE_PERIOD_S = 3600


def _index(values: Sequence[str], value: str, what: str) -> int:
    try:
        return list(values).index(value)
    except ValueError:
        raise ValueError(f"unknown {what} {value!r}; expected one of {list(values)}") from None


def _steps(t: int) -> int:
    """Whole steps since SYNTHETIC_START of the newest sample at or before ``t``."""
    if not SYNTHETIC_START <= t <= SYNTHETIC_END:
        raise ValueError(f"t={t} is outside [{SYNTHETIC_START}, {SYNTHETIC_END}]")
    return (t - SYNTHETIC_START) // STEP


def _counter_increment(instance: str, method: str, code: str) -> int:
    """Requests added per step (integers, so every sample is exact)."""
    i = _index(COUNTER_INSTANCES, instance, "instance") + 1
    is_get = _index(COUNTER_METHODS, method, "method") == 0
    if _index(COUNTER_CODES, code, "code") == 0:
        return i * (60 if is_get else 30)
    return i * (6 if is_get else 3)


def expected_counter_rate(instance: str, method: str, code: str) -> float:
    """Per-second rate of ``demo_http_requests_total`` (constant over the whole window)."""
    return _counter_increment(instance, method, code) / STEP


def expected_counter_value(instance: str, method: str, code: str, t: int) -> float:
    """``demo_http_requests_total`` as an instant query at ``t`` returns it.

    That is the newest sample at or before ``t``; ``t`` must lie in
    [SYNTHETIC_START, SYNTHETIC_END].
    """
    base = 1000 * (_index(COUNTER_INSTANCES, instance, "instance") + 1)
    return float(base + _counter_increment(instance, method, code) * _steps(t))


def expected_queue_depth(instance: str, queue: str, t: int) -> float:
    """``demo_queue_depth``: a sine with a one hour period, rounded to 3 decimals."""
    w = _index(QUEUE_INSTANCES, instance, "instance")
    q = _index(QUEUE_NAMES, queue, "queue")
    return _queue_value(w, q, _steps(t) * STEP)


def _queue_value(w: int, q: int, elapsed: int) -> float:
    phase = 2 * math.pi * (elapsed / _QUEUE_PERIOD_S + 0.25 * (2 * w + q))
    return round(50.0 + 20.0 * w + 10.0 * q + 25.0 * math.sin(phase), 3)


def expected_histogram_count(instance: str, t: int) -> float:
    """``demo_request_duration_seconds_count``: 100*(i+1) observations per step."""
    i = _index(HISTOGRAM_INSTANCES, instance, "instance") + 1
    return float(100 * i * _steps(t))


def expected_histogram_bucket(instance: str, le: str, t: int) -> float:
    """``demo_request_duration_seconds_bucket{le=...}`` (cumulative, like Prometheus')."""
    fraction = _BUCKET_FRACTION[HISTOGRAM_BUCKETS[_index(HISTOGRAM_BUCKETS, le, "le")]]
    i = _index(HISTOGRAM_INSTANCES, instance, "instance") + 1
    return float(round(100 * i * fraction) * _steps(t))


def expected_histogram_sum(instance: str, t: int) -> float:
    """``demo_request_duration_seconds_sum``: 0.25 s average per observation."""
    return expected_histogram_count(instance, t) * 0.25


def expected_cardinality_value(shard: int, t: int) -> float:
    """``demo_cardinality_series{shard=...}``: the shard number plus the step index mod 10."""
    if not 0 <= shard < CARDINALITY_SHARDS:
        raise ValueError(f"shard {shard} is outside [0, {CARDINALITY_SHARDS})")
    return float(shard + _steps(t) % 10)


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def synthetic_openmetrics(start: int, end: int, step: int = STEP) -> str:
    """Deterministic OpenMetrics text with samples at ``start, start+step, ..., <= end``.

    The ``expected_*`` helpers describe this text when ``start``/``end``/``step`` are the
    module defaults. The text ends with ``# EOF`` (promtool refuses it otherwise).
    """
    if step <= 0 or end < start:
        raise ValueError(f"need step > 0 and start <= end, got {start=} {end=} {step=}")
    times = range(start, end + 1, step)
    n_steps = [(ts - start) // step for ts in times]
    lines: list[str] = []
    add = lines.append

    add("# HELP demo_http_requests_total Synthetic HTTP requests served.")
    add("# TYPE demo_http_requests_total counter")
    counters = [
        (
            f'demo_http_requests_total{{job="demo-api",instance="{inst}",'
            f'method="{method}",code="{code}"}}',
            1000 * (i + 1),
            _counter_increment(inst, method, code),
        )
        for i, inst in enumerate(COUNTER_INSTANCES)
        for method in COUNTER_METHODS
        for code in COUNTER_CODES
    ]
    for ts, k in zip(times, n_steps, strict=True):
        for series, base, inc in counters:
            add(f"{series} {base + inc * k} {ts}")

    add("# HELP demo_queue_depth Synthetic queue depth.")
    add("# TYPE demo_queue_depth gauge")
    for ts, k in zip(times, n_steps, strict=True):
        for w, inst in enumerate(QUEUE_INSTANCES):
            for q, queue in enumerate(QUEUE_NAMES):
                value = _queue_value(w, q, k * step)
                add(
                    f'demo_queue_depth{{job="demo-worker",instance="{inst}",queue="{queue}"}} '
                    f"{_fmt(value)} {ts}"
                )

    add("# HELP demo_request_duration_seconds Synthetic request latency.")
    add("# TYPE demo_request_duration_seconds histogram")
    name = "demo_request_duration_seconds"
    for ts, k in zip(times, n_steps, strict=True):
        for i, inst in enumerate(HISTOGRAM_INSTANCES):
            per_step = 100 * (i + 1)
            labels = f'job="demo-api",instance="{inst}"'
            for le in HISTOGRAM_BUCKETS:
                bucket = round(per_step * _BUCKET_FRACTION[le]) * k
                add(f'{name}_bucket{{{labels},le="{le}"}} {bucket} {ts}')
            add(f"{name}_sum{{{labels}}} {_fmt(per_step * k * 0.25)} {ts}")
            add(f"{name}_count{{{labels}}} {per_step * k} {ts}")

    add("# HELP demo_cardinality_series Many series, to exercise result truncation.")
    add("# TYPE demo_cardinality_series gauge")
    for ts, k in zip(times, n_steps, strict=True):
        mod = k % 10
        for shard in range(CARDINALITY_SHARDS):
            labels = f'job="demo-cardinality",shard="{shard}"'
            add(f"demo_cardinality_series{{{labels}}} {shard + mod} {ts}")

    add("# EOF")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The process
# --------------------------------------------------------------------------------------------


class PrometheusUnavailable(Exception):
    """No usable Prometheus/promtool binary, or Prometheus failed to start."""


@dataclass(frozen=True)
class RunningPrometheus:
    url: str
    port: int
    data_dir: Path
    version: str
    pid: int
    exemplar_target: str = ""
    unreachable_target: str = ""


_INSTALL_HINT = "apt-get install prometheus, or set PROMETHEUS_BIN (and PROMTOOL_BIN)"


def _executable(path: Path, variable: str) -> Path:
    if not path.is_file():
        raise PrometheusUnavailable(f"{variable}={path} does not exist; {_INSTALL_HINT}")
    if not os.access(path, os.X_OK):
        raise PrometheusUnavailable(f"{variable}={path} is not executable; {_INSTALL_HINT}")
    return path


def find_binary() -> tuple[Path, Path]:
    """Return (prometheus, promtool).

    ``$PROMETHEUS_BIN`` wins over PATH; promtool comes from ``$PROMTOOL_BIN``, else the
    directory of the chosen prometheus, else PATH.
    """
    env_prometheus = os.environ.get("PROMETHEUS_BIN")
    if env_prometheus:
        prometheus = _executable(Path(env_prometheus), "PROMETHEUS_BIN")
    else:
        found = shutil.which("prometheus")
        if found is None:
            raise PrometheusUnavailable(f"no prometheus binary on PATH; {_INSTALL_HINT}")
        prometheus = Path(found)

    env_promtool = os.environ.get("PROMTOOL_BIN")
    if env_promtool:
        return prometheus, _executable(Path(env_promtool), "PROMTOOL_BIN")
    sibling = prometheus.parent / "promtool"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return prometheus, sibling
    found = shutil.which("promtool")
    if found is None:
        raise PrometheusUnavailable(f"no promtool next to {prometheus} or on PATH; {_INSTALL_HINT}")
    return prometheus, Path(found)


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs: bound and
    never listened on, so no other server of the suite (or the machine) can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _config(
    port: int,
    scrape_interval: str,
    extra: Sequence[str],
    *,
    rules_path: Path,
    exemplar_target: str,
    unreachable_target: str,
    alertmanager: str | None = None,
    external_labels: Mapping[str, str] | None = None,
) -> str:
    token, password = UNREACHABLE_SECRETS
    scrape_configs: list[dict[str, object]] = [
        {
            "job_name": "prometheus",
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
        },
        {"job_name": EXEMPLARS_JOB, "static_configs": [{"targets": [exemplar_target]}]},
        {
            "job_name": UNREACHABLE_JOB,
            "params": {"token": [token]},
            "basic_auth": {"username": "scraper", "password": password},
            "static_configs": [{"targets": [unreachable_target, DROPPED_TARGET]}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "regex": DROPPED_TARGET, "action": "drop"}
            ],
        },
    ]
    if extra:
        scrape_configs.append(
            {
                "job_name": "extra",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": list(extra)}],
            }
        )
    config: dict[str, object] = {
        "global": {
            "scrape_interval": scrape_interval,
            # The default 10s timeout is rejected when longer than the interval.
            "scrape_timeout": scrape_interval,
            "evaluation_interval": scrape_interval,
            "external_labels": dict(external_labels or {}),
        },
        "rule_files": [str(rules_path)],
        "scrape_configs": scrape_configs,
    }
    if alertmanager is not None:  # API v2 is 2.42's default
        target = alertmanager.removeprefix("http://")
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]}
    return json.dumps(config, indent=2)  # JSON is YAML


_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})")


def _yaml(document: object) -> str:
    """JSON is YAML, except that YAML escapes a character past U+FFFF as `\\UXXXXXXXX`
    where JSON writes a surrogate pair (rules may carry any text)."""

    def joined(pair: re.Match[str]) -> str:
        high, low = int(pair.group(1), 16), int(pair.group(2), 16)
        return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"

    return _SURROGATE_PAIR.sub(joined, json.dumps(document, indent=2))


class _ExemplarTarget(harness.Handler):
    """OpenMetrics with one exemplar per series; a fixed exemplar time, so later scrapes
    repeat it (Prometheus ignores duplicates) instead of piling up new ones."""

    exemplar_time = 0.0

    def do_GET(self) -> None:
        lines = ["# TYPE demo_exemplar_requests counter", "# HELP demo_exemplar_requests Demo."]
        for n, (path, trace_id) in enumerate(EXEMPLAR_TRACE_IDS.items()):
            lines.append(
                f'{EXEMPLAR_METRIC}{{path="{path}"}} {10 * (n + 1)} '
                f'# {{trace_id="{trace_id}"}} {n + 1} {self.exemplar_time:.3f}'
            )
        body = ("\n".join([*lines, "# EOF"]) + "\n").encode()
        self.reply(body, "application/openmetrics-text; version=1.0.0")


@contextlib.contextmanager
def _exemplar_server() -> Iterator[str]:
    handler = type("ExemplarTarget", (_ExemplarTarget,), {"exemplar_time": round(time.time())})
    with harness.http_server(handler) as url:
        yield url.removeprefix("http://")


_block_cache: Path | None = None
_block_cache_lock = threading.Lock()


def _backfill(promtool: Path, workdir: Path, data_dir: Path) -> None:
    """Put the synthetic blocks into ``data_dir``.

    promtool takes ~1.4 s here, so the blocks are made once per process (the window is fixed
    at import) in a private temp dir and copied on later starts.
    """
    global _block_cache
    with _block_cache_lock:
        if _block_cache is None or not _block_cache.is_dir():
            cache = Path(tempfile.mkdtemp(prefix="proms-mcp-synthetic-blocks-"))
            atexit.register(shutil.rmtree, cache, ignore_errors=True)
            _run_promtool(promtool, workdir, cache)
            _block_cache = cache
        for block in _block_cache.iterdir():
            shutil.copytree(block, data_dir / block.name, dirs_exist_ok=True)


def _run_promtool(promtool: Path, workdir: Path, data_dir: Path) -> None:
    """The demo's own backfill, with this module's history (the same promtool command)."""
    history = synthetic_openmetrics(SYNTHETIC_START, SYNTHETIC_END)
    try:
        local.backfill(promtool, history, workdir, data_dir)
    except errors.ConfigurationError as exc:
        raise PrometheusUnavailable(str(exc)) from None


def started(
    argv: list[str], workdir: Path, log_path: Path, attempt: str
) -> tuple[subprocess.Popen[bytes], int]:
    """`argv` running in `workdir`, its output appended to `log_path` after a line naming the
    `attempt`; with where that output starts in the log."""
    with log_path.open("ab") as log:
        log.write(f"--- start {attempt}\n".encode())
        log.flush()
        offset = log.tell()
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir
        )
    return process, offset


def _stop(process: subprocess.Popen[bytes]) -> None:
    local.stop(process, timeout=STOP_TIMEOUT_S)


_LISTENER_FAILED = "Unable to start web listener"


def _wait_ready(
    client: httpx.Client,
    url: str,
    process: subprocess.Popen[bytes],
    data_dir: Path,
    log_path: Path,
    log_offset: int,
    deadline: float,
) -> Literal["ready", "exited", "port-taken"]:
    """Poll /-/ready until our Prometheus (checked by its tsdb path) answers."""
    while True:
        if process.poll() is not None:
            return (
                "port-taken" if _LISTENER_FAILED in _read_from(log_path, log_offset) else "exited"
            )
        try:
            if client.get(f"{url}/-/ready", timeout=0.5).status_code == 200:
                flags = client.get(f"{url}/api/v1/status/flags", timeout=0.5).json()["data"]
                if flags.get("storage.tsdb.path") == str(data_dir):
                    return "ready"
                _stop(process)  # another server owns the port
                return "port-taken"
        except (httpx.TransportError, ValueError, KeyError, TypeError, AttributeError):
            # After a failed bind Prometheus takes a moment to exit; do not wait for that.
            if _LISTENER_FAILED in _read_from(log_path, log_offset):
                _stop(process)
                return "port-taken"
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}/-/ready not 200 within {START_TIMEOUT_S}s")
        time.sleep(0.02)


def _wait_backfill_visible(client: httpx.Client, url: str, deadline: float) -> None:
    expected = len(COUNTER_INSTANCES) * len(COUNTER_METHODS) * len(COUNTER_CODES)
    _poll_query(
        client,
        url,
        {"query": "count(demo_http_requests_total)", "time": str(SYNTHETIC_END)},
        lambda result: bool(result) and float(result[0]["value"][1]) == expected,
        deadline,
        f"backfilled history not visible at time={SYNTHETIC_END}",
        interval=0.05,
    )


def _poll_query(
    client: httpx.Client,
    url: str,
    params: dict[str, str],
    done: Callable[[Any], bool],
    deadline: float,
    failure: str,
    *,
    interval: float,
) -> None:
    """Query until `done(result)`, else raise TimeoutError(`failure` and the last answer)."""
    last: object = None
    while True:
        try:
            body = client.get(f"{url}/api/v1/query", params=params).json()
            last = body
            if done(body["data"]["result"]):
                return
        except (httpx.TransportError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{failure}: {last}")
        time.sleep(interval)


@contextlib.contextmanager
def running_prometheus(
    workdir: Path,
    *,
    extra_scrape_targets: Sequence[str] = (),
    extra_rule_groups: Sequence[Mapping[str, object]] = (),
    scrape_interval: str = "1s",
    max_connections: int | None = None,
    alertmanager: str | None = None,
    external_labels: Mapping[str, str] | None = None,
) -> Iterator[RunningPrometheus]:
    """Backfill synthetic history into ``workdir``, start Prometheus on 127.0.0.1, yield it.

    ``extra_scrape_targets`` (``host:port``, scraped at ``/metrics``) form the job ``extra``;
    ``extra_rule_groups`` are evaluated after :data:`RULES`' groups. ``max_connections``
    raises Prometheus's limit on open connections (default 512): a benchmark with a thousand
    datasources on this one Prometheus measures something else than that limit. With
    ``alertmanager``
    (its URL) Prometheus sends its alerts there, carrying ``external_labels``; its
    ``--web.external-url`` is its own URL, so alerts' ``generatorURL`` names it.

    Prometheus is stopped (SIGTERM, SIGKILL after 5 s) when the block exits, even on error.
    Raises PrometheusUnavailable when the binaries are missing or it does not come up.
    """
    prometheus, promtool = find_binary()
    workdir = Path(workdir).resolve()  # Prometheus runs with cwd=workdir
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "prometheus-data"
    data_dir.mkdir(exist_ok=True)
    _backfill(promtool, workdir, data_dir)

    log_path = workdir / "prometheus.log"
    config_path = workdir / "prometheus.yml"
    rules_path = workdir / "rules.yml"
    groups = RULES["groups"]
    assert isinstance(groups, list)
    groups = [*groups, *extra_rule_groups]
    rules_path.write_text(_yaml({"groups": groups}))
    with (
        closed_port() as refusing_port,
        _exemplar_server() as exemplar_target,
        httpx.Client(timeout=2.0, trust_env=False) as client,
    ):
        unreachable_target = f"127.0.0.1:{refusing_port}"
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = ports.free_port()
            url = f"http://127.0.0.1:{port}"
            config_path.write_text(
                _config(
                    port,
                    scrape_interval,
                    extra_scrape_targets,
                    rules_path=rules_path,
                    exemplar_target=exemplar_target,
                    unreachable_target=unreachable_target,
                    alertmanager=alertmanager,
                    external_labels=external_labels,
                )
            )
            argv = [
                str(prometheus),
                f"--config.file={config_path}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={url}",
                # Alerts fired before the Alertmanager is discovered (on a 5 s tick)
                # are dropped and resent after this delay, by default a minute.
                "--rules.alert.resend-delay=1s",
                f"--storage.tsdb.path={data_dir}",
                "--storage.tsdb.retention.time=30d",
                "--enable-feature=exemplar-storage",
                "--log.level=info",
                *([f"--web.max-connections={max_connections}"] if max_connections else []),
            ]
            process, log_offset = started(
                argv, workdir, log_path, f"attempt {attempt} on port {port}"
            )
            try:
                deadline = time.monotonic() + START_TIMEOUT_S
                try:
                    state = _wait_ready(
                        client, url, process, data_dir, log_path, log_offset, deadline
                    )
                except TimeoutError as exc:
                    raise PrometheusUnavailable(f"{exc}; log:\n{_tail(log_path)}") from None
                if state == "port-taken" and attempt < _PORT_ATTEMPTS:
                    continue
                if state != "ready":
                    reason = (
                        f"port taken on all {_PORT_ATTEMPTS} attempts"
                        if state == "port-taken"
                        else f"prometheus exited ({process.returncode}) before it was ready"
                    )
                    raise PrometheusUnavailable(f"{reason}; log:\n{_tail(log_path)}")
                try:
                    _wait_backfill_visible(client, url, deadline)
                except TimeoutError as exc:
                    raise PrometheusUnavailable(f"{exc}; log:\n{_tail(log_path)}") from None
                build = client.get(f"{url}/api/v1/status/buildinfo").json()
                yield RunningPrometheus(
                    url=url,
                    port=port,
                    data_dir=data_dir,
                    version=str(build["data"]["version"]),
                    pid=process.pid,
                    exemplar_target=exemplar_target,
                    unreachable_target=unreachable_target,
                )
                return
            finally:
                _stop(process)
    raise AssertionError("unreachable")  # pragma: no cover


def wait_until_scraped(
    prometheus: RunningPrometheus, job: str = "prometheus", timeout: float = 15.0
) -> None:
    """Block until every target of ``job`` has been scraped successfully (``up == 1``).

    Prometheus 2.42 applies discovered targets on a fixed 5 s tick, so live series (``up``,
    self metrics, their metadata) appear ~5 s after start; the backfill is there at once.
    """
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        _poll_query(
            client,
            prometheus.url,
            {"query": f'up{{job="{job}"}}'},
            lambda result: bool(result) and all(s["value"][1] == "1" for s in result),
            deadline,
            f'up{{job="{job}"}} not 1 within {timeout}s',
            interval=0.1,
        )


@contextlib.contextmanager
def scraping(
    target: type[harness.Handler], workdir: Path, rule_groups: Sequence[Mapping[str, object]] = ()
) -> Iterator[RunningPrometheus]:
    """A Prometheus of its own that also scrapes `target` (job `extra`), once it has, and
    evaluates `rule_groups`."""
    with harness.http_server(target) as url:
        extra = [url.removeprefix("http://")]
        with running_prometheus(
            workdir, extra_scrape_targets=extra, extra_rule_groups=rule_groups
        ) as prometheus:
            wait_until_scraped(prometheus, job="extra")
            yield prometheus
