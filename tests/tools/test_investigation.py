"""investigate_alert against the real alerting stack (tests/support/alerting.py): every
figure it gives is compared with the Prometheus and Alertmanager answers fetched here
directly, at the same times; silences and inhibitions that apply or almost apply; the
flapping alert's history; both directions of the links; and arguments that cannot crash it.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_server.results import budget
from tests.support import alerting, answers
from tests.support import prometheus_process as synthetic
from tests.support.alerting import AlertingStack
from tests.support.answers import call, call_error
from tests.support.harness import McpClient, RunningServer
from tests.tools import test_alertmanager_tools as am_tools


def prom(stack: AlertingStack, path: str, **params: Any) -> Any:
    return answers.direct(stack.prometheus, path, **params)


def rule_of(stack: AlertingStack, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for group in prom(stack, "/api/v1/rules", type="alert")["groups"]:
        for rule in group["rules"]:
            if rule["name"] == name:
                return group, rule
    raise AssertionError(name)


def at(stack: AlertingStack, expression: str, time: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = prom(stack, "/api/v1/query", query=expression, time=time)[
        "result"
    ]
    return result


def seconds(moment: str) -> str:
    """An answer's RFC 3339 reading time as the unix seconds it was sent as."""
    from mcp_server.core import timespec

    milliseconds = timespec.moment_milliseconds(moment)
    assert milliseconds is not None
    return f"{milliseconds / 1000:.3f}"


async def test_the_firing_alert_its_rule_and_values_are_the_backends_own(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    answer = await call(alerting_mcp, "investigate_alert", datasource_id="am", alert="HighBacklog")
    (mine,) = am_tools.raw(alerting_stack, "/api/v2/alerts", filter="alertname=HighBacklog")
    group, rule = rule_of(alerting_stack, alerting.FIRING)
    (rule_alert,) = rule["alerts"]
    alert = answer["alert"]
    assert (answer["alertmanager"], answer["prometheus"]) == ("am", "prom")
    assert alert["fingerprint"] == mine["fingerprint"]
    assert alert["state"] == "active" and alert["receivers"] == ["pager", "default"]
    assert alert["starts_at"] == mine["startsAt"]
    assert alert["active_at"] == rule_alert["activeAt"]
    assert alert["value"] == float(rule_alert["value"])
    assert alert["external_labels"] == alerting.EXTERNAL_LABELS
    assert {**alert["labels"], "alertname": alert["name"]} == mine["labels"]
    assert answer["rule"] == {
        "group": group["name"],
        "name": rule["name"],
        "expression": rule["query"],
        "for_duration": "2s",
        "interval_seconds": group["interval"],
        "labels": rule["labels"],
        "health": "ok",
    }
    (condition,) = answer["conditions"]
    assert condition["expression"] == alerting.FIRING_LHS
    assert (condition["comparison"], condition["threshold"]) == (">", 10)
    assert [r["at"] for r in condition["readings"]] == ["before", "pending", "firing", "now"]
    for reading in condition["readings"]:
        (sample,) = at(alerting_stack, condition["expression"], seconds(reading["time"]))
        value = float(sample["value"][1])
        assert reading["value"] == value
        assert reading["holds"] == (value > 10)
        assert reading["margin"] == value - 10
    before, pending, firing, _ = condition["readings"]
    assert not before["holds"] and pending["holds"] and firing["holds"]
    assert seconds(pending["time"]) == seconds(rule_alert["activeAt"])
    assert seconds(firing["time"]) == seconds(mine["startsAt"])
    for part in condition["parts"]:
        for reading in part["readings"]:
            (sample,) = at(alerting_stack, part["expression"], seconds(reading["time"]))
            assert reading["value"] == float(sample["value"][1])


async def test_silences_that_apply_later_applied_before_or_almost_apply_are_named(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    answer = await call(alerting_mcp, "investigate_alert", datasource_id="am", alert="HighBacklog")
    silences, ids = answer["silences"], alerting_stack.silences
    assert "applying" not in silences
    assert [s["id"] for s in silences["pending"]] == [ids["pending"]]
    assert [s["id"] for s in silences["expired"]] == [ids["expired"]]
    (near,) = silences["almost"]
    assert near["id"] == ids["near"]
    assert near["differs"] == {
        "matcher": 'queue="billing"',
        "label": "queue",
        "alert_value": "email",
    }
    (inhibition,) = answer["inhibitions"]["almost"]
    assert inhibition["rule"]["source_matchers"] == [f'alertname="{alerting.MAINTENANCE}"']
    assert inhibition["source"]["name"] == alerting.MAINTENANCE
    assert inhibition["differs"]["label"] == "queue"


async def test_a_silenced_alert_names_the_silence_alertmanager_applies(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    answer = await call(
        alerting_mcp, "investigate_alert", datasource_id="am", alert=alerting.SILENCED
    )
    assert answer["alert"]["state"] == "silenced"
    (applying,) = answer["silences"]["applying"]
    assert applying["id"] == alerting_stack.silences["silenced"]
    assert applying["comment"] == alerting.SILENCED_COMMENT


async def test_an_inhibited_alert_names_the_alert_that_inhibits_it(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    answer = await call(
        alerting_mcp, "investigate_alert", datasource_id="am", alert=alerting.INHIBITED
    )
    (mine,) = am_tools.raw(
        alerting_stack, "/api/v2/alerts", filter=f"alertname={alerting.INHIBITED}"
    )
    assert answer["alert"]["state"] == "inhibited"
    (inhibitor,) = answer["inhibitions"]["inhibited_by"]
    assert [inhibitor["fingerprint"]] == mine["status"]["inhibitedBy"]
    assert inhibitor["name"] == alerting.INHIBITOR


def _runs(times: list[float], step: float) -> list[tuple[float, float]]:
    runs: list[tuple[float, float]] = []
    for moment in times:
        if runs and moment - runs[-1][1] <= 1.5 * step:
            runs[-1] = (runs[-1][0], moment)
        else:
            runs.append((moment, moment))
    return runs


async def test_the_flapping_alert_is_read_from_gaps_in_its_alerts_series(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    answer = await call(
        alerting_mcp, "investigate_alert", datasource_id="prom", alert=alerting.FLAPPING
    )
    history = answer["history"]
    assert history["flapping"] is True and history["firing_runs"] >= 3
    assert answer["alert"]["state"] in ("active", "inactive")  # inactive: resolved just now
    assert (
        history["query"]
        == f'ALERTS{{alertname="{alerting.FLAPPING}",alertstate="firing",team="mail"}}'
    )
    result = prom(
        alerting_stack,
        "/api/v1/query_range",
        query=history["query"],
        start=seconds(history["start"]),
        end=seconds(history["end"]),
        step=str(history["step_seconds"]),
    )["result"]
    step = history["step_seconds"]
    runs = _runs([float(t) for t, _ in result[0]["values"]], step)
    # An evaluation at the window's last instants may be stored after the tool's query:
    # compare the gaps that closed well before the end.
    settled = float(seconds(history["end"])) - 2 * step
    gaps = [
        (seconds_of(a[1]), seconds_of(b[0])) for a, b in itertools.pairwise(runs) if b[0] < settled
    ]
    answered = [
        (seconds(g["last_firing"]), seconds(g["fired_again"]))
        for g in history["gaps"]
        if float(seconds(g["fired_again"])) < settled
    ]
    assert answered and answered == list(reversed(gaps))[: len(answered)]
    assert history["firing_runs"] in (len(runs), len(runs) - 1)


def seconds_of(value: float) -> str:
    return f"{value:.3f}"


async def test_an_alert_that_does_not_fire_is_read_from_its_rule_and_history(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    answer = await call(
        alerting_mcp, "investigate_alert", datasource_id="prom", alert=synthetic.ALERT_INACTIVE
    )
    assert answer["alert"] == {"name": synthetic.ALERT_INACTIVE, "state": "inactive"}
    assert answer["history"]["firing_runs"] == 0 and not answer["history"]["flapping"]
    (condition,) = answer["conditions"]
    assert (condition["expression"], condition["comparison"], condition["threshold"]) == (
        "vector(1)",
        "==",
        2,
    )
    (now,) = condition["readings"]
    assert (now["at"], now["value"], now["holds"]) == ("now", 1, False)
    assert "margin" not in now  # == has none


async def test_from_a_prometheus_the_linked_alertmanager_is_found(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    answer = await call(
        alerting_mcp, "investigate_alert", datasource_id="prom", alert="HighBacklog"
    )
    assert (answer["alertmanager"], answer["prometheus"]) == ("am", "prom")
    assert answer["alert"]["receivers"] == ["pager", "default"]
    assert answer["silences"]["almost"][0]["id"] == alerting_stack.silences["near"]


async def test_a_fingerprint_finds_the_same_alert(
    alerting_mcp: McpClient, alerting_stack: AlertingStack
) -> None:
    (mine,) = am_tools.raw(alerting_stack, "/api/v2/alerts", filter="alertname=HighBacklog")
    answer = await call(
        alerting_mcp, "investigate_alert", datasource_id="am", alert=mine["fingerprint"]
    )
    assert answer["alert"]["name"] == "HighBacklog"
    assert answer["rule"]["name"] == "HighBacklog"


async def test_a_reference_that_matches_several_alerts_lists_the_others(
    alerting_mcp: McpClient,
) -> None:
    answer = await call(
        alerting_mcp, "investigate_alert", datasource_id="am", alert='{team="storage"}'
    )
    assert answer["alert"]["name"] == alerting.INHIBITOR  # active before inhibited
    (other,) = answer["others"]
    assert other["state"] == "inhibited" and other["labels"]["severity"] == "warning"


async def test_an_unknown_alert_is_an_argument_error_with_the_names_it_may_mean(
    alerting_mcp: McpClient,
) -> None:
    error = await call_error(
        alerting_mcp, "investigate_alert", datasource_id="am", alert="HighBacklg"
    )
    assert error["code"] == "invalid_argument"
    assert 'did you mean "HighBacklog"?' in error["message"]


async def test_an_alertmanager_without_links_says_what_it_cannot_read(
    alerting_mcp: McpClient,
) -> None:
    answer = await call(
        alerting_mcp, "investigate_alert", datasource_id="am-unlinked", alert="HighBacklog"
    )
    assert "rule" not in answer and "conditions" not in answer and "prometheus" not in answer
    assert any("alertsFrom" in note for note in answer["notes"])
    assert answer["silences"]["pending"]  # Alertmanager's side is all there


async def test_the_answer_fits_a_small_budget(alerting_mcp: McpClient) -> None:
    result = await alerting_mcp.call_tool(
        "investigate_alert",
        {"datasource_id": "am", "alert": "HighBacklog", "max_tokens": budget.MIN_MAX_TOKENS},
    )
    text = result.content[0].text  # type: ignore[union-attr]
    assert budget.tokens(text) <= budget.MIN_MAX_TOKENS, text
    answer = json.loads(text)
    assert answer["alert"]["name"] == "HighBacklog"
    assert answer["cut"]["parts"][:2] == ["next", "conditions.parts"]


INVESTIGATION_ARGUMENTS = st.fixed_dictionaries(
    {
        "datasource_id": st.sampled_from(["am", "prom", "am-unlinked", "nope", ""]),
        "alert": st.one_of(
            st.text(max_size=40),
            st.sampled_from(["HighBacklog", '{team="mail"}', "0123456789abcdef", "{}", "X{"]),
        ),
        "window": st.one_of(st.text(max_size=8), st.floats(allow_nan=True), st.integers(-5, 10**9)),
    }
)
LISTING_ARGUMENTS = st.fixed_dictionaries(
    {
        "datasource_id": st.sampled_from(["am", "prom", "nope"]),
        "match": st.one_of(st.none(), st.text(max_size=40), st.just('{severity=~"crit.*"}')),
        "limit": st.integers(-3, 20_000),
    }
)
CODES = {"invalid_argument", "datasource_not_found", "unsupported", "query_rejected"}


@pytest.mark.parametrize(
    ("tool", "strategy"),
    [
        ("investigate_alert", INVESTIGATION_ARGUMENTS),
        ("list_alertmanager_alerts", LISTING_ARGUMENTS),
        ("list_silences", LISTING_ARGUMENTS),
        ("list_alert_groups", LISTING_ARGUMENTS),
    ],
)
def test_any_arguments_give_a_result_or_a_coded_tool_error(
    alerting_server: RunningServer, tool: str, strategy: Any
) -> None:
    @answers.fuzzing(25)
    @given(arguments=strategy)
    def check(arguments: dict[str, Any]) -> None:
        answers.assert_result_or_coded_error(alerting_server.mcp_url, tool, arguments, CODES)

    check()
