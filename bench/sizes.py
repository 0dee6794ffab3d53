"""`python -m bench.sizes`: what each tool answer costs an agent, against the raw Prometheus
JSON a pass-through server would hand over for the same request.

A fixed dataset: the synthetic history of tests/prometheus_process (the 500-series
cardinality metric plus the demo counters, gauges and histograms, about 540 series over six
hours). Tokens are estimated as bytes / 3, the estimate the result budget itself uses.
Writes bench/results/sizes.md and sizes.json.
"""

from __future__ import annotations

import json
import pathlib
import tempfile
from typing import Any

import httpx

import bench
from bench import soak
from mcp_server.results import budget
from tests.support import harness, prometheus_process

EVERYTHING = '{__name__=~"demo_.*"}'


async def _tool(http: httpx.AsyncClient, url: str, tool: str, arguments: dict[str, Any]) -> str:
    answer = await soak.call_tool(http, url, 1, tool, {"datasource_id": "bench", **arguments})
    result = answer["result"]
    if result.get("isError"):
        raise RuntimeError(f"{tool} {arguments}: {result['content'][0]['text']}")
    text: str = result["content"][0]["text"]
    return text


async def run() -> dict[str, Any]:
    end = prometheus_process.SYNTHETIC_END
    start = end - 6 * 3600
    window = {"start": start, "end": end}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        workdir = pathlib.Path(folder)
        with prometheus_process.running_prometheus(workdir / "prometheus") as prom:
            provisioning = workdir / "datasources.yaml"
            source = {"name": "bench", "type": "prometheus", "url": prom.url}
            provisioning.write_text(json.dumps({"datasources": [source]}))
            config = harness.make_settings(
                sources={"datasources_path": provisioning}, logging={"level": "WARNING"}
            )
            with harness.serve_in_thread(config) as server:
                async with httpx.AsyncClient(trust_env=False, timeout=60) as http:

                    async def raw(path: str, **params: Any) -> str:
                        response = await http.get(prom.url + path, params=params)
                        response.raise_for_status()
                        return response.text

                    async def row(
                        name: str, tool: str, arguments: dict[str, Any], raw_text: str
                    ) -> dict[str, Any]:
                        text = await _tool(http, server.mcp_url, tool, arguments)
                        answer: dict[str, Any] = json.loads(text)
                        entry = {
                            "case": name,
                            "tool": tool,
                            "bytes": len(text.encode()),
                            "tokens": budget.tokens(text),
                            "raw_bytes": len(raw_text.encode()),
                            "raw_tokens": budget.tokens(raw_text),
                            "series_or_items": answer.get("total_series", answer.get("total")),
                            "shape": ", ".join(
                                answer.get("summarized", {}).get("actions", [])
                                or [answer.get("format", "complete")]
                            ),
                        }
                        rows.append(entry)
                        return answer

                    probe = await _tool(
                        http, server.mcp_url, "query_range",
                        {"promql": EVERYTHING, "limit": 10_000, "format": "summary", **window},
                    )  # fmt: skip
                    step = json.loads(probe)["step_seconds"]
                    raw_range = await raw(
                        "/api/v1/query_range", query=EVERYTHING, step=step, **window
                    )
                    for name, extra in (
                        ("6h, every series, default budget", {}),
                        ("6h, every series, format=summary", {"format": "summary"}),
                        ("6h, every series, format=text", {"format": "text"}),
                        ("6h, every series, max_tokens=2000", {"max_tokens": 2000}),
                    ):
                        await row(
                            name, "query_range",
                            {"promql": EVERYTHING, "limit": 10_000, **window, **extra},
                            raw_range,
                        )  # fmt: skip
                    counters = "demo_http_requests_total"
                    await row(
                        "6h, 12 series (fits)", "query_range", {"promql": counters, **window},
                        await raw("/api/v1/query_range", query=counters, step=step, **window),
                    )  # fmt: skip
                    small = "sum by (instance) (rate(demo_http_requests_total[5m]))"
                    await row(
                        "6h, 3 series (fits)", "query_range", {"promql": small, **window},
                        await raw("/api/v1/query_range", query=small, step=step, **window),
                    )  # fmt: skip
                    await row(
                        "instant, every series", "query_instant",
                        {"promql": EVERYTHING, "time": end, "limit": 10_000},
                        await raw("/api/v1/query", query=EVERYTHING, time=end),
                    )  # fmt: skip
                    await row(
                        "metric names", "list_metrics", window,
                        await raw("/api/v1/label/__name__/values", **window),
                    )  # fmt: skip
                    await row(
                        "500 label values", "get_label_values",
                        {"label_name": "shard", "limit": 10_000, **window},
                        await raw("/api/v1/label/shard/values", **window),
                    )  # fmt: skip
                    listing = await http.post(
                        server.mcp_url,
                        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                        headers=soak.MCP_HEADERS,
                    )
                    tools = listing.json()["result"]["tools"]
    return {
        "rows": rows,
        "tools_list": {
            "tools": len(tools),
            "bytes": len(listing.content),
            "tokens": budget.tokens(listing.text),
        },
    }


def markdown(report: dict[str, Any]) -> str:
    header = (
        "case | tool | proms-mcp bytes | tokens | raw Prometheus bytes | tokens | ratio | "
        "series/items | what was done"
    )
    rows: list[list[object]] = []
    for r in report["rows"]:
        measured = [r["case"], r["tool"], r["bytes"], r["tokens"], r["raw_bytes"], r["raw_tokens"]]
        rows.append([*measured, f"{bench.ratio(r):.1f}x smaller", r["series_or_items"], r["shape"]])
    listing = report["tools_list"]
    return bench.table(header, rows) + (
        f"\ntools/list: {listing['tools']} tools, {listing['bytes']} bytes, about "
        f"{listing['tokens']} tokens\n"
    )


if __name__ == "__main__":
    bench.main("sizes", run, markdown)
