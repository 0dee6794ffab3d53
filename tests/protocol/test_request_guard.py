"""The MCP port answers only requests made to one of its own names and from no foreign web
page (DNS rebinding), on the tools/call fast path and the SDK's path alike; every refusal is
counted in /metrics; the health port is not guarded."""

from __future__ import annotations

import pathlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support import answers, harness
from tests.support.harness import RunningServer

ACCEPT = {"Accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 3, "method": "ping"}


def requests() -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    """A request of each path: the SDK's (initialize) and the fast path's (tools/call)."""
    arguments = {"datasource_id": "prom", "promql": "vector(1)"}
    return {
        "initialize (SDK)": (harness.INITIALIZE, ACCEPT),
        "tools/call (fast path)": answers.tool_call("query_instant", arguments),
        "tools/call 2026-07-28 (fast path)": answers.tool_call(
            "query_instant", arguments, modern=True
        ),
    }


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, json=body, headers=headers, trust_env=False, timeout=30)


def rejected(server: RunningServer, reason: str) -> float:
    return harness.metric(server.health_url, "proms_mcp_requests_rejected_total", reason=reason)


def tool_calls(server: RunningServer) -> float:
    return harness.metric(server.health_url, "proms_mcp_tool_calls_total", tool="query_instant")


@dataclass(frozen=True)
class Refusal:
    """A request the guard refuses: what makes it foreign, and how the refusal reads."""

    headers: dict[str, str]
    status: int
    error: str
    reason: str
    """The `reason` label of proms_mcp_requests_rejected_total."""
    said: tuple[str, ...]
    """What the message names: the foreign value, the setting that would allow it."""


REFUSALS = {
    "a rebinding page: 421": Refusal(
        {"Host": "evil.example.com", "Origin": "http://evil.example.com"},
        421,
        "misdirected_request",
        "host",
        ('"evil.example.com"', "ALLOWED_HOSTS"),
    ),
    "a foreign origin, even on a loopback name: 403": Refusal(
        {"Origin": "https://evil.example.com"},
        403,
        "forbidden_origin",
        "origin",
        ("ALLOWED_ORIGINS",),
    ),
}


@pytest.mark.parametrize("refusal", list(REFUSALS.values()), ids=list(REFUSALS))
@pytest.mark.parametrize("kind", list(requests()))
def test_a_rebinding_page_or_a_foreign_origin_is_refused_before_anything_answers(
    server: RunningServer, kind: str, refusal: Refusal
) -> None:
    body, headers = requests()[kind]
    before = (rejected(server, refusal.reason), tool_calls(server))
    response = post(server.mcp_url, body, {**headers, **refusal.headers})
    assert response.status_code == refusal.status, response.text
    assert response.json()["error"] == refusal.error
    for named in refusal.said:
        assert named in response.json()["message"]
    assert (rejected(server, refusal.reason), tool_calls(server)) == (before[0] + 1, before[1])


@pytest.mark.parametrize("kind", list(requests()))
def test_loopback_names_and_origins_are_answered_on_both_paths(
    server: RunningServer, kind: str
) -> None:
    body, headers = requests()[kind]
    port = server.application.settings.server.port
    response = post(
        server.mcp_url, body, {**headers, "Host": f"localhost:{port}", "Origin": "http://[::1]"}
    )
    assert response.status_code == 200, response.text
    assert "result" in response.json()


@pytest.mark.parametrize(
    "host", ["localhost", "LocalHost:8000", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:8000"]
)
@pytest.mark.parametrize(
    "origin", [None, "http://localhost:6274", "https://127.0.0.1", "http://[::1]:3000"]
)
def test_every_loopback_host_and_origin_form_is_answered(
    server: RunningServer, host: str, origin: str | None
) -> None:
    headers = {**ACCEPT, "Host": host} | ({"Origin": origin} if origin else {})
    assert post(server.mcp_url, PING, headers).status_code == 200


@pytest.mark.parametrize(
    "origin", ["null", "http://localhost.evil.example.com", "file://", "http://127.0.0.2"]
)
def test_origins_that_only_look_local_are_refused(server: RunningServer, origin: str) -> None:
    assert post(server.mcp_url, PING, {**ACCEPT, "Origin": origin}).status_code == 403


def test_a_request_without_a_host_header_is_refused(server: RunningServer) -> None:
    port = server.application.settings.server.port
    request = (
        b"POST /mcp/ HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        status_line = connection.makefile("rb").readline()
    assert status_line.split()[1] == b"421", status_line


def test_the_health_port_is_not_guarded(server: RunningServer) -> None:
    """Kubelet probes and scrapes address the pod by its IP."""
    for path in ("/health", "/ready", "/metrics"):
        response = httpx.get(
            server.health_url + path, headers={"Host": "10.1.2.3:8080"}, trust_env=False
        )
        assert response.status_code == 200, path


@pytest.fixture(scope="module")
def listed(datasources_file: pathlib.Path) -> Iterator[RunningServer]:
    """A server told its names and one web origin, as the chart tells it."""
    names: dict[str, object] = {
        "allowed_hosts": ("proms-mcp.proms.svc", "MCP.example.com:443"),
        "allowed_origins": ("https://agents.example.com",),
    }
    with harness.serving_file(datasources_file, server=names) as running:
        yield running


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("proms-mcp.proms.svc", 200),
        ("proms-mcp.proms.svc:8000", 200),
        ("mcp.example.com:443", 200),
        ("localhost:8000", 200),
        ("mcp.example.com", 421),
        ("mcp.example.com:80", 421),
        ("proms-mcp.proms", 421),
        ("proms-mcp.proms.svc.evil.example.com", 421),
    ],
)
def test_allowed_hosts_name_the_hosts_answered_a_bare_name_on_any_port(
    listed: RunningServer, host: str, status: int
) -> None:
    body, headers = requests()["tools/call (fast path)"]
    response = post(listed.mcp_url, body, {**headers, "Host": host})
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://agents.example.com", 200),
        ("https://AGENTS.example.com", 200),
        ("http://agents.example.com", 403),
        ("https://agents.example.com:8443", 403),
        ("https://proms-mcp.proms.svc", 403),
    ],
)
def test_allowed_origins_name_the_web_origins_answered_exactly(
    listed: RunningServer, origin: str, status: int
) -> None:
    headers = {**ACCEPT, "Host": "proms-mcp.proms.svc", "Origin": origin}
    assert post(listed.mcp_url, PING, headers).status_code == status


def test_a_star_in_both_lists_answers_any_host_and_origin(
    datasources_file: pathlib.Path,
) -> None:
    anything: dict[str, object] = {"allowed_hosts": ("*",), "allowed_origins": ("*",)}
    evil = {"Host": "evil.example.com", "Origin": "http://evil.example.com"}
    with harness.serving_file(datasources_file, server=anything) as running:
        body, headers = requests()["tools/call (fast path)"]
        response = post(running.mcp_url, body, {**headers, **evil})
    assert response.status_code == 200, response.text
