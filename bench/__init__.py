"""Benchmarks (`make bench`): proms-mcp side by side with direct Prometheus."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import pathlib
from collections.abc import Awaitable, Callable
from typing import Any

RESULTS = pathlib.Path(__file__).parent / "results"


def save(
    name: str,
    report: dict[str, Any],
    table: str,
    *,
    show: bool = True,
    entry_point: str | None = None,
) -> None:
    """bench/results/<name>.json and <name>.md, the table also printed unless `show` is off;
    the report notes the `entry_point` it measured, when given."""
    if entry_point is not None:
        report["entry_point"] = entry_point
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"{name}.md").write_text(table)
    if show:
        print(table)


def main(
    name: str,
    run: Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]],
    markdown: Callable[[dict[str, Any]], str],
    *,
    entry_point: str | None = None,
) -> None:
    """The entry point of a benchmark that takes no options: run it (a coroutine in a new
    event loop), note the `entry_point` it measured, save the report and print its table."""
    found = run()
    report = asyncio.run(found) if inspect.iscoroutine(found) else found
    assert isinstance(report, dict)
    save(name, report, markdown(report), entry_point=entry_point)


def table(header: str, rows: list[list[object]]) -> str:
    """A Markdown table: `header` (column names between " | "), its rule, a line a row."""
    lines = [f"| {header} |", "|---" * len(header.split(" | ")) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def ratio(row: dict[str, Any]) -> float:
    """How many times fewer tokens a proms-mcp answer takes than the raw API JSON behind it."""
    return float(row["raw_tokens"]) / float(max(row["tokens"], 1))


def alternating(prog: str, *, calls: int, rounds: int, between: str) -> argparse.Namespace:
    """`--calls` and `--rounds` of a benchmark that alternates rounds `between` two targets."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--calls", type=int, default=calls, help=f"calls per round and {between}")
    parser.add_argument("--rounds", type=int, default=rounds, help="alternating rounds")
    return parser.parse_args()


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` (0.99: p99) of `values`, nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
