"""Discovery sees what a query sees: a metric, label or value scraped seconds ago is found by
the discovery tools and never reported missing by the empty-result diagnosis, although
discovery answers are cached (CACHE_SECONDS) on an aligned window.

A real Prometheus scrapes, every second, a tiny target whose /metrics gains series
mid-test. Each scenario first asks while the series is absent (an answer a cache would
remember), then serves it, waits until a plain query returns it, and asks again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest

from mcp_server.backends import catalogue
from tests.support import harness, prometheus_process
from tests.support.answers import call, direct
from tests.support.harness import McpClient
from tests.support.prometheus_process import (
    RunningPrometheus,
)


class Target(harness.MetricsTarget):
    """Serves `lines` (selector -> exposition line); tests add to it."""

    lines: ClassVar[dict[str, str]] = {
        "fresh_base_metric": "fresh_base_metric 1",
        'fresh_value_metric{kind="old"}': 'fresh_value_metric{kind="old"} 1',
    }
    lock = threading.Lock()

    def exposition(self) -> str:
        with self.lock:
            return "".join(line + "\n" for line in self.lines.values())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    with prometheus_process.scraping(Target, tmp_path_factory.mktemp("fresh-prometheus")) as prom:
        yield prom


server = harness.server_of("live", "live")


def early_in_a_cache_slot() -> None:
    """Start where the whole scenario fits in one CACHE_SECONDS slot of the wall clock: on a
    server that aligns windows down (the bug this guards against) every call then hits one
    cache entry, so the test fails there every time, not only when the slot holds still."""
    slot = catalogue.CACHE_SECONDS
    harness.poll(lambda: time.time() % slot < slot - 10, timeout=slot + 1)


def serve(prometheus: RunningPrometheus, selector: str, line: str) -> None:
    """Add a series to the target, and wait until a query at now returns it."""
    with Target.lock:
        Target.lines[selector] = line
    harness.poll(lambda: bool(direct(prometheus, "/api/v1/query", query=selector)["result"]))


async def test_a_metric_scraped_seconds_ago_is_listed_and_found_by_pattern(
    mcp: McpClient, live: RunningPrometheus
) -> None:
    early_in_a_cache_slot()
    before = await call(mcp, "find_metrics_by_pattern", datasource_id="live", pattern="fresh_")
    assert before["metrics"] == ["fresh_base_metric", "fresh_value_metric"]
    listed = await call(mcp, "list_metrics", datasource_id="live", limit=10_000)
    assert "fresh_arrival_total" not in listed["metrics"]

    serve(live, "fresh_arrival_total", "fresh_arrival_total 1")
    found = await call(mcp, "find_metrics_by_pattern", datasource_id="live", pattern="fresh_")
    assert found["metrics"] == ["fresh_arrival_total", "fresh_base_metric", "fresh_value_metric"]
    listed = await call(mcp, "list_metrics", datasource_id="live", limit=10_000)
    assert "fresh_arrival_total" in listed["metrics"]


async def test_a_metric_a_query_returns_is_never_diagnosed_as_missing(
    mcp: McpClient, live: RunningPrometheus
) -> None:
    early_in_a_cache_slot()
    absent = await call(mcp, "query_instant", datasource_id="live", promql="fresh_late_metric")
    assert absent["total_series"] == 0
    assert absent["suggestions"][0].startswith('metric "fresh_late_metric" has no series')

    serve(live, "fresh_late_metric", 'fresh_late_metric{kind="a"} 1')
    present = await call(mcp, "query_instant", datasource_id="live", promql="fresh_late_metric")
    assert present["total_series"] == 1
    got = await call(
        mcp, "query_instant", datasource_id="live", promql='fresh_late_metric{kind="b"}'
    )
    assert got["suggestions"] == [
        'metric "fresh_late_metric" has no series with kind="b" (its values: "a")'
    ]


async def test_a_label_or_value_scraped_seconds_ago_is_never_diagnosed_as_missing(
    mcp: McpClient, live: RunningPrometheus
) -> None:
    early_in_a_cache_slot()
    query = 'fresh_value_metric{kind="new"}'
    absent = await call(mcp, "query_instant", datasource_id="live", promql=query)
    assert absent["suggestions"] == [
        'metric "fresh_value_metric" has no series with kind="new" (its values: "old")'
    ]
    serve(live, query, 'fresh_value_metric{kind="new"} 1')
    got = await call(
        mcp, "query_instant", datasource_id="live", promql='fresh_value_metric{kind="new",zone="z"}'
    )
    assert got["suggestions"] == [
        'metric "fresh_value_metric" has no label "zone" (its labels: "instance", "job", "kind")'
    ]

    zoned = 'fresh_value_metric{kind="new",zone="a"}'
    serve(live, zoned, zoned + " 1")
    got = await call(
        mcp, "query_instant", datasource_id="live", promql='fresh_value_metric{zone="b"}'
    )
    assert got["suggestions"] == [
        'metric "fresh_value_metric" has no series with zone="b" (its values: "a")'
    ]


def test_a_discovery_window_ends_at_or_after_now_and_a_diagnosis_window_covers_its_query() -> None:
    hour = catalogue.LOOKBACK_SECONDS
    assert catalogue.window(None, None, now=1000.5, discovery=True) == (1005 - hour, 1005)
    assert catalogue.window(None, None, now=1005.0, discovery=True) == (1005 - hour, 1005)
    assert catalogue.recent(1000.5) == (1005 - hour, 1005)
    assert catalogue.aligned((993.0, 1000.5)) == (990, 1005)
    assert catalogue.still_open((0, 1005), now=1019.9)
    assert not catalogue.still_open((0, 1005), now=1020.0)
