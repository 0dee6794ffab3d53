"""`proms-mcp demo` (what `make run` starts) answers from its first second: the first call
after /ready is 200 already finds hours of history, `up`, metric names and a firing alert,
and the live scrapes then continue the same series."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastmcp import Client

from mcp_server.demo import synthetic
from tests.support import harness
from tests.support.answers import call, labels_of


@dataclass(frozen=True)
class Demo:
    process: subprocess.Popen[str]
    mcp_url: str
    health_url: str
    ready_after: float  # seconds from the start to /ready 200


def ready(health_url: str) -> bool:
    try:
        return httpx.get(f"{health_url}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def running_demo(folder: pathlib.Path) -> Iterator[Demo]:
    """`python -m mcp_server demo` from an empty folder (no local_config/), until /ready."""
    port, health = harness.free_port(), harness.free_port()
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GRAFANA_DATASOURCES_PATH", "AUTH_MODE", "HOST")
    }
    # Its temporary folder too: a killed demo cannot remove it, pytest will.
    environment.update(PORT=str(port), HEALTH_METRICS_PORT=str(health), TMPDIR=str(folder))
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_server", "demo"],
        cwd=folder,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    health_url = f"http://127.0.0.1:{health}"
    try:
        harness.poll(lambda: ready(health_url) or process.poll() is not None, timeout=40)
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        yield Demo(process, f"http://127.0.0.1:{port}/mcp/", health_url, time.monotonic() - started)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def children(pid: int) -> list[int]:
    """The processes that `pid`'s main thread started (Linux)."""
    text = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def gone(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited, waiting to be reaped


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(tmp_path_factory.mktemp("demo")) as running:
        yield running


DEMO = "demo-prometheus"


def no_nulls(result: dict[str, Any]) -> bool:
    return all(None not in series["values"] for series in result["series"])


async def test_the_first_calls_after_ready_find_history_up_metrics_and_a_firing_alert(
    demo: Demo,
) -> None:
    async with Client(demo.mcp_url) as mcp:
        traffic = await call(
            mcp,
            "query_range",
            datasource_id="demo-prometheus",
            promql="sum by (service) (rate(http_requests_total[5m]))",
            start="now-1h",
        )
        queue = await call(
            mcp, "query_range", datasource_id="demo-prometheus", promql="queue_depth"
        )
        up = await call(mcp, "query_instant", datasource_id="demo-prometheus", promql="up")
        metrics = await call(mcp, "list_metrics", datasource_id="demo-prometheus")
        alerts = await call(mcp, "list_alerts", datasource_id="demo-prometheus")
    assert len(traffic["series"]) == 3 and no_nulls(traffic), traffic
    assert len(traffic["series"][0]["values"]) >= 60  # the whole hour, point by point
    assert len(queue["series"]) == 4 and no_nulls(queue), queue
    shop = [s for s in up["series"] if labels_of(up, s)["job"] == synthetic.JOB]
    assert len(shop) == len(synthetic.INSTANCES) and all(s["value"] == 1 for s in shop), up
    assert {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "queue_depth",
        "up",
    } <= set(metrics["metrics"])
    firing = [a for a in alerts["alerts"] if a["state"] == "firing"]
    assert [(a["name"], a["labels"]["service"]) for a in firing] == [
        (synthetic.ALERT, synthetic.FAILING_SERVICE)
    ], alerts


async def test_live_scrapes_continue_the_backfilled_series_without_a_reset(demo: Demo) -> None:
    """The first scrapes come 5-20 s after the start (Prometheus's 5 s target tick, then the
    15 s interval). A first scrape adds series to its target's cache (the history has 0
    there); metadata only exists live; and no counter restarts at the seam."""
    scraped_shop = 'count(max_over_time(scrape_series_added{job="shop"}[1m]) > 0)'
    async with Client(demo.mcp_url) as mcp:
        deadline = time.monotonic() + 40
        while True:  # polling, bounded by the deadline
            shop = await call(mcp, "query_instant", datasource_id=DEMO, promql=scraped_shop)
            own = await call(mcp, "query_instant", datasource_id=DEMO, promql="up == 1")
            live = bool(shop["series"]) and shop["series"][0]["value"] == len(synthetic.INSTANCES)
            jobs = {labels_of(own, s)["job"] for s in own["series"]}
            if (live and "proms-mcp" in jobs) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        described = await call(
            mcp, "get_metric_metadata", datasource_id=DEMO, metric_name="http_requests_total"
        )
        resets = await call(
            mcp,
            "query_instant",
            datasource_id=DEMO,
            promql="sum(resets(http_requests_total[10m]))",
        )
    assert live and "proms-mcp" in jobs, (shop, own)
    assert described["metadata"][0]["type"] == "counter", described
    assert resets["series"][0]["value"] == 0, resets


def test_the_demo_stops_cleanly_with_its_prometheus_and_printed_the_client_snippet(
    demo: Demo,
) -> None:
    prometheus = children(demo.process.pid)
    assert prometheus
    demo.process.send_signal(signal.SIGTERM)
    output, _ = demo.process.communicate(timeout=20)
    assert demo.process.returncode == 0, output
    assert all(gone(pid) for pid in prometheus)
    assert '"mcpServers"' in output and demo.mcp_url in output
    whole = re.search(r'"message": "demo ready[^\n]*"seconds": ([0-9.]+)', output)
    assert whole, output
    print(f"demo: whole after {whole[1]} s of its own, /ready after {demo.ready_after:.2f} s")


def test_a_killed_demo_takes_its_prometheus_with_it(tmp_path: pathlib.Path) -> None:
    with running_demo(tmp_path) as killed:
        prometheus = children(killed.process.pid)
        assert prometheus
        killed.process.kill()
        killed.process.wait()
        harness.poll(lambda: all(gone(pid) for pid in prometheus), timeout=15)


def test_history_ends_where_the_live_target_starts_for_every_series() -> None:
    shop = synthetic.Shop(time.time())
    last: dict[str, str] = {}
    for line in shop.history().splitlines():
        if not line.startswith("#"):
            series, value, _ = line.rsplit(" ", 2)
            last[series] = value
    for instance in synthetic.INSTANCES:
        exposition = shop.exposition(instance.address, shop.end)
        assert exposition is not None
        target = f'job="{synthetic.JOB}",instance="{instance.address}",service="{instance.service}"'
        for line in exposition.splitlines():
            if line.startswith("#"):
                continue
            sample, value = line.rsplit(" ", 1)
            name, _, own = sample.partition("{")
            labels = f"{target},{own[:-1]}" if own else target
            assert last[f"{name}{{{labels}}}"] == value, sample


def test_live_counters_and_buckets_only_grow_after_the_history() -> None:
    shop = synthetic.Shop(time.time())
    instance = next(i for i in synthetic.INSTANCES if i.service == synthetic.FAILING_SERVICE)
    moments = [shop.end + k * synthetic.STEP_SECONDS for k in range(0, 241)]  # one hour
    seen: dict[str, float] = {}
    for moment in moments:
        text = shop.exposition(instance.address, moment)
        assert text is not None
        for line in text.splitlines():
            sample, value = line.rsplit(" ", 1)
            if line.startswith("#") or sample.startswith("queue_depth"):
                continue
            assert float(value) >= seen.get(sample, 0.0), (sample, moment)
            seen[sample] = float(value)


def test_an_unknown_instance_has_no_exposition() -> None:
    assert synthetic.Shop(time.time()).exposition("10.0.0.1:8080", time.time()) is None


def test_a_missing_promtool_is_named_with_the_fix(tmp_path: pathlib.Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "GRAFANA_DATASOURCES_PATH"}
    environment.update(PORT=str(harness.free_port()), PROMTOOL_BIN=str(tmp_path / "promtool"))
    finished = subprocess.run(
        [sys.executable, "-m", "mcp_server", "demo"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 2, finished
    assert f"PROMTOOL_BIN={tmp_path / 'promtool'} is not an executable file" in finished.stderr
    assert "Traceback" not in finished.stderr + finished.stdout
