"""The Alertmanager tools over a real MCP client against a real Alertmanager (fed by a real
Prometheus, tests/support/alerting.py), compared with what Alertmanager's API v2 answers
directly; query tools refuse an Alertmanager, Alertmanager tools a Prometheus; nothing is
ever written to Alertmanager."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar

import httpx
import pytest
from fastmcp import Client

from mcp_server.backends import alertmanager as am_api
from mcp_server.core import errors, hygiene
from tests.support import alerting, answers, harness
from tests.support.alerting import AlertingStack
from tests.support.answers import call, call_error
from tests.support.harness import McpClient

STATE_OF = {"active": "active", "suppressed": None, "unprocessed": "unprocessed"}


def raw(stack: AlertingStack, path: str, **params: Any) -> Any:
    """Alertmanager's own answer, as a pass-through would hand it over."""
    response = httpx.get(stack.alertmanager.url + path, params=params, trust_env=False, timeout=5)
    response.raise_for_status()
    return response.json()


async def around(
    stack: AlertingStack, path: str, ask: Callable[[], Awaitable[Any]], key: Callable[[Any], Any]
) -> tuple[Any, Any]:
    """Our answer, and Alertmanager's own read after it, once a read before it agrees (by
    `key`): the flapping alert comes and goes every two seconds, and may do so in between."""
    deadline = time.monotonic() + 30
    while True:
        before = raw(stack, path)
        answer = await ask()
        after = raw(stack, path)
        if key(before) == key(after) or time.monotonic() > deadline:
            return answer, after


def _alert_keys(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["fingerprint"]: a["status"] for a in alerts}


def _group_keys(groups: list[dict[str, Any]]) -> list[Any]:
    return sorted(
        (g["receiver"]["name"], sorted(g["labels"].items()), sorted(_alert_keys(g["alerts"])))
        for g in groups
    )


def expected_state(alert: dict[str, Any]) -> str:
    status = alert["status"]
    if status["silencedBy"]:
        return "silenced"
    if status["inhibitedBy"]:
        return "inhibited"
    return str(STATE_OF[status["state"]])


ALERTING_TOOLS = (
    "list_alertmanager_alerts",
    "list_silences",
    "list_alert_groups",
    "investigate_alert",
)


async def test_the_alerting_tools_are_listed_read_only_without_schemas_and_short(
    alerting_mcp: McpClient,
) -> None:
    await answers.listed_lean(alerting_mcp, ALERTING_TOOLS, description_under=250)


async def test_list_datasources_shows_each_datasource_type(alerting_mcp: McpClient) -> None:
    answer = await call(alerting_mcp, "list_datasources")
    types = {d["id"]: d["type"] for d in answer["datasources"]}
    assert types == {"prom": "Prometheus", "am": "Alertmanager", "am-unlinked": "Alertmanager"}


async def test_alerts_are_alertmanagers_with_their_states_receivers_and_suppressors(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    answer, alerts = await around(
        alerting_stack,
        "/api/v2/alerts",
        lambda: call(alerting_mcp, "list_alertmanager_alerts", datasource_id="am"),
        _alert_keys,
    )
    direct = {a["fingerprint"]: a for a in alerts}
    assert {a["fingerprint"] for a in answer["alerts"]} == set(direct)
    for alert in answer["alerts"]:
        mine = direct[alert["fingerprint"]]
        labels = dict(mine["labels"])
        assert alert["name"] == labels.pop("alertname")
        assert alert["labels"] == labels
        assert alert["state"] == expected_state(mine)
        assert alert["starts_at"] == mine["startsAt"]
        assert alert["receivers"] == [r["name"] for r in mine["receivers"]]
        assert alert.get("silenced_by", []) == mine["status"]["silencedBy"]
        assert alert.get("inhibited_by", []) == mine["status"]["inhibitedBy"]
    by_name = {a["name"]: a for a in answer["alerts"]}
    assert by_name[alerting.FIRING]["receivers"] == ["pager", "default"]
    assert by_name[alerting.FIRING]["labels"]["cluster"] == alerting.EXTERNAL_LABELS["cluster"]
    assert by_name[alerting.SILENCED]["silenced_by"] == [alerting_stack.silences["silenced"]]
    inhibitor = by_name[alerting.INHIBITOR]["fingerprint"]
    assert by_name[alerting.INHIBITED]["inhibited_by"] == [inhibitor]
    states = [a["state"] for a in answer["alerts"]]
    assert states == sorted(states, key=["active", "silenced", "inhibited"].index)
    assert answer["by_state"] == {"active": len(states) - 2, "silenced": 1, "inhibited": 1}


@pytest.mark.parametrize(
    ("state", "names"),
    [
        ("silenced", {alerting.SILENCED}),
        ("inhibited", {alerting.INHIBITED}),
        ("suppressed", {alerting.SILENCED, alerting.INHIBITED}),
    ],
)
async def test_the_state_filter_keeps_what_it_names_and_counts_all(
    alerting_mcp: McpClient, state: str, names: set[str]
) -> None:
    answer = await call(alerting_mcp, "list_alertmanager_alerts", datasource_id="am", state=state)
    assert {a["name"] for a in answer["alerts"]} == names
    assert answer["total"] == len(names)
    assert answer["by_state"]["active"] > 0  # counted before the filter


async def test_matchers_are_sent_one_per_filter_and_a_leading_name_is_the_alertname(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    answer = await call(
        alerting_mcp,
        "list_alertmanager_alerts",
        datasource_id="am",
        match='{severity="critical", team=~"ma.l"}',
    )
    direct = raw(alerting_stack, "/api/v2/alerts", filter=['severity="critical"', 'team=~"ma.l"'])
    assert [a["fingerprint"] for a in answer["alerts"]] == [a["fingerprint"] for a in direct]
    assert [a["name"] for a in answer["alerts"]] == [alerting.FIRING]
    named = await call(
        alerting_mcp, "list_alertmanager_alerts", datasource_id="am", match=alerting.SILENCED
    )
    assert [a["name"] for a in named["alerts"]] == [alerting.SILENCED]


async def test_the_receiver_filter_keeps_alerts_routed_there(alerting_mcp: McpClient) -> None:
    answer = await call(
        alerting_mcp, "list_alertmanager_alerts", datasource_id="am", receiver="pager"
    )
    assert {a["name"] for a in answer["alerts"]} == {alerting.FIRING, "DemoTargetDown"}


async def test_silences_hide_expired_ones_unless_asked_and_count_what_they_mute(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    ids = alerting_stack.silences
    shown = await call(alerting_mcp, "list_silences", datasource_id="am")
    assert [s["id"] for s in shown["silences"]] == [ids["silenced"], ids["near"], ids["pending"]]
    assert shown["by_state"] == {"active": 2, "pending": 1, "expired": 1}
    every = await call(alerting_mcp, "list_silences", datasource_id="am", include_expired=True)
    direct = {s["id"]: s for s in raw(alerting_stack, "/api/v2/silences")}
    assert [s["id"] for s in every["silences"]][-1] == ids["expired"]
    for silence in every["silences"]:
        mine = direct[silence["id"]]
        assert silence["state"] == mine["status"]["state"]
        assert silence["created_by"] == mine["createdBy"]
        assert silence["comment"] == mine["comment"]
        assert (silence["starts_at"], silence["ends_at"]) == (mine["startsAt"], mine["endsAt"])
        assert silence["matchers"] == [
            f"{m['name']}={json.dumps(m['value'])}" for m in mine["matchers"]
        ]
    muted = {s["id"]: s.get("silencing", 0) for s in every["silences"]}
    assert muted == {ids["silenced"]: 1, ids["near"]: 0, ids["pending"]: 0, ids["expired"]: 0}


async def test_groups_are_alertmanagers_with_counts_per_state(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    answer, direct = await around(
        alerting_stack,
        "/api/v2/alerts/groups",
        lambda: call(alerting_mcp, "list_alert_groups", datasource_id="am"),
        _group_keys,
    )
    assert answer["total"] == len(direct)
    got = {(g["receiver"], json.dumps(g["labels"], sort_keys=True)): g for g in answer["groups"]}
    for group in direct:
        mine = got[(group["receiver"]["name"], json.dumps(group["labels"], sort_keys=True))]
        assert mine["total"] == len(group["alerts"])
        states = [expected_state(a) for a in group["alerts"]]
        assert mine["by_state"] == {s: states.count(s) for s in set(states)}
    pager = await call(alerting_mcp, "list_alert_groups", datasource_id="am", receiver="pager")
    assert {g["receiver"] for g in pager["groups"]} == {"pager"}


@pytest.mark.parametrize(
    ("tool", "arguments", "says"),
    [
        ("query_instant", {"datasource_id": "am", "promql": "up"}, "is an Alertmanager"),
        ("list_metrics", {"datasource_id": "am"}, "is an Alertmanager"),
        ("list_alerts", {"datasource_id": "am"}, "is an Alertmanager"),
        ("list_silences", {"datasource_id": "prom"}, "not an Alertmanager"),
        ("list_alertmanager_alerts", {"datasource_id": "prom"}, "not an Alertmanager"),
        ("list_alert_groups", {"datasource_id": "prom"}, "not an Alertmanager"),
    ],
)
async def test_a_tool_on_the_other_kind_of_datasource_answers_unsupported(
    alerting_mcp: McpClient, tool: str, arguments: dict[str, Any], says: str
) -> None:
    error = await call_error(alerting_mcp, tool, **arguments)
    assert error["code"] == "unsupported"
    assert says in error["message"]


async def test_a_malformed_selector_is_refused_before_anything_is_sent(
    alerting_mcp: McpClient,
) -> None:
    for match in ('{severity="critical"', "rate(x[5m])", "x offset 5m"):
        error = await call_error(
            alerting_mcp, "list_alertmanager_alerts", datasource_id="am", match=match
        )
        assert error["code"] == "invalid_argument", match
        assert error["message"].startswith(f"match={json.dumps(match)} is not")


def test_alertmanagers_own_refusal_is_query_rejected_with_its_text_quoted(
    alerting_stack: AlertingStack,
) -> None:
    """The real 400 of a matcher Alertmanager cannot read (our tools never send one)."""
    response = httpx.get(
        alerting_stack.alertmanager.url + "/api/v2/alerts",
        params={"filter": '{a="b"}'},
        trust_env=False,
    )
    assert response.status_code == 400
    with pytest.raises(errors.QueryRejected) as refused:
        am_api.decode(response.status_code, response.content)
    said = response.json()
    assert refused.value.message == f"Alertmanager (HTTP 400): {hygiene.quoted(said)}"
    assert refused.value.text == said


class _Recorder(harness.Handler):
    """Forwards to the Alertmanager, recording each request's method and path."""

    upstream = ""
    seen: ClassVar[list[tuple[str, str]]] = []
    lock = threading.Lock()

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_DELETE(self) -> None:
        self._forward()

    def _forward(self) -> None:
        with self.lock:
            self.seen.append((self.command, self.path.split("?")[0]))
        request = urllib.request.Request(self.upstream + self.path, method=self.command)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        self.reply(body)


@pytest.fixture
def recorded(
    alerting_stack: AlertingStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type(
        "Recorder", (_Recorder,), {"upstream": alerting_stack.alertmanager.url, "seen": seen}
    )
    with harness.http_server(handler) as url:
        path = tmp_path_factory.mktemp("recorded") / "datasources.json"
        entries = [
            {"name": "prom", "type": "prometheus", "url": alerting_stack.prometheus.url},
            {
                "name": "am",
                "type": "alertmanager",
                "url": url,
                "jsonData": {"implementation": "prometheus", "alertsFrom": ["prom"]},
            },
        ]
        path.write_text(json.dumps({"datasources": entries}))
        with harness.serve_in_thread(
            harness.make_settings(sources={"datasources_path": path})
        ) as s:
            yield s.mcp_url, seen


async def test_nothing_is_ever_written_to_alertmanager(
    recorded: tuple[str, list[tuple[str, str]]], alerting_stack: AlertingStack
) -> None:
    url, seen = recorded
    before = raw(alerting_stack, "/api/v2/silences")
    async with Client(url) as mcp:
        for tool, arguments in (
            ("list_alertmanager_alerts", {}),
            ("list_silences", {"include_expired": True}),
            ("list_alert_groups", {}),
            ("investigate_alert", {"alert": alerting.FIRING}),
            ("investigate_alert", {"alert": alerting.SILENCED}),
        ):
            await call(mcp, tool, datasource_id="am", **arguments)
    assert {method for method, _ in seen} == {"GET"}
    assert {path for _, path in seen} == {
        "/api/v2/alerts",
        "/api/v2/silences",
        "/api/v2/alerts/groups",
        "/api/v2/status",
    }
    assert raw(alerting_stack, "/api/v2/silences") == before
