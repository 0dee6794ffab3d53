"""The inspection tools over a real MCP client against the real Prometheus (its rules,
alerts, targets and exemplars come from tests/support/prometheus_process.py), compared with what
the Prometheus HTTP API answers directly; plus flavours that lack an API, and 404s."""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastmcp import Client
from hypothesis import example, given
from hypothesis import strategies as st

from mcp_server.results import converting
from tests.support import answers, harness
from tests.support import prometheus_process as synthetic
from tests.support.answers import call, call_error, direct
from tests.support.harness import McpClient
from tests.support.prometheus_process import RunningPrometheus

END = synthetic.SYNTHETIC_END
START = synthetic.SYNTHETIC_START
INSPECTION_TOOLS = {
    "list_alerts",
    "list_rules",
    "list_targets",
    "find_series",
    "get_tsdb_status",
    "get_build_info",
    "query_exemplars",
}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$")


def _settled(prometheus: RunningPrometheus) -> bool:
    alerts = {
        a["labels"]["alertname"]: a["state"] for a in direct(prometheus, "/api/v1/alerts")["alerts"]
    }
    rules = [r for g in direct(prometheus, "/api/v1/rules")["groups"] for r in g["rules"]]
    targets = {
        t["labels"]["job"]: t["health"]
        for t in direct(prometheus, "/api/v1/targets", state="active")["activeTargets"]
    }
    exemplars = direct(prometheus, "/api/v1/query_exemplars", query=synthetic.EXEMPLAR_METRIC)
    return (
        alerts
        == {
            synthetic.ALERT_FIRING: "firing",
            synthetic.ALERT_PENDING: "pending",
            synthetic.ALERT_TARGET_DOWN: "firing",
        }
        and all(r["health"] != "unknown" for r in rules)
        and targets == {"prometheus": "up", synthetic.EXEMPLARS_JOB: "up", "unreachable": "down"}
        and len(exemplars) == len(synthetic.EXEMPLAR_TRACE_IDS)
    )


@pytest.fixture(scope="module")
def settled(prometheus: RunningPrometheus) -> RunningPrometheus:
    """Prometheus once every rule was evaluated and every target scraped (~5 s after start)."""
    harness.poll(lambda: _settled(prometheus), timeout=30, interval=0.2)
    return prometheus


# --- tools/list -----------------------------------------------------------------------------


async def test_inspection_tools_are_listed_read_only_lean_and_short(mcp: McpClient) -> None:
    tools = await answers.listed_lean(mcp, INSPECTION_TOOLS, description_under=250)
    for name, tool in tools.items():
        properties = list(tool.input_schema["properties"])
        assert properties[0] == "datasource_id" and properties[-1] == "max_tokens", name


async def _cardinality_series(mcp: McpClient, **arguments: Any) -> dict[str, Any]:
    """find_series over the synthetic high-cardinality metric, in the synthetic window."""
    return await call(
        mcp,
        "find_series",
        datasource_id="prom",
        match="demo_cardinality_series",
        start=START,
        end=END,
        **arguments,
    )


async def test_a_small_max_tokens_cuts_an_inspection_result_and_says_so(mcp: McpClient) -> None:
    got = await _cardinality_series(mcp, limit=500, max_tokens=300)
    assert 0 < len(got["series"]) < 50 and got["total"] == synthetic.CARDINALITY_SHARDS
    assert got["truncated"]["total"] == synthetic.CARDINALITY_SHARDS


# --- list_alerts ----------------------------------------------------------------------------


async def test_list_alerts_matches_the_alerts_api_and_names_each_alerts_rule(
    mcp: McpClient, settled: RunningPrometheus
) -> None:
    got = await call(mcp, "list_alerts", datasource_id="prom")
    want = direct(settled, "/api/v1/alerts")["alerts"]
    mine = {
        (a["name"], a["state"], json.dumps(a.get("labels", {}), sort_keys=True), a["value"])
        for a in got["alerts"]
    }
    theirs = {
        (
            a["labels"].pop("alertname"),
            a["state"],
            json.dumps(a["labels"], sort_keys=True),
            float(a["value"]),
        )
        for a in want
    }
    assert mine == theirs and len(mine) == 3
    assert got["total"] == 3 and got["by_state"] == {"firing": 2, "pending": 1}
    assert [a["state"] for a in got["alerts"]] == ["firing", "firing", "pending"]
    firing = got["alerts"][0]
    assert firing["name"] == synthetic.ALERT_FIRING and firing["group"] == "demo-alerts"
    assert firing["labels"] == {"severity": "warning"} and firing["value"] == 1
    assert firing["annotations"] == {
        "summary": "Always firing",
        "description": "value 1 second line",
    }
    assert RFC3339.match(firing["active_at"])
    active = {a["activeAt"] for a in want if a["labels"] == {"severity": "warning"}}
    assert active == {firing["active_at"]}  # as Prometheus wrote it, fraction and all
    rules = {r["name"]: r for r in got["rules"]}
    assert rules[synthetic.ALERT_PENDING] == {
        "group": "demo-alerts",
        "name": synthetic.ALERT_PENDING,
        "query": "vector(2)",
        "for_duration": "1h",
    }
    assert rules[synthetic.ALERT_TARGET_DOWN]["query"] == 'up{job="unreachable"} == 0'
    assert synthetic.ALERT_INACTIVE not in rules  # only the rules of the alerts shown
    assert "truncated" not in got and "note" not in got and "hint" not in got


@pytest.mark.parametrize(
    ("state", "names"),
    [
        ("pending", [synthetic.ALERT_PENDING]),
        ("firing", [synthetic.ALERT_FIRING, synthetic.ALERT_TARGET_DOWN]),
    ],
)
async def test_list_alerts_filters_by_state_and_still_counts_every_state(
    mcp: McpClient, settled: RunningPrometheus, state: str, names: list[str]
) -> None:
    got = await call(mcp, "list_alerts", datasource_id="prom", state=state)
    assert [a["name"] for a in got["alerts"]] == names
    assert got["total"] == len(names)
    assert got["by_state"] == {"firing": 2, "pending": 1}
    assert {r["name"] for r in got["rules"]} == set(names)


async def test_list_alerts_truncates_with_the_total(
    mcp: McpClient, settled: RunningPrometheus
) -> None:
    got = await call(mcp, "list_alerts", datasource_id="prom", limit=1)
    assert [a["name"] for a in got["alerts"]] == [synthetic.ALERT_FIRING]
    assert got["total"] == 3
    assert got["truncated"]["returned"] == 1 and got["truncated"]["total"] == 3
    assert "state" in got["truncated"]["hint"]
    assert [r["name"] for r in got["rules"]] == [synthetic.ALERT_FIRING]


async def test_list_alerts_rejects_an_unknown_state(mcp: McpClient) -> None:
    error = await call_error(mcp, "list_alerts", datasource_id="prom", state="inactive")
    assert error["code"] == "invalid_argument"


# --- list_rules -----------------------------------------------------------------------------


async def test_list_rules_matches_the_rules_api_failing_rules_first(
    mcp: McpClient, settled: RunningPrometheus
) -> None:
    got = await call(mcp, "list_rules", datasource_id="prom")
    groups = direct(settled, "/api/v1/rules")["groups"]
    kinds = {"alerting": "alert", "recording": "record"}
    theirs = {(r["name"], kinds[r["type"]], r["health"]) for g in groups for r in g["rules"]}
    mine = {(r["name"], r["type"], r["health"]) for r in got["rules"]}
    assert mine == theirs
    assert got["total"] == 6 and got["by_health"] == {"ok": 5, "err": 1}
    broken = got["rules"][0]
    assert broken["name"] == synthetic.BROKEN_RULE and broken["health"] == "err"
    assert "many-to-many matching not allowed" in broken["last_error"]
    assert broken["type"] == "record" and broken["group"] == "demo-recording"
    assert RFC3339.match(broken["last_evaluation"])
    assert isinstance(broken["evaluation_seconds"], float)
    assert "state" not in broken and "firing" not in broken
    rules = {r["name"]: r for r in got["rules"]}
    assert rules[synthetic.ALERT_FIRING]["state"] == "firing"
    assert rules[synthetic.ALERT_FIRING]["firing"] == 1
    assert "pending" not in rules[synthetic.ALERT_FIRING]
    assert rules[synthetic.ALERT_PENDING]["state"] == "pending"
    assert rules[synthetic.ALERT_PENDING]["pending"] == 1
    assert rules[synthetic.ALERT_PENDING]["for_duration"] == "1h"
    inactive = rules[synthetic.ALERT_INACTIVE]
    assert (
        inactive["state"] == "inactive" and "firing" not in inactive and "pending" not in inactive
    )
    assert rules[synthetic.RECORDING_RULE]["query"] == "sum by (job) (up)"
    files = {g["name"]: g for g in got["groups"]}
    assert set(files) == {"demo-alerts", "demo-recording"}
    assert files["demo-alerts"]["file"].endswith("rules.yml")
    assert files["demo-alerts"]["interval_seconds"] == 1


@pytest.mark.parametrize(
    ("arguments", "names"),
    [
        ({"type": "record"}, {synthetic.RECORDING_RULE, synthetic.BROKEN_RULE}),
        (
            {"type": "alert", "name_pattern": "Fir"},
            {synthetic.ALERT_FIRING, synthetic.ALERT_INACTIVE},
        ),
        ({"name_pattern": "^job:"}, {synthetic.RECORDING_RULE}),
        ({"type": "record", "name_pattern": "^Demo"}, set()),
    ],
)
async def test_list_rules_filters_by_type_and_name_pattern(
    mcp: McpClient, settled: RunningPrometheus, arguments: dict[str, str], names: set[str]
) -> None:
    got = await call(mcp, "list_rules", datasource_id="prom", **arguments)
    assert {r["name"] for r in got["rules"]} == names
    assert got["total"] == len(names)
    if not names:
        assert got["hint"] and got["groups"] == []


async def test_list_rules_truncates_with_the_total(
    mcp: McpClient, settled: RunningPrometheus
) -> None:
    got = await call(mcp, "list_rules", datasource_id="prom", limit=2)
    assert len(got["rules"]) == 2 and got["total"] == 6
    assert got["truncated"] == {"returned": 2, "total": 6, "hint": got["truncated"]["hint"]}
    assert got["rules"][0]["name"] == synthetic.BROKEN_RULE


async def test_list_rules_rejects_a_broken_name_pattern(mcp: McpClient) -> None:
    error = await call_error(mcp, "list_rules", datasource_id="prom", name_pattern="Demo(")
    assert error["code"] == "invalid_argument" and "name_pattern" in error["message"]


# --- list_targets ---------------------------------------------------------------------------


async def test_list_targets_matches_the_targets_api_down_first_with_the_dropped_count(
    mcp: McpClient, settled: RunningPrometheus
) -> None:
    got = await call(mcp, "list_targets", datasource_id="prom")
    want = direct(settled, "/api/v1/targets", state="active")["activeTargets"]
    mine = {(t["job"], t["instance"], t["health"]) for t in got["targets"]}
    theirs = {(t["labels"]["job"], t["labels"]["instance"], t["health"]) for t in want}
    assert mine == theirs and len(mine) == 3
    assert got["total"] == 3 and got["by_health"] == {"up": 2, "down": 1}
    assert got["dropped"] == 1
    down = got["targets"][0]
    assert (down["job"], down["health"]) == ("unreachable", "down")
    assert down["instance"] == settled.unreachable_target
    assert "connection refused" in down["last_error"]
    assert [t["job"] for t in got["targets"][1:]] == ["exemplars", "prometheus"]
    for target in got["targets"]:
        assert RFC3339.match(target["last_scrape"])
        assert isinstance(target["last_scrape_seconds"], float)
        assert target["scrape_url"].startswith(f"http://{target['instance']}/metrics")
    assert "discoveredLabels" not in json.dumps(got) and "__param" not in json.dumps(got)


async def test_list_targets_never_shows_the_secrets_of_a_target(
    mcp: McpClient, settled: RunningPrometheus
) -> None:
    raw = direct(settled, "/api/v1/targets", state="active")["activeTargets"]
    token = synthetic.UNREACHABLE_SECRETS[0]
    assert any(token in t["scrapeUrl"] and token in t["lastError"] for t in raw)  # the risk
    result = await mcp.call_tool("list_targets", {"datasource_id": "prom"})
    text = result.content[0].text  # type: ignore[union-attr]
    for secret in synthetic.UNREACHABLE_SECRETS:
        assert secret not in text
        assert secret not in json.dumps(result.structured_content)
    down = next(t for t in json.loads(text)["targets"] if t["health"] == "down")
    assert down["scrape_url"] == f"http://{settled.unreachable_target}/metrics?token=REDACTED"
    assert f'"http://{settled.unreachable_target}/metrics?token=REDACTED"' in down["last_error"]


@pytest.mark.parametrize(
    ("arguments", "jobs", "dropped"),
    [
        ({"state": "down"}, ["unreachable"], 1),
        ({"state": "up"}, ["exemplars", "prometheus"], 1),
        ({"job": "prometheus"}, ["prometheus"], 0),
        ({"job": "unreachable"}, ["unreachable"], 1),
        ({"job": "unreachable", "state": "up"}, [], 1),
    ],
)
async def test_list_targets_filters_by_state_and_job(
    mcp: McpClient,
    settled: RunningPrometheus,
    arguments: dict[str, str],
    jobs: list[str],
    dropped: int,
) -> None:
    got = await call(mcp, "list_targets", datasource_id="prom", **arguments)
    assert [t["job"] for t in got["targets"]] == jobs
    assert got["total"] == len(jobs) and got["dropped"] == dropped
    if not jobs:
        assert "job" in got["hint"]


async def test_list_targets_truncates_with_the_total(
    mcp: McpClient, settled: RunningPrometheus
) -> None:
    got = await call(mcp, "list_targets", datasource_id="prom", limit=1)
    assert [t["health"] for t in got["targets"]] == ["down"]
    assert got["truncated"]["returned"] == 1 and got["truncated"]["total"] == 3


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("http://h:9100/metrics", "http://h:9100/metrics"),
        ("https://user:pw@h/metrics", "https://REDACTED@h/metrics"),
        ("https://tok@h/m?module=http_2xx", "https://REDACTED@h/m?module=http_2xx"),
        (
            "http://h/probe?target=x&apikey=1&access_token=2&X-Amz-Signature=3&password=4",
            "http://h/probe?target=x&apikey=REDACTED&access_token=REDACTED"
            "&X-Amz-Signature=REDACTED&password=REDACTED",
        ),
        ("http://h/m?auth%5Fkey=s&flag", "http://h/m?auth%5Fkey=REDACTED&flag"),
        ("http://h/m?client_secret=&empty", "http://h/m?client_secret=REDACTED&empty"),
    ],
)
def test_redact_url_removes_userinfo_and_secret_looking_parameters(url: str, redacted: str) -> None:
    assert converting.redact_url(url) == redacted


def test_redact_text_redacts_every_url_quoted_in_an_error() -> None:
    error = 'Get "http://a:b@h:1/m?token=t": dial tcp h:1: refused; also https://h/x?key=k.'
    assert converting.redact_text(error) == (
        'Get "http://REDACTED@h:1/m?token=REDACTED": dial tcp h:1: refused; also '
        "https://h/x?key=REDACTED"
    )


# --- find_series ----------------------------------------------------------------------------


async def test_find_series_matches_the_series_api(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    match = 'demo_queue_depth{instance="worker-1"}'
    got = await call(mcp, "find_series", datasource_id="prom", match=match, start=START, end=END)
    want = direct(prometheus, "/api/v1/series", **{"match[]": match, "start": START, "end": END})
    assert got["series"] == sorted(want, key=lambda s: json.dumps(s, sort_keys=True))
    assert got["total"] == 2 and {s["queue"] for s in got["series"]} == set(synthetic.QUEUE_NAMES)
    assert got["match"] == match
    assert RFC3339.match(got["start"]) and RFC3339.match(got["end"])


async def test_find_series_truncates_with_the_total(mcp: McpClient) -> None:
    got = await _cardinality_series(mcp, limit=10)
    assert len(got["series"]) == 10 and got["total"] == synthetic.CARDINALITY_SHARDS
    assert got["truncated"]["total"] == synthetic.CARDINALITY_SHARDS


async def test_find_series_defaults_to_the_last_hour_and_explains_an_empty_answer(
    mcp: McpClient,
) -> None:
    recent = await call(mcp, "find_series", datasource_id="prom", match="demo_queue_depth")
    assert recent["total"] == 4  # the synthetic history ends a minute before the session
    old = await call(
        mcp, "find_series", datasource_id="prom", match="demo_queue_depth", end=START - 60
    )
    assert old["series"] == [] and old["total"] == 0
    assert "widen start" in old["hint"]


@pytest.mark.parametrize(
    ("match", "code"),
    [
        ("rate(up[5m])", "invalid_argument"),
        ("sum(up)", "invalid_argument"),
        ("up{", "invalid_query"),
    ],
)
async def test_find_series_accepts_only_series_selectors(
    mcp: McpClient, match: str, code: str
) -> None:
    error = await call_error(mcp, "find_series", datasource_id="prom", match=match)
    assert error["code"] == code


# --- get_tsdb_status ------------------------------------------------------------------------


async def test_get_tsdb_status_matches_the_tsdb_api_capped_by_limit(
    mcp: McpClient, settled: RunningPrometheus
) -> None:
    for _ in range(3):  # live series keep arriving: retry until one pair agrees
        got = await call(mcp, "get_tsdb_status", datasource_id="prom", limit=3)
        want = direct(settled, "/api/v1/status/tsdb")
        names = {e["name"]: e["value"] for e in want["seriesCountByMetricName"][:3]}
        if got["series_count_by_metric_name"] == names:
            break
    else:
        pytest.fail(f"{got} never agreed with {want}")
    head = got["head"]
    assert head["series"] > 0 and head["chunks"] > 0 and head["label_pairs"] > 0
    assert RFC3339.match(head["min_time"]) and RFC3339.match(head["max_time"])
    assert head["min_time"] <= head["max_time"]
    pairs = {
        "series_count_by_metric_name": "seriesCountByMetricName",
        "label_value_count_by_label_name": "labelValueCountByLabelName",
        "memory_in_bytes_by_label_name": "memoryInBytesByLabelName",
        "series_count_by_label_value_pair": "seriesCountByLabelValuePair",
    }
    for ours, theirs in pairs.items():
        top = got[ours]
        assert len(top) == 3, ours  # Prometheus 2.42 ignores limit and sends 10
        assert list(top.values()) == sorted(top.values(), reverse=True), ours
        assert set(top) <= {entry["name"] for entry in want[theirs]}, ours


async def test_get_tsdb_status_defaults_to_ten_per_list(mcp: McpClient) -> None:
    got = await call(mcp, "get_tsdb_status", datasource_id="prom")
    assert len(got["series_count_by_label_value_pair"]) == 10


# --- get_build_info -------------------------------------------------------------------------


async def test_get_build_info_has_build_and_runtime_information(
    mcp: McpClient, prometheus: RunningPrometheus
) -> None:
    got = await call(mcp, "get_build_info", datasource_id="prom")
    build = direct(prometheus, "/api/v1/status/buildinfo")
    runtime = direct(prometheus, "/api/v1/status/runtimeinfo")
    assert got["version"] == build["version"] == prometheus.version
    assert got["revision"] == build["revision"] and got["go_version"] == build["goVersion"]
    assert got["storage_retention"] == runtime["storageRetention"] == "30d"
    assert got["reload_config_success"] is True
    assert RFC3339.match(got["start_time"])
    assert got["start_time"] == runtime["startTime"]  # every digit Prometheus wrote
    assert isinstance(got["goroutines"], int) and got["gomaxprocs"] == runtime["GOMAXPROCS"]
    assert "note" not in got


# --- query_exemplars ------------------------------------------------------------------------


async def test_query_exemplars_matches_the_exemplars_api(
    mcp: McpClient, settled: RunningPrometheus
) -> None:
    got = await call(mcp, "query_exemplars", datasource_id="prom", promql=synthetic.EXEMPLAR_METRIC)
    want = direct(settled, "/api/v1/query_exemplars", query=synthetic.EXEMPLAR_METRIC)
    mine = {
        (s["labels"]["path"], e["labels"]["trace_id"], e["value"], e["time"])
        for s in got["series"]
        for e in s["exemplars"]
    }
    theirs = {
        (s["seriesLabels"]["path"], e["labels"]["trace_id"], float(e["value"]), e["timestamp"])
        for s in want
        for e in s["exemplars"]
    }
    assert mine == theirs
    assert {(path, trace) for path, trace, _, _ in mine} == set(
        synthetic.EXEMPLAR_TRACE_IDS.items()
    )
    assert got["total"] == 2 and "truncated" not in got and "hint" not in got
    assert got["series"][0]["labels"]["job"] == synthetic.EXEMPLARS_JOB


async def test_query_exemplars_truncates_with_the_total(
    mcp: McpClient, settled: RunningPrometheus
) -> None:
    got = await call(
        mcp, "query_exemplars", datasource_id="prom", promql=synthetic.EXEMPLAR_METRIC, limit=1
    )
    assert len(got["series"]) == 1 and len(got["series"][0]["exemplars"]) == 1
    assert got["truncated"]["returned"] == 1 and got["truncated"]["total"] == 2


async def test_query_exemplars_without_exemplars_explains_why(mcp: McpClient) -> None:
    got = await call(
        mcp, "query_exemplars", datasource_id="prom", promql="demo_queue_depth", start="now-2h"
    )
    assert got["series"] == [] and got["total"] == 0
    assert "exemplar storage" in got["hint"]


async def test_query_exemplars_answers_bad_promql_with_prometheus_position(
    mcp: McpClient,
) -> None:
    error = await call_error(mcp, "query_exemplars", datasource_id="prom", promql="rate(x[5m]")
    assert error["code"] == "invalid_query"
    assert (error["line"], error["column"]) == (1, 11)


# --- flavours without an API, and backends answering 404 -----------------------------------


class _OnlyBuildInfo(harness.Handler):
    """A backend that serves build information and answers 404 to everything else."""

    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/status/buildinfo"):
            self.reply(json.dumps({"status": "success", "data": {"version": "9.9.9"}}).encode())
        else:
            self.otherwise()

    def do_POST(self) -> None:
        self.do_GET()

    def otherwise(self) -> None:
        self.reply(b"404 page not found\n", "text/plain", status=404)


class _NoContent(_OnlyBuildInfo):
    """Build information, and HTTP 204 without a body for everything else: what Prometheus
    answers when a handler has no data (exemplars of an expression without a selector)."""

    def otherwise(self) -> None:
        self.send_response(204)
        self.end_headers()


@pytest.fixture(scope="module")
def flavours(
    tmp_path_factory: pytest.TempPathFactory, prometheus: RunningPrometheus
) -> Iterator[harness.RunningServer]:
    """Mimir and VictoriaMetrics datasources pointing at the real Prometheus, and a
    Prometheus-typed datasource whose backend answers 404 to all but buildinfo."""
    with (
        harness.http_server(_OnlyBuildInfo) as only_build_info,
        harness.http_server(_NoContent) as no_content,
    ):
        path: pathlib.Path = tmp_path_factory.mktemp("flavours") / "datasources.yaml"
        flavour = {"jsonData": {"prometheusType": "Mimir"}}
        document = {
            "apiVersion": 1,
            "datasources": [
                {"name": "mimir", "type": "prometheus", "url": prometheus.url, **flavour},
                {
                    "name": "victoria",
                    "type": "prometheus",
                    "url": prometheus.url,
                    "jsonData": {"prometheusType": "VictoriaMetrics"},
                },
                {"name": "old", "type": "prometheus", "url": only_build_info},
                {"name": "quiet", "type": "prometheus", "url": no_content},
            ],
        }
        path.write_text(json.dumps(document))
        config = harness.make_settings(sources={"datasources_path": path})
        with harness.serve_in_thread(config) as running:
            yield running


@pytest.mark.parametrize(
    ("datasource", "tool", "arguments", "says"),
    [
        ("mimir", "list_targets", {}, "Mimir, which has no targets API"),
        ("mimir", "get_tsdb_status", {}, "Mimir, which has no TSDB status API"),
        ("victoria", "query_exemplars", {"promql": "up"}, "no exemplars API"),
        ("old", "list_alerts", {}, "alerts API (HTTP 404)"),
        ("old", "list_rules", {}, "rules API (HTTP 404)"),
        ("old", "list_targets", {}, "targets API (HTTP 404)"),
        ("old", "get_tsdb_status", {}, "TSDB status API (HTTP 404)"),
        ("old", "query_exemplars", {"promql": "up"}, "exemplars API (HTTP 404)"),
    ],
)
async def test_an_api_the_backend_lacks_is_reported_as_unsupported(
    flavours: harness.RunningServer,
    datasource: str,
    tool: str,
    arguments: dict[str, str],
    says: str,
) -> None:
    async with Client(flavours.mcp_url) as mcp:
        error = await call_error(mcp, tool, datasource_id=datasource, **arguments)
    assert error["code"] == "unsupported" and says in error["message"], error
    assert "127.0.0.1" not in error["message"]


async def test_query_exemplars_of_an_expression_without_a_selector_finds_none(
    mcp: McpClient,
) -> None:
    """Prometheus answers HTTP 204 with no body here: no exemplars, not a broken backend."""
    got = await call(mcp, "query_exemplars", datasource_id="prom", promql="0")
    assert got["series"] == [] and got["total"] == 0
    assert "exemplar storage" in got["hint"]


@pytest.mark.parametrize(
    ("tool", "arguments", "empty"),
    [
        ("list_alerts", {}, "alerts"),
        ("list_rules", {}, "rules"),
        ("list_targets", {}, "targets"),
        ("query_exemplars", {"promql": "up"}, "series"),
    ],
)
async def test_an_optional_api_answering_without_a_body_has_nothing_to_report(
    flavours: harness.RunningServer, tool: str, arguments: dict[str, str], empty: str
) -> None:
    async with Client(flavours.mcp_url) as mcp:
        got = await call(mcp, tool, datasource_id="quiet", **arguments)
    assert got[empty] == [] and got["total"] == 0 and got["hint"], got


async def test_tsdb_status_and_runtime_information_without_a_body_say_there_are_none(
    flavours: harness.RunningServer,
) -> None:
    async with Client(flavours.mcp_url) as mcp:
        tsdb = await call(mcp, "get_tsdb_status", datasource_id="quiet")
        build = await call(mcp, "get_build_info", datasource_id="quiet")
    assert tsdb == {"datasource": "quiet", "hint": "the backend sent no TSDB statistics"}
    assert build["version"] == "9.9.9" and "no runtime information" in build["note"], build


async def test_a_query_answered_without_a_body_is_a_bad_response_naming_the_empty_body(
    flavours: harness.RunningServer,
) -> None:
    async with Client(flavours.mcp_url) as mcp:
        error = await call_error(mcp, "query_instant", datasource_id="quiet", promql="up")
    assert error["code"] == "bad_response" and "empty body" in error["message"], error


async def test_get_build_info_without_runtime_information_returns_the_build_with_a_note(
    flavours: harness.RunningServer, prometheus: RunningPrometheus
) -> None:
    async with Client(flavours.mcp_url) as mcp:
        mimir = await call(mcp, "get_build_info", datasource_id="mimir")
        old = await call(mcp, "get_build_info", datasource_id="old")
    assert mimir["version"] == prometheus.version and "storage_retention" not in mimir
    assert "no runtime information" in mimir["note"] and "Mimir" in mimir["note"]
    assert old == {
        "datasource": "old",
        "version": "9.9.9",
        "note": old["note"],
    }
    assert "HTTP 404" in old["note"]


async def test_list_alerts_on_a_flavour_with_alerts_works_through_the_same_code(
    flavours: harness.RunningServer, settled: RunningPrometheus
) -> None:
    async with Client(flavours.mcp_url) as mcp:
        got = await call(mcp, "list_alerts", datasource_id="mimir")
    assert got["by_state"] == {"firing": 2, "pending": 1}
    assert all(a["group"] == "demo-alerts" for a in got["alerts"])


# --- arbitrary arguments --------------------------------------------------------------------

_text = st.text(max_size=40)
_time = st.one_of(st.none(), _text, st.integers(-(10**12), 10**12))
FUZZED: dict[str, Any] = {
    "list_alerts": st.fixed_dictionaries({"state": st.one_of(st.none(), _text)}),
    "list_rules": st.fixed_dictionaries(
        {"type": st.one_of(st.none(), _text), "name_pattern": st.one_of(st.none(), _text)}
    ),
    "list_targets": st.fixed_dictionaries(
        {"job": st.one_of(st.none(), _text), "limit": st.integers(-2, 20_000)}
    ),
    "find_series": st.fixed_dictionaries({"match": _text, "start": _time, "end": _time}),
    "get_tsdb_status": st.fixed_dictionaries({"limit": st.integers(-2, 2_000)}),
    "query_exemplars": st.fixed_dictionaries({"promql": _text, "start": _time}),
}
CODES = {"invalid_argument", "invalid_query", "query_rejected"}
FOUND: dict[str, list[dict[str, Any]]] = {
    "query_exemplars": [{"promql": "0"}],  # HTTP 204 from Prometheus 2.42: no exemplars
}
"""Inputs that once broke a tool, always tried first (Hypothesis may not find them again)."""


@pytest.mark.parametrize("tool", sorted(FUZZED))
def test_any_arguments_give_a_result_or_a_coded_tool_error(
    server: harness.RunningServer, tool: str
) -> None:
    def check(arguments: dict[str, Any]) -> None:
        payload = {"datasource_id": "prom", **{k: v for k, v in arguments.items() if v is not None}}
        answers.assert_result_or_coded_error(server.mcp_url, tool, payload, CODES)

    fuzz = given(arguments=FUZZED[tool])(check)
    for found in FOUND.get(tool, []):
        fuzz = example(arguments=found)(fuzz)
    answers.fuzzing(max_examples=15)(fuzz)()
