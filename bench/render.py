"""`python -m bench.render`: the MCP App drawing 50 series x 720 points in headless Chromium.

The built app (mcp_server/tools/viewer/chart.html) in the test host page's sandboxed iframe
(tests/support/app_host.py, Debian's Chromium via tests/support/browser.py), given a
query_range answer of 50 series x 720 points (12 h at 60 s) through ext-apps' AppBridge, as
a host gives it. Timed inside the app: from the tool-result notification's arrival to the
end of uPlot's first drawing (shaping, axes, 36,000 points on the canvas). A fresh iframe
each run; the first run (cold) is reported apart. Goal: under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import percentile, save, table
from tests.support import app_host, browser

SERIES = 50
POINTS = 720
STEP = 60
GOAL_MS = 200.0


def answer() -> dict[str, Any]:
    """A query_range result (format "points") of SERIES x POINTS, as the server shapes it."""
    series = [
        {
            "labels": {"instance": f"host-{n:02d}"},
            "values": [
                round(0.2 + 0.1 * math.sin(i / 40 + n) + 0.002 * n, 4) for i in range(POINTS)
            ],
        }
        for n in range(SERIES)
    ]
    content = {
        "datasource": "bench",
        "query": "bench_request_duration_seconds",
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-01T11:59:00Z",
        "step_seconds": STEP,
        "result_type": "matrix",
        "format": "points",
        "common_labels": {"__name__": "bench_request_duration_seconds", "job": "bench"},
        "series": series,
        "total_series": SERIES,
    }
    return {
        "content": [{"type": "text", "text": "(the model's answer)"}],
        "structuredContent": content,
    }


async def _runs(chromium: browser.Chromium, base: str, runs: int) -> list[float]:
    result = answer()
    call = {"input": {"promql": "bench_request_duration_seconds"}, "result": result}
    took: list[float] = []
    async with await browser.Tab.open(chromium, base) as tab:
        await tab.until("document.body && document.body.dataset.host", bool)
        for _ in range(runs):
            await tab.evaluate(f"window.host.show({json.dumps(call)})")
            state = await tab.until(
                "window.__chartState",
                lambda s: bool(s) and s.get("drawMs") is not None,
                in_app=True,
            )
            assert state["seriesCount"] == SERIES, state
            assert state["points"] == SERIES * POINTS, state
            took.append(float(state["drawMs"]))
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs
    app_host.built()
    with tempfile.TemporaryDirectory() as scratch:
        profile = Path(scratch) / "profile"
        with (
            browser.running_chromium(profile) as chromium,
            app_host.serving_host("http://127.0.0.1:9/mcp/") as base,
        ):
            took = asyncio.run(_runs(chromium, base, runs))
    cold, warm = took[0], took[1:]
    report = {
        "series": SERIES,
        "points_per_series": POINTS,
        "runs": runs,
        "cold_ms": round(cold, 1),
        "median_ms": round(statistics.median(warm), 1),
        "p95_ms": round(percentile(warm, 0.95), 1),
        "max_ms": round(max(warm), 1),
        "goal_ms": GOAL_MS,
        "bundle_bytes": len(app_host.APP_FILE.read_bytes()),
    }
    rows = [
        [
            "tool result -> drawn (ms)",
            report["cold_ms"],
            report["median_ms"],
            report["p95_ms"],
            report["max_ms"],
            f"< {GOAL_MS:g}",
        ]
    ]
    header = f"{SERIES} series x {POINTS} points | first | median | p95 | max | goal"
    save("render", report, table(header, rows), entry_point="python -m bench.render")


if __name__ == "__main__":
    main()
