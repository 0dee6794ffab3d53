"""Benchmarks (`make bench`): proms-mcp side by side with direct Prometheus."""

from __future__ import annotations

import json
import pathlib
from typing import Any

RESULTS = pathlib.Path(__file__).parent / "results"


def save(name: str, report: dict[str, Any], table: str, *, show: bool = True) -> None:
    """bench/results/<name>.json and <name>.md, the table also printed unless `show` is off."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"{name}.md").write_text(table)
    if show:
        print(table)


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` (0.99: p99) of `values`, nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
