"""`python -m bench.alerting_sizes`: what the Alertmanager tools and investigate_alert cost an
agent, against the raw Alertmanager and Prometheus JSON it would read instead.

The stack is the tests' real one (tests/support/alerting.py: Debian's Alertmanager 0.25 fed
by a Prometheus evaluating its rules every second; about a dozen alerts, four silences).
investigate_alert's raw counterpart is every response an agent needs for the same picture:
Prometheus's alerting rules and alerts, Alertmanager's alerts, silences and status (the
inhibition rules), the ALERTS series over the window at the tool's step and the condition
at each reading time. Tokens are bytes / 3, the result budget's own estimate. Writes
bench/results/alerting_sizes.md and .json, and the worked investigation of docs/alertmanager.md
as bench/results/investigation.json.
"""

from __future__ import annotations

import json
import pathlib
import tempfile
from typing import Any

import httpx

import bench
from bench import RESULTS, soak
from mcp_server.core import timespec
from mcp_server.results import budget
from tests.support import alerting, harness

FIRING = {"datasource_id": "am", "alert": f'{alerting.FIRING}{{queue="email"}}'}


async def _tool(http: httpx.AsyncClient, url: str, tool: str, arguments: dict[str, Any]) -> str:
    answer = await soak.call_tool(http, url, 1, tool, arguments)
    result = answer["result"]
    if result.get("isError"):
        raise RuntimeError(f"{tool} {arguments}: {result['content'][0]['text']}")
    text: str = result["content"][0]["text"]
    return text


def _row(case: str, tool: str, text: str, raw: list[str]) -> dict[str, Any]:
    raw_text = "".join(raw)
    return {
        "case": case,
        "tool": tool,
        "bytes": len(text.encode()),
        "tokens": budget.tokens(text),
        "raw_responses": len(raw),
        "raw_bytes": len(raw_text.encode()),
        "raw_tokens": budget.tokens(raw_text),
    }


async def _measure(stack: alerting.AlertingStack, mcp_url: str) -> tuple[list[Any], str]:
    prom, am = stack.prometheus.url, stack.alertmanager.url
    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:

        async def raw(url: str, **params: Any) -> str:
            response = await http.get(url, params=params)
            response.raise_for_status()
            return response.text

        rows = []
        for case, tool, path in (
            ("every alert", "list_alertmanager_alerts", "/api/v2/alerts"),
            ("silences (not expired)", "list_silences", "/api/v2/silences"),
            ("alert groups", "list_alert_groups", "/api/v2/alerts/groups"),
        ):
            text = await _tool(http, mcp_url, tool, {"datasource_id": "am"})
            rows.append(_row(case, tool, text, [await raw(am + path)]))
        text = await _tool(http, mcp_url, "investigate_alert", FIRING)
        answer = json.loads(text)
        responses = [
            await raw(prom + "/api/v1/rules", type="alert"),
            await raw(prom + "/api/v1/alerts"),
            await raw(am + "/api/v2/alerts"),
            await raw(am + "/api/v2/silences"),
            await raw(am + "/api/v2/status"),
        ]
        history = answer["history"]
        responses.append(
            await raw(
                prom + "/api/v1/query_range",
                query=history["query"],
                start=_seconds(history["start"]),
                end=_seconds(history["end"]),
                step=history["step_seconds"],
            )
        )
        (condition,) = answer["conditions"]
        for reading in condition["readings"]:
            responses.append(
                await raw(
                    prom + "/api/v1/query",
                    query=condition["expression"],
                    time=_seconds(reading["time"]),
                )
            )
        rows.append(_row("HighBacklog, firing", "investigate_alert", text, responses))
        return rows, text


def _seconds(moment: str) -> float:
    milliseconds = timespec.moment_milliseconds(moment)
    assert milliseconds is not None
    return milliseconds / 1000


async def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        workdir = pathlib.Path(folder)
        with alerting.running_stack(workdir / "stack") as stack:
            alerting.settle(stack)
            am = {"type": "alertmanager", "url": stack.alertmanager.url}
            links = {"implementation": "prometheus", "alertsFrom": ["prom"]}
            document = {
                "datasources": [
                    {"name": "prom", "type": "prometheus", "url": stack.prometheus.url},
                    {**am, "name": "am", "jsonData": links},
                ]
            }
            provisioning = workdir / "datasources.yaml"
            provisioning.write_text(json.dumps(document))
            config = harness.make_settings(
                sources={"datasources_path": provisioning}, logging={"level": "WARNING"}
            )
            with harness.serve_in_thread(config) as server:
                rows, investigation = await _measure(stack, server.mcp_url)
    RESULTS.mkdir(exist_ok=True)
    worked = json.dumps(json.loads(investigation), indent=2)
    (RESULTS / "investigation.json").write_text(worked + "\n")
    return {"rows": rows}


def markdown(report: dict[str, Any]) -> str:
    header = "case | tool | proms-mcp bytes | tokens | raw responses | raw bytes | tokens | ratio"
    rows: list[list[object]] = [
        [*(r[k] for k in _MEASURED), f"{bench.ratio(r):.1f}x"] for r in report["rows"]
    ]
    return bench.table(header, rows)


_MEASURED = ("case", "tool", "bytes", "tokens", "raw_responses", "raw_bytes", "raw_tokens")


if __name__ == "__main__":
    bench.main("alerting_sizes", run, markdown)
