"""Backend text is data, everywhere (issue #12).

A hostile exporter serves label values and HELP text built to fake structure (`"}]} `,
backslashes), to hide or reorder text (bidi overrides and marks, zero-width and tag
characters, separators, control characters) and to pass as instructions; a dedicated
Prometheus scrapes it every second, along with a target whose scrape error carries the same
text, and evaluates rules whose group name, alert labels, annotations and expressions carry
it too, and sends its alerts (with a hostile external label) to an Alertmanager holding a
silence whose matchers, author and comment carry it. Then every tool (as `tools/list`
names them), resource, prompt and completion is
called with arguments that reach that data, and each answer must keep it as data: a JSON
string value in a data field, a JSON-quoted string inside our own prose, and never one of
the forbidden code points anywhere (the text and the checks: `tests/support/hygiene.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest
from mcp_types import PromptReference, ResourceTemplateReference
from proms_operator import probing

from mcp_server.app import hosting
from mcp_server.backends import facts, prometheus
from mcp_server.core import errors, hygiene
from mcp_server.results import budget
from mcp_server.sources import datasources
from tests.support import alertmanager_process, harness
from tests.support.alertmanager_process import RunningAlertmanager
from tests.support.harness import McpClient
from tests.support.hygiene import (
    HOSTILE,
    INJECTION,
    MAPS,
    MARKER,
    METRIC,
    FailingExporter,
    HostileExporter,
    answer_problems,
    forbidden_in,
    parse_line,
    prose_problems,
)
from tests.support.prometheus_process import RunningPrometheus, running_prometheus

RECORDED = "hostile:injected"
ALERT = "HostileText"
HOSTILE_GROUP = f'hostile "}}]}} {INJECTION} \u202e\u200b'
DATASOURCE = "hostile"
ALERTMANAGER = "hostile-am"
EXTERNAL = {"origin": HOSTILE["bidi"] + HOSTILE["jsonbreak"]}


def _promql_string(text: str) -> str:
    """A PromQL string literal (Go escapes, which JSON's are a subset of)."""
    return json.dumps(text, ensure_ascii=False)


RULE_GROUPS = [
    {
        "name": HOSTILE_GROUP,
        "rules": [
            {
                "alert": ALERT,
                "expr": METRIC,
                "labels": {"injected": HOSTILE["jsonbreak"] + HOSTILE["bidi"]},
                "annotations": {
                    "summary": "{{ $labels.note }}",
                    "description": HOSTILE["controls"] + HOSTILE["tags"],
                },
            },
            {
                "record": RECORDED,
                "expr": f'label_replace(vector(1), "note", '
                f'{_promql_string(HOSTILE["separators"] + HOSTILE["jsonbreak"])}, "", "")',
            },
        ],
    }
]


# --- the fixtures -----------------------------------------------------------------------------


def _settled(prom: RunningPrometheus, am: RunningAlertmanager) -> bool:
    def data(path: str, **params: str) -> Any:
        body = httpx.get(prom.url + path, params=params, trust_env=False, timeout=5).json()
        return body.get("data")

    series = data("/api/v1/series", **{"match[]": METRIC})
    targets = data("/api/v1/targets", state="active")["activeTargets"]
    extra = [t for t in targets if t["labels"]["job"] == "extra"]
    alerts = data("/api/v1/alerts")["alerts"]
    recorded = data("/api/v1/query", query=RECORDED)["result"]
    received = httpx.get(f"{am.url}/api/v2/alerts", trust_env=False, timeout=5).json()
    return (
        sum(a["labels"]["alertname"] == ALERT for a in received) == len(HOSTILE)
        and any(a["status"]["silencedBy"] for a in received)
        and len(series or ()) == len(HOSTILE)
        and len(extra) == 2
        and all(t["health"] != "unknown" for t in extra)
        and any(t["lastError"] for t in extra)
        and sum(a["labels"]["alertname"] == ALERT for a in alerts) == len(HOSTILE)
        and bool(recorded)
    )


@pytest.fixture(scope="module")
def hostile_alertmanager(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningAlertmanager]:
    with alertmanager_process.running_alertmanager(
        tmp_path_factory.mktemp("hostile-alertmanager")
    ) as am:
        matchers = [
            {"name": "alertname", "value": ALERT},
            {"name": "injected", "value": HOSTILE["jsonbreak"] + HOSTILE["bidi"]},
        ]
        text = HOSTILE["controls"] + HOSTILE["tags"] + HOSTILE["newline"]
        alertmanager_process.create_silence(am, matchers, comment=text, created_by=text)
        yield am


@pytest.fixture(scope="module")
def hostile_prometheus(
    tmp_path_factory: pytest.TempPathFactory, hostile_alertmanager: RunningAlertmanager
) -> Iterator[RunningPrometheus]:
    with (
        harness.http_server(HostileExporter) as exporter,
        harness.http_server(FailingExporter) as failing,
        running_prometheus(
            tmp_path_factory.mktemp("hostile-prometheus"),
            extra_scrape_targets=[exporter.split("//")[1], failing.split("//")[1]],
            extra_rule_groups=RULE_GROUPS,
            alertmanager=hostile_alertmanager.url,
            external_labels=EXTERNAL,
        ) as prom,
    ):
        harness.poll(lambda: _settled(prom, hostile_alertmanager), timeout=30, interval=0.2)
        yield prom


@pytest.fixture(scope="module")
def hostile_server(
    tmp_path_factory: pytest.TempPathFactory,
    hostile_prometheus: RunningPrometheus,
    hostile_alertmanager: RunningAlertmanager,
) -> Iterator[harness.RunningServer]:
    alertmanager = {
        "name": ALERTMANAGER,
        "type": "alertmanager",
        "url": hostile_alertmanager.url,
        "jsonData": {"implementation": "prometheus", "alertsFrom": [DATASOURCE]},
    }
    prometheus = {"name": DATASOURCE, "type": "prometheus", "url": hostile_prometheus.url}
    folder = tmp_path_factory.mktemp("hostile-provisioning")
    with harness.serving_datasources(folder, prometheus, alertmanager) as running:
        yield running


hostile_mcp = harness.client_of("hostile_server")


def _close_to(text: str) -> str:
    """A value slightly off (cleaned) `text`: wrong, but close enough for did-you-mean."""
    return hygiene.clean(text)[:-2] + "x"


TOOL_CALLS: dict[str, list[dict[str, Any]]] = {
    "list_datasources": [{}],
    "list_metrics": [{}],
    "get_metric_metadata": [{"metric_name": METRIC}],
    "query_instant": [
        {"promql": METRIC},
        {"promql": RECORDED},
        {"promql": f"{METRIC}{{note={_promql_string(_close_to(HOSTILE['jsonbreak']))}}}"},
        {"promql": f"{METRIC}{{note={_promql_string(_close_to(HOSTILE['bidi']))}}}"},
        {"promql": f'{METRIC}{{note="x"}}'},
        {"promql": f'{METRIC}{{nte="x"}}'},
        {"promql": f"{METRIC}{{case=~{_promql_string('.+')}}} * on(note) group_left {RECORDED}"},
    ],
    "query_range": [
        {"promql": METRIC, "start": "now-2m", "step": "5s", "format": form}
        for form in ("text", "auto", "points+summary")
    ]
    + [
        {"promql": RECORDED, "start": "now-2m", "step": "5s", "format": "text"},
        {"promql": f'{METRIC}{{note="x"}}', "start": "now-2m", "format": "text"},
        {"promql": f"{METRIC}{{note={_promql_string(_close_to(HOSTILE['tags']))}}}"},
    ],
    "get_metric_labels": [{"metric_name": METRIC}],
    "get_label_values": [
        {"label_name": "note", "metric_name": METRIC},
        {"label_name": "injected"},
    ],
    "find_metrics_by_pattern": [{"pattern": "hostile"}],
    "list_alerts": [{}, {"state": "firing"}],
    "list_rules": [{}, {"name_pattern": "hostile|Hostile"}],
    "list_targets": [{}, {"job": "extra", "state": "down"}],
    "find_series": [  # discovery windows end on a 15 s grid: past the series' first samples
        {"match": match, "end": "now+1m"} for match in (METRIC, RECORDED, "ALERTS")
    ],
    "get_tsdb_status": [{}, {"limit": 1000}],
    "get_build_info": [{}],
    "query_exemplars": [{"promql": METRIC}],
    "check_promql": [{"promql": f'rate({METRIC}{{case="x"}}[1s])'}],
    "estimate_query_cost": [{"promql": METRIC}, {"promql": f"{METRIC} * 0 + {RECORDED}"}],
    "list_alertmanager_alerts": [
        {"datasource_id": ALERTMANAGER},
        {"datasource_id": ALERTMANAGER, "match": f'{ALERT}{{case="jsonbreak"}}'},
    ],
    "list_silences": [{"datasource_id": ALERTMANAGER, "include_expired": True}],
    "list_alert_groups": [{"datasource_id": ALERTMANAGER}],
    "investigate_alert": [
        {"datasource_id": ALERTMANAGER, "alert": f'{ALERT}{{case="{case}"}}'} for case in HOSTILE
    ]
    + [{"alert": f'{ALERT}{{case="jsonbreak"}}'}],
}
"""Arguments that reach the hostile data, per tool (datasource_id added where it is taken)."""
REACHING = {
    "list_alertmanager_alerts",
    "list_silences",
    "list_alert_groups",
    "investigate_alert",
    "get_metric_metadata",
    "query_instant",
    "query_range",
    "get_label_values",
    "list_alerts",
    "list_rules",
    "list_targets",
    "find_series",
}
"""The tools whose answers carry the hostile text itself (the others echo none of it)."""


async def _tool_answers(mcp: McpClient) -> list[tuple[str, dict[str, Any], str]]:
    """Every call of TOOL_CALLS, once with the default budget and once with the smallest,
    where answers are cut down to fit (the cuts must not break quoting either)."""
    tools = {tool.name: tool for tool in await mcp.list_tools()}
    assert set(tools) == set(TOOL_CALLS), "every listed tool must be exercised here"
    answers = []
    for name, calls in TOOL_CALLS.items():
        takes_datasource = "datasource_id" in tools[name].input_schema.get("properties", {})
        for arguments in [*calls, *({**c, "max_tokens": budget.MIN_MAX_TOKENS} for c in calls)]:
            if takes_datasource:
                arguments = {"datasource_id": DATASOURCE, **arguments}
            result = await mcp.call_tool(name, arguments, raise_on_error=False)
            text = result.content[0].text  # type: ignore[union-attr]
            assert not result.is_error, (name, arguments, text)
            answers.append((name, arguments, text))
    return answers


# --- the tests --------------------------------------------------------------------------------


async def test_every_tool_answer_keeps_backend_text_quoted_and_free_of_hiding_characters(
    hostile_mcp: McpClient,
) -> None:
    problems = []
    reached = ""
    reaching = set()
    for name, arguments, text in await _tool_answers(hostile_mcp):
        reached += text
        if INJECTION in text:
            reaching.add(name)
        problems += [f"{name}({arguments}): raw {p}" for p in forbidden_in(text)]
        maps = MAPS | {"series"} if name == "find_series" else MAPS  # its series are label sets
        problems += [
            f"{name}({arguments}): {p}" for p in answer_problems(json.loads(text), maps=maps)
        ]
    assert not problems, "\n".join(problems)
    for part in ("(its values: ", "did you mean ", '"summary":', '"help":', '"last_error":'):
        assert part in reached, f"the hostile data never reached {part!r}"
    assert reaching == REACHING, "these tools should have answered with the hostile text"


async def test_did_you_mean_hints_quote_each_backend_value_as_a_json_string(
    hostile_mcp: McpClient,
) -> None:
    close = _close_to(HOSTILE["jsonbreak"])
    result = await hostile_mcp.call_tool(
        "query_instant",
        {"datasource_id": DATASOURCE, "promql": f"{METRIC}{{note={_promql_string(close)}}}"},
    )
    assert isinstance(result.structured_content, dict)
    (suggestion,) = result.structured_content["suggestions"]
    meant = hygiene.clean(HOSTILE["jsonbreak"])
    assert suggestion.startswith(  # the closest first, then others as close
        f'metric "{METRIC}" has no series with note={json.dumps(close, ensure_ascii=False)}; '
        f"did you mean {json.dumps(meant, ensure_ascii=False)}"
    )


async def test_text_lines_round_trip_through_the_documented_line_format(
    hostile_mcp: McpClient, hostile_prometheus: RunningPrometheus
) -> None:
    for query in (METRIC, RECORDED):
        result = await hostile_mcp.call_tool(
            "query_range",
            {"datasource_id": DATASOURCE, "promql": query, "start": "now-1m", "format": "text"},
        )
        answer = result.structured_content
        assert isinstance(answer, dict) and answer["format"] == "text"
        common = answer.get("common_labels", {})
        got = [{**common, **parse_line(series["line"])} for series in answer["series"]]
        raw = httpx.get(
            hostile_prometheus.url + "/api/v1/series",
            params={"match[]": query},
            trust_env=False,
            timeout=5,
        ).json()["data"]
        expected = [{k: hygiene.clean(v) for k, v in labels.items()} for labels in raw]
        assert sorted(got, key=hygiene.selector) == sorted(expected, key=hygiene.selector)


async def test_resources_prompts_and_completions_keep_backend_text_quoted(
    hostile_mcp: McpClient,
) -> None:
    problems = []
    for uri in (
        "proms://datasources",
        f"proms://datasource/{DATASOURCE}",
        f"proms://metric/{METRIC}?datasource_id={DATASOURCE}",
    ):
        (content,) = await hostile_mcp.read_resource(uri)
        text = content.text  # type: ignore[union-attr]
        problems += [f"{uri}: raw {p}" for p in forbidden_in(text)]
        problems += [f"{uri}: {p}" for p in answer_problems(json.loads(text))]
    assert INJECTION in text, "the metric resource did not reach the HELP text"

    prompt = PromptReference(type="ref/prompt", name="explore_metric")
    context = {"datasource_id": DATASOURCE, "metric_name": METRIC, "label_name": "note"}
    offered = await hostile_mcp.complete(prompt, {"name": "label_value", "value": ""}, context)
    assert len(offered.values) == len(HOSTILE)
    template = ResourceTemplateReference(type="ref/resource", uri="proms://metric/{metric_name}")
    for reference, argument, known in (
        (prompt, "label_value", context),
        (prompt, "label_name", {"datasource_id": DATASOURCE, "metric_name": "ALERTS"}),
        (prompt, "service", {"datasource_id": DATASOURCE}),
        (prompt, "alert_name", {"datasource_id": DATASOURCE}),
        (template, "metric_name", {"datasource_id": DATASOURCE}),
    ):
        got = await hostile_mcp.complete(reference, {"name": argument, "value": ""}, known)
        problems += [f"complete {argument}: {p}" for p in answer_problems({"values": got.values})]

    for value in offered.values:
        arguments = {
            "datasource_id": DATASOURCE,
            "metric_name": METRIC,
            "label_name": "note",
            "label_value": value,
            "alert_name": value,
            "service": value,
        }
        for listed in await hostile_mcp.list_prompts():
            wanted = {a.name for a in listed.arguments or ()}
            got_prompt = await hostile_mcp.get_prompt(
                listed.name, {k: v for k, v in arguments.items() if k in wanted}
            )
            for message in got_prompt.messages:
                text = message.content.text  # type: ignore[union-attr]
                assert INJECTION in text or MARKER in text, (listed.name, text)
                problems += [f"prompt {listed.name}: {p}" for p in forbidden_in(text, allowed="\n")]
                problems += [f"prompt {listed.name}: {p}" for p in prose_problems(text)]
    assert not problems, "\n".join(problems)


async def test_prometheus_error_text_quoting_backend_labels_is_quoted_in_the_message(
    hostile_mcp: McpClient,
) -> None:
    result = await hostile_mcp.call_tool(
        "query_instant",
        {"datasource_id": DATASOURCE, "promql": f"{METRIC} + on() {METRIC}"},
        raise_on_error=False,
    )
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    error = json.loads(text)["error"]
    assert error["code"] == "query_rejected" and MARKER in error["message"]
    assert forbidden_in(text) == []
    assert prose_problems(error["message"]) == []


class HostileBuildInfo(harness.Handler):
    """buildinfo with a hostile version; everything else a 503 with hostile error text."""

    def do_GET(self) -> None:
        if self.path.endswith("/buildinfo"):
            status, body = 200, {"status": "success", "data": {"version": HOSTILE["bidi"]}}
        else:
            error = HOSTILE["controls"] + HOSTILE["bidi"]
            status, body = 503, {"status": "error", "errorType": "unavailable", "error": error}
        encoded = json.dumps(body).encode()
        self.reply(encoded, status=status)


class HostileUnavailable(HostileBuildInfo):
    def do_GET(self) -> None:
        self.path = "/down"
        super().do_GET()


def _client(url: str) -> tuple[prometheus.PrometheusClient, datasources.Datasource]:
    datasource = datasources.Datasource(
        id=datasources.DatasourceId("probed"),
        name="probed",
        source=datasources.Source(datasources.SourceKind.CUSTOM_RESOURCE, "ns/probed"),
        connection=datasources.Connection(url=url),
    )
    client = prometheus.PrometheusClient(datasource, default_timeout=5, max_response_bytes=1 << 20)
    return client, datasource


def _build_info(client: prometheus.PrometheusClient) -> hosting.BuildInfo:
    """What the application gives the operator's probes, for this one client."""

    async def build_info(
        datasource: datasources.Datasource, *, timeout: float
    ) -> Mapping[str, object]:
        return await facts.build_info(client, timeout=timeout)

    return build_info


@pytest.mark.parametrize("backend", [HostileBuildInfo, HostileUnavailable])
async def test_the_reachability_probe_writes_backend_text_cleaned_into_the_cr_status(
    backend: type[BaseHTTPRequestHandler],
) -> None:
    with harness.http_server(backend) as url:
        client, datasource = _client(url)
        try:
            condition, version = await probing.probe(_build_info(client), datasource)
        finally:
            await client.aclose()
    assert forbidden_in(condition.message) == [] and forbidden_in(version or "") == []
    if backend is HostileBuildInfo:
        assert version == hygiene.clean(HOSTILE["bidi"]).strip()
        assert condition.message == f"buildinfo answered (version {hygiene.quoted(version)})"
        assert prose_problems(condition.message) == []
    else:
        assert condition.status == "False" and condition.reason == "ProbeFailed"
        assert condition.message.startswith(errors.BackendUnavailable.code)


def test_the_line_parser_rejects_a_label_value_that_broke_out_of_its_quotes() -> None:
    """The parser above is strict enough to catch what main used to write."""
    broken = f'{METRIC}{{note=""}}]}} {MARKER}"}} ▁▁ first=1 last=1 min=1 max=1'
    with pytest.raises(AssertionError):
        parse_line(broken)
    assert prose_problems(f"its values: {HOSTILE['jsonbreak']}")
    assert prose_problems(f"did you mean {hygiene.clean(HOSTILE['bidi'])!r}?")
    assert not prose_problems(f"did you mean {hygiene.quoted(HOSTILE['bidi'])}?")


def test_names_that_are_not_identifiers_are_quoted_in_selectors() -> None:
    got = hygiene.selector({"__name__": "a.b", "c.d": 'x"y', "ok": "\u202ez"})
    assert got == '{"a.b","c.d"="x\\"y",ok=" z"}'
    assert parse_line(got + " ▁ first=1 last=1 min=1 max=1") == {
        "__name__": "a.b",
        "c.d": 'x"y',
        "ok": " z",
    }
