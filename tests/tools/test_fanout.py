"""One question to a fleet: five datasources on four real Prometheus processes, one of them
stopped, one behind a proxy that answers late, one without the metric. The merged answer
equals each datasource's own answer from the raw API, and coverage says exactly who is in it."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import harness, prometheus_process
from tests.support.answers import call, call_error, direct
from tests.support.harness import McpClient, RunningServer
from tests.support.prometheus_process import RunningPrometheus

SLOW_SECONDS = 8.0
FANOUT_TIMEOUT = 1.0


class ShardB(harness.MetricsTarget):
    def exposition(self) -> str:
        return 'fleet_value{shard="b1"} 11\nfleet_value{shard="b2"} 12.5\n'


class ShardC(harness.MetricsTarget):
    def exposition(self) -> str:
        return 'fleet_value{shard="c1"} -3\n'


class SlowProxy(harness.Handler):
    """Forwards to `upstream` after SLOW_SECONDS; `responded` is set once it has answered."""

    upstream = ""
    responded = threading.Event()

    def _forward(self, body: bytes | None) -> None:
        time.sleep(SLOW_SECONDS)  # the slowness under test, in the proxy's own thread
        request = urllib.request.Request(
            self.upstream + self.path,
            data=body,
            method=self.command,
            headers={"Content-Type": self.headers.get("Content-Type", "text/plain")},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            self.reply(answer.read(), status=answer.status)
        type(self).responded.set()

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))


def _source(name: str, url: str, env: str = "prod") -> dict[str, Any]:
    return {"name": name, "type": "prometheus", "url": url, "jsonData": {"labels": {"env": env}}}


ALERTING = {
    "name": "fleet",
    "interval": "1s",
    "rules": [{"alert": "FleetShardHot", "expr": "fleet_value > 12", "labels": {"sev": "page"}}],
}


@pytest.fixture(scope="module")
def shard_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    """Shard B's Prometheus, whose rule fires for b2 (12.5) once evaluated."""
    workdir = tmp_path_factory.mktemp("shard-b")
    with prometheus_process.scraping(ShardB, workdir, [ALERTING]) as running:
        yield running


@pytest.fixture(scope="module")
def shard_c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    with prometheus_process.scraping(ShardC, tmp_path_factory.mktemp("shard-c")) as running:
        yield running


@pytest.fixture(scope="module")
def stopped_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The address of a real Prometheus that has been stopped."""
    with prometheus_process.running_prometheus(tmp_path_factory.mktemp("stopped")) as gone:
        url = gone.url
    return url


@pytest.fixture(scope="module")
def server(
    prometheus: RunningPrometheus,
    shard_b: RunningPrometheus,
    shard_c: RunningPrometheus,
    stopped_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningServer]:
    SlowProxy.upstream = shard_b.url
    with harness.http_server(SlowProxy) as slow_url:
        entries = [
            _source("a-without", prometheus.url),
            _source("b", shard_b.url),
            _source("c", shard_c.url),
            _source("d-stopped", stopped_url),
            _source("e-slow", slow_url),
            _source("dev-b", shard_b.url, env="dev"),
        ]
        with harness.serving_datasources(
            tmp_path_factory.mktemp("fleet"),
            *entries,
            prometheus={"fanout_timeout_seconds": FANOUT_TIMEOUT},
        ) as running:
            yield running


def _by_datasource(answer: dict[str, Any]) -> dict[str, dict[frozenset[Any], Any]]:
    common = answer.get("common_labels") or {}
    found: dict[str, dict[frozenset[Any], Any]] = {}
    for series in answer["series"]:
        labels = {**common, **series["labels"]}
        datasource = labels.pop("@datasource")
        value = series.get("value", series.get("values"))
        found.setdefault(datasource, {})[frozenset(labels.items())] = value
    return found


def _raw_vector(prometheus: RunningPrometheus, at: float) -> dict[frozenset[Any], Any]:
    data = direct(prometheus, "/api/v1/query", query="fleet_value", time=at)
    return {frozenset(s["metric"].items()): float(s["value"][1]) for s in data["result"]}


async def test_the_merged_answer_equals_each_datasources_own_and_coverage_is_exact(
    mcp: McpClient, shard_b: RunningPrometheus, shard_c: RunningPrometheus
) -> None:
    at = time.time()
    got = await call(mcp, "query_instant", promql="fleet_value", time=at, labels="env=prod")
    assert _by_datasource(got) == {
        "b": _raw_vector(shard_b, at),
        "c": _raw_vector(shard_c, at),
    }
    coverage = got["coverage"]
    assert {k: coverage[k] for k in ("matched", "answered", "failed", "timed_out", "cut")} == {
        "matched": 5,
        "answered": 3,
        "failed": 1,
        "timed_out": 1,
        "cut": 0,
    }
    assert [(e["datasource"], e["code"]) for e in coverage["errors"]] == [
        ("d-stopped", "backend_unavailable"),
        ("e-slow", "timeout"),
    ]
    assert set(coverage["latency_ms"]) == {"a-without", "b", "c", "d-stopped", "e-slow"}
    assert "dev-b" not in str(got)


async def test_a_slow_datasource_times_out_without_holding_the_others(mcp: McpClient) -> None:
    SlowProxy.responded.clear()
    got = await call(mcp, "query_instant", promql="fleet_value", datasources=["b", "e-slow"])
    assert not SlowProxy.responded.is_set(), "the answer waited for the slow datasource"
    assert got["coverage"]["timed_out"] == 1 and got["coverage"]["answered"] == 1
    assert got["coverage"]["latency_ms"]["e-slow"] < SLOW_SECONDS * 1000
    assert {s["labels"]["shard"] for s in got["series"]} == {"b1", "b2"}


async def test_query_range_merges_on_one_grid_equal_to_the_raw_api(
    mcp: McpClient, shard_b: RunningPrometheus, shard_c: RunningPrometheus
) -> None:
    end = float(int(time.time()) - 1)
    window = {"start": end - 10, "end": end, "step": "2s"}
    got = await call(
        mcp, "query_range", promql="fleet_value", datasources="b,c", format="points", **window
    )
    assert got["step_seconds"] == 2 and got["coverage"]["answered"] == 2
    for name, prometheus in (("b", shard_b), ("c", shard_c)):
        raw = direct(
            prometheus,
            "/api/v1/query_range",
            query="fleet_value",
            start=end - 10,
            end=end,
            step=2,
        )
        want = {
            frozenset(s["metric"].items()): [float(v) for _, v in s["values"]]
            for s in raw["result"]
        }
        mine = _by_datasource(got)[name]
        assert {k: [v for v in values if v is not None] for k, values in mine.items()} == want


async def test_one_budget_spans_the_fleet_and_coverage_counts_what_was_cut(
    mcp: McpClient,
) -> None:
    got = await call(
        mcp, "query_instant", promql="fleet_value", datasources="b,c", limit=1, max_tokens=400
    )
    assert got["total_series"] == 3 and len(got["series"]) == 1
    assert got["series"][0]["labels"]["@datasource"] == "b"  # 12.5 is the fleet's highest
    assert got["coverage"]["cut"] == 1  # c answered, but none of its series is shown
    assert got["values"]["sum"] == 11 + 12.5 - 3


async def test_a_query_wrong_everywhere_is_that_error_not_a_coverage_report(
    mcp: McpClient,
) -> None:
    error = await call_error(mcp, "query_instant", promql="sum(", datasources="b,c")
    assert error["code"] == "invalid_query"


async def test_one_datasource_or_many_never_both_and_never_neither(mcp: McpClient) -> None:
    both = await call_error(mcp, "query_instant", promql="up", datasource_id="b", datasources=["c"])
    assert both["code"] == "invalid_argument" and "not both" in both["message"]
    neither = await call_error(mcp, "query_instant", promql="up")
    assert neither["code"] == "invalid_argument" and "datasources" in neither["message"]
    nothing = await call_error(mcp, "query_instant", promql="up", labels="env=qa")
    assert nothing["code"] == "datasource_not_found" and '"env=qa"' in nothing["message"]
    single = await call(mcp, "query_instant", promql="fleet_value", datasource_id="c")
    assert "coverage" not in single and single["series"][0]["labels"]["shard"] == "c1"


def _firing(prometheus: RunningPrometheus) -> list[dict[str, Any]]:
    alerts = direct(prometheus, "/api/v1/alerts")["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == "FleetShardHot"]


async def test_list_alerts_across_the_fleet_tags_each_alert_with_its_datasource(
    mcp: McpClient, shard_b: RunningPrometheus
) -> None:
    harness.poll(lambda: bool(_firing(shard_b)), timeout=30)
    got = await call(mcp, "list_alerts", datasources="b,c")
    hot = [a for a in got["alerts"] if a["name"] == "FleetShardHot"]
    assert [(a["datasource"], a["labels"]["shard"]) for a in hot] == [("b", "b2")]
    assert {r["name"] for r in got["rules"]} >= {"FleetShardHot"}
    assert got["coverage"]["answered"] == 2 and got["coverage"]["cut"] == 0


async def test_find_series_across_the_fleet_equals_each_datasources_series(
    mcp: McpClient, shard_b: RunningPrometheus, shard_c: RunningPrometheus
) -> None:
    got = await call(mcp, "find_series", match="fleet_value", datasources=["b", "c"])
    for name, prometheus in (("b", shard_b), ("c", shard_c)):
        want = direct(prometheus, "/api/v1/series", **{"match[]": "fleet_value"})
        mine = [
            {k: v for k, v in labels.items() if k != "@datasource"}
            for labels in got["series"]
            if labels["@datasource"] == name
        ]
        assert sorted(mine, key=lambda s: sorted(s.items())) == sorted(
            want, key=lambda s: sorted(s.items())
        )
    assert got["total"] == 3


async def test_find_metrics_by_pattern_says_where_a_name_is_only_partly_present(
    mcp: McpClient,
) -> None:
    got = await call(
        mcp, "find_metrics_by_pattern", pattern="fleet_val", datasources="a-without,b,c"
    )
    assert got["metrics"] == ["fleet_value"]
    assert got["where"] == {"fleet_value": ["b", "c"]}
    assert got["coverage"]["answered"] == 3 and got["coverage"]["cut"] == 0
