"""list_datasources on a fleet of 250: every datasource reachable, counts to narrow by, and
hints whose advice works when an agent follows it."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import harness
from tests.support.answers import call, call_error
from tests.support.harness import McpClient, RunningServer
from tests.support.prometheus_process import RunningPrometheus

ENVS = ("prod", "staging", "dev")
FLEET = 250


def _entry(n: int, url: str) -> dict[str, Any]:
    return {
        "name": f"{ENVS[n % 3]}-{n:03d}",
        "uid": f"uid-{n:03d}",
        "type": "prometheus",
        "url": url,
        "jsonData": {
            "labels": {"env": ENVS[n % 3], "team": f"team-{n % 5}", "cluster": f"c{n % 10}"},
            "prometheusType": "Thanos" if n % 25 == 0 else "Prometheus",
        },
    }


ENTRIES_LABELS = [_entry(n, "")["jsonData"]["labels"] for n in range(FLEET)]
BROKEN = {"name": "prod-broken", "type": "prometheus", "url": "not a url"}


@pytest.fixture(scope="module")
def server(
    prometheus: RunningPrometheus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    entries = [_entry(n, prometheus.url) for n in range(FLEET)]
    with harness.serving_datasources(tmp_path_factory.mktemp("fleet"), *entries, BROKEN) as running:
        yield running


def _quoted_after(text: str, argument: str) -> str:
    """The JSON string a hint gives for `argument` (hints quote what came from data)."""
    found = re.search(argument + r'=("(?:[^"\\]|\\.)*")', text)
    assert found, f"the hint names no {argument}=: {text}"
    value: str = json.loads(found[1])
    return value


async def test_a_large_fleet_is_paged_in_id_order_with_counts_to_narrow_by(
    mcp: McpClient,
) -> None:
    first = await call(mcp, "list_datasources")
    assert first["total"] == FLEET and len(first["datasources"]) == 100
    ids = [d["id"] for d in first["datasources"]]
    assert ids == sorted(ids) and first["next_cursor"] == ids[-1]
    counts = first["counts"]
    assert counts["env"] == dict(Counter(labels["env"] for labels in ENTRIES_LABELS))
    assert counts["team"] == {f"team-{t}": 50 for t in range(5)}
    assert counts["type"] == {"Prometheus": 240, "Thanos": 10}
    assert counts["source"] == {"file": FLEET}
    assert first["unavailable"][0]["id"] == "prod-broken"


async def test_following_the_cursor_hint_reaches_every_datasource_once(mcp: McpClient) -> None:
    seen: list[str] = []
    page = await call(mcp, "list_datasources")
    calls = 1
    while True:
        seen += [d["id"] for d in page["datasources"]]
        if page.get("next_cursor") is None:
            break
        cursor = _quoted_after(page["hint"], "cursor")
        page = await call(mcp, "list_datasources", cursor=cursor)
        calls += 1
    assert calls == 3 and len(seen) == FLEET and len(set(seen)) == FLEET
    assert seen == sorted(seen)


async def test_following_the_labels_hint_narrows_to_the_count_it_promised(
    mcp: McpClient,
) -> None:
    first = await call(mcp, "list_datasources")
    key, _, value = _quoted_after(first["hint"], "labels").partition("=")
    narrowed = await call(mcp, "list_datasources", labels=f"{key}={value}")
    assert narrowed["total"] == first["counts"][key][value]
    assert "counts" not in narrowed
    assert all(d["labels"][key] == value for d in narrowed["datasources"])


async def test_labels_globs_and_ids_select_the_same_way_as_written(mcp: McpClient) -> None:
    both = await call(mcp, "list_datasources", labels={"env": "prod", "team": "team-0"})
    expected = [n for n in range(FLEET) if n % 3 == 0 and n % 5 == 0]
    assert [d["id"] for d in both["datasources"]] == [f"prod-{n:03d}" for n in expected]
    globbed = await call(mcp, "list_datasources", datasources=["staging-00*"], limit=500)
    assert [d["id"] for d in globbed["datasources"]] == [
        "staging-001",
        "staging-004",
        "staging-007",
    ]
    named = await call(mcp, "list_datasources", datasources="dev-002,uid-005")
    assert [d["id"] for d in named["datasources"]] == ["dev-002", "dev-005"]
    wildcard_value = await call(mcp, "list_datasources", labels="cluster=c1*", limit=500)
    assert wildcard_value["total"] == FLEET // 10


async def test_type_source_and_readiness_filter(mcp: McpClient) -> None:
    thanos = await call(mcp, "list_datasources", type="Thanos")
    assert thanos["total"] == 10 and {d["type"] for d in thanos["datasources"]} == {"Thanos"}
    assert (await call(mcp, "list_datasources", source="configmap"))["total"] == 0
    broken = await call(mcp, "list_datasources", ready=False)
    assert broken["datasources"] == [] and [u["id"] for u in broken["unavailable"]] == [
        "prod-broken"
    ]
    served = await call(mcp, "list_datasources", ready=True, datasources="prod-*")
    assert "unavailable" not in served and served["total"] == len(range(0, FLEET, 3))


async def test_no_match_says_so_and_its_advice_gives_the_counts(mcp: McpClient) -> None:
    none = await call(mcp, "list_datasources", labels="env=qa")
    assert none["total"] == 0 and none["datasources"] == []
    assert '"env=qa"' in none["hint"] and "without arguments" in none["hint"]
    assert (await call(mcp, "list_datasources"))["counts"]["env"].keys() == set(ENVS)


async def test_a_malformed_selector_is_an_invalid_argument_with_an_example(
    mcp: McpClient,
) -> None:
    error = await call_error(mcp, "list_datasources", labels="env")
    assert error["code"] == "invalid_argument" and "env=prod,team=payments" in error["message"]
    error = await call_error(mcp, "list_datasources", labels={"bad key!": "x"})
    assert error["code"] == "invalid_argument" and '"bad key!"' in error["message"]


async def test_a_budget_cut_at_the_server_budget_does_not_advise_raising_max_tokens(
    mcp: McpClient,
) -> None:
    everything = await call(mcp, "list_datasources", limit=FLEET)
    assert everything["truncated"]["returned"] < FLEET
    assert "max_tokens" not in everything["truncated"]["hint"]
    lowered = await call(mcp, "list_datasources", limit=FLEET, max_tokens=1000)
    assert "raise max_tokens (at most 10000)" in lowered["truncated"]["hint"]


async def test_a_page_too_large_for_the_budget_loses_no_datasource(mcp: McpClient) -> None:
    seen: list[str] = []
    page = await call(mcp, "list_datasources", limit=500, max_tokens=2000)
    while True:
        seen += [d["id"] for d in page["datasources"]]
        if page.get("next_cursor") is None:
            break
        page = await call(
            mcp, "list_datasources", limit=500, max_tokens=2000, cursor=page["next_cursor"]
        )
    assert len(seen) == FLEET and len(set(seen)) == FLEET
