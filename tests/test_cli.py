"""The command line as a new user meets it: a bare start, and start-up refusals that must be
clear rather than crashes (`proms-mcp demo`, what `make run` starts: test_demo)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

import httpx

from tests import harness

REPO = pathlib.Path(__file__).resolve().parents[1]


def start(
    arguments: list[str], cwd: pathlib.Path, **env: str
) -> tuple[subprocess.Popen[str], int, int]:
    port, health = harness.free_port(), harness.free_port()
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GRAFANA_DATASOURCES_PATH", "AUTH_MODE", "HOST")
    }
    environment.update(PORT=str(port), HEALTH_METRICS_PORT=str(health), **env)
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_server", *arguments],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
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
