"""Tests that catch a broken real-Prometheus fixture (tests/support/prometheus_process.py)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import harness, ports
from tests.support.prometheus_process import (
    CARDINALITY_SHARDS,
    HISTOGRAM_BUCKETS,
    QUEUE_INSTANCES,
    QUEUE_NAMES,
    STEP,
    SYNTHETIC_END,
    SYNTHETIC_START,
    PrometheusUnavailable,
    RunningPrometheus,
    expected_cardinality_value,
    expected_counter_rate,
    expected_counter_value,
    expected_histogram_bucket,
    expected_histogram_count,
    expected_queue_depth,
    find_binary,
    running_prometheus,
    synthetic_openmetrics,
    wait_until_scraped,
)

DEADLINE_S = 10.0


class _ExtraTarget(harness.Handler):
    def do_GET(self) -> None:
        body = b"# TYPE demo_extra_metric gauge\ndemo_extra_metric 42\n"
        self.reply(body, harness.EXPOSITION, status=200 if self.path == "/metrics" else 404)


@pytest.fixture(scope="module")
def extra_target() -> Iterator[str]:
    with harness.http_server(_ExtraTarget) as url:
        yield url.removeprefix("http://")


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, extra_target: str
) -> Iterator[RunningPrometheus]:
    with running_prometheus(
        tmp_path_factory.mktemp("prometheus"), extra_scrape_targets=[extra_target]
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0, trust_env=False) as c:
        yield c


def _query(client: httpx.Client, prom: RunningPrometheus, query: str, **params: str | int) -> Any:
    response = client.get(f"{prom.url}/api/v1/query", params={"query": query, **params})
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def _poll(check: Callable[[], Any], what: str) -> Any:
    """Return the first truthy check() result, failing after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    pytest.fail(f"{what} within {DEADLINE_S}s; last result: {last!r}")


def test_the_backfilled_counter_at_synthetic_end_equals_expected_counter_value(
    prometheus: RunningPrometheus, client: httpx.Client
) -> None:
    selector = 'demo_http_requests_total{instance="api-1:8080",method="GET",code="200"}'
    result = _query(client, prometheus, selector, time=SYNTHETIC_END)
    assert len(result) == 1
    assert result[0]["metric"]["job"] == "demo-api"
    assert float(result[0]["value"][1]) == expected_counter_value(
        "api-1:8080", "GET", "200", SYNTHETIC_END
    )


def test_all_twelve_counter_series_match_their_expected_value_mid_window(
    prometheus: RunningPrometheus, client: httpx.Client
) -> None:
    t = SYNTHETIC_START + 3 * 3600 + 30  # between two samples: the older one is returned
    result = _query(client, prometheus, "demo_http_requests_total", time=t)
    assert len(result) == 12
    for series in result:
        labels = series["metric"]
        expected = expected_counter_value(labels["instance"], labels["method"], labels["code"], t)
        assert float(series["value"][1]) == expected, labels


def test_rate_of_the_counter_equals_expected_counter_rate(
    prometheus: RunningPrometheus, client: httpx.Client
) -> None:
    selector = 'rate(demo_http_requests_total{instance="api-0:8080",method="POST",code="500"}[5m])'
    result = _query(client, prometheus, selector, time=SYNTHETIC_END)
    assert float(result[0]["value"][1]) == pytest.approx(
        expected_counter_rate("api-0:8080", "POST", "500"), rel=1e-9
    )


def test_all_500_cardinality_series_exist_with_their_expected_values(
    prometheus: RunningPrometheus, client: httpx.Client
) -> None:
    result = _query(client, prometheus, "demo_cardinality_series", time=SYNTHETIC_END)
    assert len(result) == CARDINALITY_SHARDS
    values = {int(s["metric"]["shard"]): float(s["value"][1]) for s in result}
    assert values == {
        shard: expected_cardinality_value(shard, SYNTHETIC_END)
        for shard in range(CARDINALITY_SHARDS)
    }


def test_a_range_query_over_six_hours_returns_the_expected_queue_depth_at_every_step(
    prometheus: RunningPrometheus, client: httpx.Client
) -> None:
    response = client.get(
        f"{prometheus.url}/api/v1/query_range",
        params={
            "query": "demo_queue_depth",
            "start": SYNTHETIC_END - 6 * 3600,
            "end": SYNTHETIC_END,
            "step": STEP,
        },
    )
    response.raise_for_status()
    result = response.json()["data"]["result"]
    assert len(result) == len(QUEUE_INSTANCES) * len(QUEUE_NAMES)
    for series in result:
        labels = series["metric"]
        assert len(series["values"]) == 6 * 60 + 1
        for t, value in series["values"]:
            assert float(value) == expected_queue_depth(labels["instance"], labels["queue"], t)


def test_the_histogram_buckets_and_count_match_the_expected_values(
    prometheus: RunningPrometheus, client: httpx.Client
) -> None:
    selector = 'demo_request_duration_seconds_bucket{instance="api-2:8080"}'
    result = _query(client, prometheus, selector, time=SYNTHETIC_END)
    buckets = {s["metric"]["le"]: float(s["value"][1]) for s in result}
    assert buckets == {
        le: expected_histogram_bucket("api-2:8080", le, SYNTHETIC_END) for le in HISTOGRAM_BUCKETS
    }
    assert buckets["+Inf"] == expected_histogram_count("api-2:8080", SYNTHETIC_END)


def test_up_for_job_prometheus_becomes_one_because_prometheus_scrapes_itself(
    prometheus: RunningPrometheus, client: httpx.Client
) -> None:
    result = _poll(
        lambda: [
            s for s in _query(client, prometheus, 'up{job="prometheus"}') if s["value"][1] == "1"
        ],
        'up{job="prometheus"} did not become 1',
    )
    assert result[0]["metric"]["instance"] == f"127.0.0.1:{prometheus.port}"


def test_an_extra_scrape_target_is_scraped_under_job_extra(
    prometheus: RunningPrometheus, client: httpx.Client, extra_target: str
) -> None:
    result = _poll(
        lambda: _query(client, prometheus, 'demo_extra_metric{job="extra"}'),
        "demo_extra_metric from the extra target did not appear",
    )
    assert result[0]["metric"]["instance"] == extra_target
    assert result[0]["value"][1] == "42"


def test_wait_until_scraped_returns_once_every_target_of_the_job_is_up(
    prometheus: RunningPrometheus, client: httpx.Client
) -> None:
    wait_until_scraped(prometheus, job="extra")
    result = _query(client, prometheus, 'up{job="extra"}')
    assert [s["value"][1] for s in result] == ["1"]


def test_wait_until_scraped_times_out_for_a_job_that_does_not_exist(
    prometheus: RunningPrometheus,
) -> None:
    with pytest.raises(TimeoutError, match="no-such-job"):
        wait_until_scraped(prometheus, job="no-such-job", timeout=0.3)


def test_the_running_prometheus_reports_its_version(prometheus: RunningPrometheus) -> None:
    assert prometheus.version[0].isdigit()
    assert prometheus.url == f"http://127.0.0.1:{prometheus.port}"
    assert prometheus.data_dir.is_dir()


def test_prometheus_is_stopped_when_the_with_block_raises(tmp_path: Path) -> None:
    urls: list[str] = []

    def use_then_fail() -> None:
        with running_prometheus(tmp_path) as prom:
            urls.append(prom.url)
            assert httpx.get(f"{prom.url}/-/ready", trust_env=False).status_code == 200
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        use_then_fail()
    assert urls
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{urls[0]}/-/ready", trust_env=False, timeout=2.0)


def test_a_port_taken_between_picking_and_binding_is_retried_on_another_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken: int = squatter.getsockname()[1]
        real_free_port = ports.free_port
        picks = iter([taken])
        monkeypatch.setattr(ports, "free_port", lambda: next(picks, None) or real_free_port())
        with running_prometheus(tmp_path) as prom:
            assert prom.port != taken
    assert "address already in use" in (tmp_path / "prometheus.log").read_text()


def test_find_binary_with_prometheus_bin_pointing_at_a_missing_file_raises_a_helpful_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-prometheus"
    monkeypatch.setenv("PROMETHEUS_BIN", str(missing))
    with pytest.raises(PrometheusUnavailable) as caught:
        find_binary()
    message = str(caught.value)
    assert str(missing) in message
    assert "apt-get install prometheus" in message
    assert "PROMETHEUS_BIN" in message


def test_synthetic_openmetrics_is_deterministic_and_ends_with_eof() -> None:
    first = synthetic_openmetrics(SYNTHETIC_START, SYNTHETIC_START + 600)
    assert first == synthetic_openmetrics(SYNTHETIC_START, SYNTHETIC_START + 600)
    assert first.endswith("# EOF\n")
    assert "# TYPE demo_http_requests_total counter" in first
    assert "# HELP demo_http_requests_total " in first
