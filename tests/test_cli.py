"""The command line as a new user meets it: a bare start, and start-up refusals that must be
clear rather than crashes (`proms-mcp demo`, what `make run` starts: test_demo)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
from typing import IO

import httpx

from tests import harness

REPO = pathlib.Path(__file__).resolve().parents[1]
PROMS_MCP = pathlib.Path(sys.executable).with_name("proms-mcp")
"""The console script users run (`make run`, the image, the chart): proms_operator.main."""

_CLUSTER_VARIABLES = ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PROMS_MCP_MODE")


def environment(**env: str) -> dict[str, str]:
    """This environment without settings or a cluster (so `auto` mode is standalone)."""
    unset = ("GRAFANA_DATASOURCES_PATH", "AUTH_MODE", "HOST", *_CLUSTER_VARIABLES)
    return {k: v for k, v in os.environ.items() if k not in unset} | env


def start(
    arguments: list[str], cwd: pathlib.Path, *, output: IO[str] | None = None, **env: str
) -> tuple[subprocess.Popen[str], int, int]:
    """`proms-mcp ARGUMENTS` on free ports, its stderr and stdout in one pipe (or `output`:
    a pipe nobody reads blocks the process once it holds 64 KiB)."""
    assert PROMS_MCP.exists(), f"{PROMS_MCP}: run `uv sync` first"
    port, health = harness.free_port(), harness.free_port()
    process = subprocess.Popen(
        [str(PROMS_MCP), *arguments],
        cwd=cwd,
        env=environment(PORT=str(port), HEALTH_METRICS_PORT=str(health), **env),
        stdout=subprocess.PIPE if output is None else output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, port, health


def is_ready(health: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{health}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_bare_start_serves_no_datasources_and_stops_cleanly(tmp_path: pathlib.Path) -> None:
    process, _, health = start([], tmp_path)
    try:
        harness.poll(lambda: is_ready(health) or process.poll() is not None, timeout=20)
        assert process.poll() is None
        body = httpx.get(f"http://127.0.0.1:{health}/ready", timeout=5).json()
        assert body["datasources"] == {}
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output


def test_exposing_without_auth_decision_is_refused_with_a_clear_message(
    tmp_path: pathlib.Path,
) -> None:
    process, _, _ = start([], tmp_path, HOST="0.0.0.0")
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "AUTH_MODE" in output and "Traceback" not in output


def test_invalid_settings_name_the_variable(tmp_path: pathlib.Path) -> None:
    process, _, _ = start([], tmp_path, QUERY_TIMEOUT="soon")
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "QUERY_TIMEOUT" in output and "Traceback" not in output


def test_every_log_line_is_json(tmp_path: pathlib.Path) -> None:
    import json

    process, _, health = start([], tmp_path)
    try:
        harness.poll(lambda: is_ready(health) or process.poll() is not None, timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert entry["time"].endswith("Z")


def test_mcp_requests_leave_access_lines_and_probes_do_not(tmp_path: pathlib.Path) -> None:
    import json

    process, port, health = start([], tmp_path)
    try:
        harness.poll(lambda: is_ready(health) or process.poll() is not None, timeout=20)
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        headers = {"Accept": "application/json, text/event-stream"}
        mcp_url = f"http://127.0.0.1:{port}/mcp/"
        assert httpx.post(mcp_url, json=ping, headers=headers, timeout=10).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{health}/metrics", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]
    access = [e["message"] for e in entries if e["logger"] == "uvicorn.access"]
    assert any('"POST /mcp/ HTTP/1.1" 200' in line for line in access), output
    assert not any("/ready" in line or "/metrics" in line for line in access), access


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, and everything it wrote to its pipe; it must have exited 0."""
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    return output or ""


def test_the_proms_mcp_command_in_standalone_mode_never_imports_kopf_or_the_kubernetes_client(
    tmp_path: pathlib.Path, datasources_file: pathlib.Path
) -> None:
    # CPython reports every module's first import on stderr with PYTHONPROFILEIMPORTTIME: the
    # whole life of the real entry point, including lazy imports during a tool call.
    log = tmp_path / "proms-mcp.log"
    with log.open("w") as output:
        process, port, health = start(
            [],
            tmp_path,
            output=output,
            GRAFANA_DATASOURCES_PATH=str(datasources_file),
            PYTHONPROFILEIMPORTTIME="1",
        )
        try:
            harness.poll(lambda: is_ready(health) or process.poll() is not None, timeout=30)
            assert process.poll() is None, log.read_text()[-2000:]
            arguments = {"datasource_id": "prom", "promql": "up"}
            call = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "query_instant", "arguments": arguments},
            }
            headers = {"Accept": "application/json, text/event-stream"}
            url = f"http://127.0.0.1:{port}/mcp/"
            answer = httpx.post(url, json=call, headers=headers, timeout=30)
            assert answer.json()["result"]["isError"] is False, answer.text
        finally:
            stop(process)
    imported = {
        line.rpartition("|")[2].strip()
        for line in log.read_text().splitlines()
        if line.startswith("import time:")
    }
    assert {"proms_operator.main", "mcp_server.server"} <= imported, "not the proms-mcp command"
    kubernetes = sorted(m for m in imported if m.split(".")[0] in ("kopf", "kubernetes_asyncio"))
    assert kubernetes == [], kubernetes[:5]
