"""The command line as a new user meets it: a bare start, and start-up refusals that must be
clear rather than crashes (`proms-mcp demo`, what `make run` starts: test_demo)."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import IO

import httpx
import pytest
import trustme

from tests.backends import test_tls
from tests.support import harness, prometheus_process

REPO = pathlib.Path(__file__).resolve().parents[2]
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


def test_a_wide_bind_without_allowed_hosts_is_refused_with_one_line(
    tmp_path: pathlib.Path,
) -> None:
    process, _, _ = start([], tmp_path, HOST="0.0.0.0", AUTH_MODE="none")
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    (line,) = output.strip().splitlines()
    assert line.startswith("proms-mcp: HOST=0.0.0.0 is not a loopback address and ALLOWED_HOSTS")


def test_invalid_settings_name_the_variable(tmp_path: pathlib.Path) -> None:
    process, _, _ = start([], tmp_path, QUERY_TIMEOUT="soon")
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "QUERY_TIMEOUT" in output and "Traceback" not in output


def test_every_log_line_is_json(tmp_path: pathlib.Path) -> None:
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
    assert {"proms_operator.main", "mcp_server.app.assembly"} <= imported, (
        "not the proms-mcp command"
    )
    kubernetes = sorted(m for m in imported if m.split(".")[0] in ("kopf", "kubernetes_asyncio"))
    assert kubernetes == [], kubernetes[:5]


def test_the_lifecycle_lines_of_the_mcp_and_health_servers_each_name_their_server(
    tmp_path: pathlib.Path,
) -> None:
    process, port, health = start([], tmp_path)
    try:
        harness.poll(lambda: is_ready(health) or process.poll() is not None, timeout=20)
    finally:
        output = stop(process)
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]
    uvicorn = [e for e in entries if e["logger"] == "uvicorn.error"]
    servers = {"mcp": ("MCP", port), "health": ("health", health)}
    for entry in uvicorn:
        label, number = servers[entry["server"]]
        assert entry["port"] == number, entry
        assert entry["message"].startswith(f"{label} server (port {number}): "), entry
        assert "color_message" not in entry
    messages = [e["message"] for e in uvicorn]
    assert len(messages) == len(set(messages)), "two lifecycle lines that read the same"
    for server in servers:
        steps = " | ".join(e["message"] for e in uvicorn if e["server"] == server)
        for step in ("Started server process", "Shutting down", "Finished server process"):
            assert step in steps, (server, steps)
    listening = {(e["server"], e["port"]) for e in entries if "listening on" in e["message"]}
    assert listening == {("mcp", port), ("health", health)}


# --- start-up failures: one line on stderr naming the setting and the cause, exit code 2 ---


def refused(cwd: pathlib.Path, **env: str) -> str:
    """Run `proms-mcp` that must refuse to start; its one line on stderr."""
    env = {"PORT": str(harness.free_port()), "HEALTH_METRICS_PORT": str(harness.free_port())} | env
    completed = subprocess.run(
        [str(PROMS_MCP)],
        cwd=cwd,
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = completed.stderr.splitlines()
    assert completed.returncode == 2, completed.stderr
    assert len(lines) == 1 and lines[0].startswith("proms-mcp: "), completed.stderr
    assert completed.stdout == ""
    return lines[0]


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("setting", ["PORT", "HEALTH_METRICS_PORT"])
def test_a_port_in_use_is_one_line_naming_the_setting(tmp_path: pathlib.Path, setting: str) -> None:
    with taken_port() as port:
        line = refused(tmp_path, **{setting: str(port)})
    assert line == f"proms-mcp: {setting} {port} on 127.0.0.1 is already in use"


@pytest.mark.parametrize(
    ("relative", "cause"),
    [("missing.yaml", "does not exist"), ("a-file/datasources.yaml", "not a directory")],
)
def test_an_unreadable_provisioning_path_is_one_line_naming_the_setting(
    tmp_path: pathlib.Path, relative: str, cause: str
) -> None:
    (tmp_path / "a-file").write_text("")
    path = tmp_path / relative
    line = refused(tmp_path, GRAFANA_DATASOURCES_PATH=str(path))
    assert f"GRAFANA_DATASOURCES_PATH {path}" in line and cause in line


def write_kubeconfig(
    path: pathlib.Path, server: str, *, certificate_authority: pathlib.Path | None = None
) -> pathlib.Path:
    cluster = f"server: '{server}'"
    if certificate_authority is not None:
        cluster += f", certificate-authority: '{certificate_authority}'"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{{cluster}}}}}]\n"
        "users: [{name: u, user: {token: not-a-secret}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    return path


@pytest.mark.parametrize(
    ("content", "cause"), [(None, "no such file"), ("not a certificate\n", "not a PEM certificate")]
)
def test_a_bad_openshift_ca_cert_path_is_one_line_naming_the_setting(
    tmp_path: pathlib.Path, content: str | None, cause: str
) -> None:
    ca = tmp_path / "ca.crt"
    if content is not None:
        ca.write_text(content)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:6443")
    line = refused(
        tmp_path,
        AUTH_MODE="active",
        PROMS_MCP_MODE="standalone",
        KUBECONFIG=str(kubeconfig),
        OPENSHIFT_CA_CERT_PATH=str(ca),
    )
    assert f"OPENSHIFT_CA_CERT_PATH {ca}: {cause}" in line


def test_a_bad_certificate_authority_in_the_kubeconfig_is_one_line_naming_both_files(
    tmp_path: pathlib.Path,
) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("not a certificate\n")
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", "https://127.0.0.1:6443", certificate_authority=ca
    )
    line = refused(tmp_path, PROMS_MCP_MODE="operator", KUBECONFIG=str(kubeconfig))
    assert f"KUBECONFIG {kubeconfig}: certificate-authority {ca}: not a PEM certificate" in line


@pytest.mark.parametrize("fault", ["refused", "dns", "tls"])
def test_an_unreachable_kubernetes_api_in_operator_mode_is_one_line_saying_where_and_why(
    tmp_path: pathlib.Path, fault: str
) -> None:
    with contextlib.ExitStack() as stack:
        if fault == "refused":
            port = stack.enter_context(prometheus_process.closed_port())
            address, cause = f"https://127.0.0.1:{port}", "connection refused"
        elif fault == "dns":
            address = "https://kubernetes.proms-mcp-test.invalid:6443"
            cause = "DNS: kubernetes.proms-mcp-test.invalid does not resolve"
        else:  # a server whose certificate nothing trusts
            address = stack.enter_context(test_tls.https_backend(trustme.CA()))
            cause = "TLS: the server's certificate is not trusted"
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", address)
        line = refused(tmp_path, PROMS_MCP_MODE="operator", KUBECONFIG=str(kubeconfig))
    assert f"cannot reach the Kubernetes API at {address} (from KUBECONFIG {kubeconfig})" in line
    assert cause in line and "answered" not in line
