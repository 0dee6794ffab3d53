"""A 2025 client declares MCP Apps only at initialize; the stateless server answers with a
session id that says so, and serves every later request carrying it as from a client that
declared the extension, on any replica. Raw HTTP, as a host on 2025-06-18 or 2025-11-25
sends it."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mcp_server.protocol import app_sessions
from mcp_server.tools import charting
from tests.support import harness
from tests.support.answers import APPS_EXTENSION, APPS_META, MODERN, MODERN_META
from tests.support.harness import RunningServer

VERSIONS = ["2025-06-18", "2025-11-25"]
ACCEPT = {"Accept": "application/json, text/event-stream"}


def _initialize(version: str, capabilities: dict[str, Any]) -> dict[str, Any]:
    message = harness.initialize("host")
    message["params"].update(protocolVersion=version, capabilities=capabilities)
    return message


def _post(url: str, message: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    response = httpx.post(url, json=message, headers=headers, trust_env=False, timeout=30)
    response.raise_for_status()
    return response


def _handshake(url: str, version: str, capabilities: dict[str, Any]) -> dict[str, str]:
    """initialize and notifications/initialized as a host sends them; the headers of every
    later request (the session id, when the server gave one)."""
    answer = _post(url, _initialize(version, capabilities), ACCEPT)
    assert answer.json()["result"]["protocolVersion"] == version
    headers = {**ACCEPT, "MCP-Protocol-Version": version}
    session = answer.headers.get("mcp-session-id")
    if session is not None:
        headers["Mcp-Session-Id"] = session
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert _post(url, initialized, headers).status_code == 202
    return headers


def _request(url: str, method: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    message = {"jsonrpc": "2.0", "id": 2, "method": method, "params": params}
    result: dict[str, Any] = _post(url, message, headers).json()["result"]
    return result


def _sees_app(url: str, headers: dict[str, str]) -> bool:
    tools = {t["name"]: t for t in _request(url, "tools/list", headers)["tools"]}
    uris = {r["uri"] for r in _request(url, "resources/list", headers)["resources"]}
    linked = "ui" in tools["query_range"].get("_meta", {})
    shown = {"chart_series" in tools, linked, charting.RESOURCE_URI in uris}
    assert len(shown) == 1, "the app is listed whole or not at all"
    return shown.pop()


@pytest.fixture(scope="module")
def replicas(datasources_file: pathlib.Path) -> Iterator[tuple[RunningServer, RunningServer]]:
    """Two servers on the same datasources, as two replicas behind one Service."""
    with (
        harness.serving_file(datasources_file) as one,
        harness.serving_file(datasources_file) as two,
    ):
        yield one, two


@pytest.mark.parametrize("version", VERSIONS)
def test_a_2025_host_declaring_the_extension_sees_the_app_on_every_replica(
    replicas: tuple[RunningServer, RunningServer], version: str
) -> None:
    """Initialized on one replica, served by the other: the session id alone carries the
    declaration, so the second still lists, reads and calls the app."""
    one, two = replicas
    headers = _handshake(one.mcp_url, version, {"extensions": APPS_EXTENSION})
    assert app_sessions.says_apps(headers["Mcp-Session-Id"])
    assert _sees_app(two.mcp_url, headers) and _sees_app(one.mcp_url, headers)
    read = _request(two.mcp_url, "resources/read", headers, uri=charting.RESOURCE_URI)
    assert read["contents"][0]["mimeType"] == "text/html;profile=mcp-app"
    arguments = {"datasource_id": "prom", "promql": "up", "start": 0, "end": 600, "width": 60}
    called = _request(two.mcp_url, "tools/call", headers, name="chart_series", arguments=arguments)
    assert not called["isError"] and called["structuredContent"]["step_seconds"] == 10


@pytest.mark.parametrize("version", VERSIONS)
def test_a_2025_host_declaring_nothing_gets_no_session_id_and_no_app(
    server: RunningServer, version: str
) -> None:
    other: dict[str, Any] = {"extensions": {"io.example/other": {}}}
    for capabilities in ({}, other):
        headers = _handshake(server.mcp_url, version, capabilities)
        assert "Mcp-Session-Id" not in headers
        assert not _sees_app(server.mcp_url, headers)


def test_the_initialize_answer_differs_only_by_the_session_id(server: RunningServer) -> None:
    """Declaring the extension changes nothing else in the handshake's bytes."""
    plain = _post(server.mcp_url, _initialize("2025-11-25", {}), ACCEPT)
    declared = _post(
        server.mcp_url, _initialize("2025-11-25", {"extensions": APPS_EXTENSION}), ACCEPT
    )
    assert plain.content == declared.content
    assert "mcp-session-id" not in plain.headers
    assert set(declared.headers) - set(plain.headers) == {"mcp-session-id"}


def test_a_failed_initialize_starts_no_session(server: RunningServer) -> None:
    message = _initialize("2025-11-25", {"extensions": APPS_EXTENSION})
    del message["params"]["clientInfo"]
    answer = _post(server.mcp_url, message, ACCEPT)
    assert "error" in answer.json() and "mcp-session-id" not in answer.headers


@pytest.mark.parametrize(
    "session",
    ["3f2a9c", app_sessions.PREFIX + "not-ours", app_sessions.PREFIX + "0" * 31],
    ids=["another server's", "our prefix, another form", "one digit short"],
)
def test_a_session_id_the_server_did_not_issue_is_served_without_the_app(
    server: RunningServer, session: str
) -> None:
    """Stateless: never 404 or 400 for an unknown session, and only our own form counts."""
    headers = {**ACCEPT, "MCP-Protocol-Version": "2025-11-25", "Mcp-Session-Id": session}
    assert not _sees_app(server.mcp_url, headers)


def test_ending_or_streaming_a_session_is_refused_as_the_spec_allows(server: RunningServer) -> None:
    """DELETE 405: the server keeps no session to end (the spec's answer for that); GET 405:
    it offers no SSE stream. The session's requests go on being served."""
    headers = _handshake(server.mcp_url, "2025-11-25", {"extensions": APPS_EXTENSION})
    with httpx.Client(trust_env=False, timeout=30) as client:
        assert client.delete(server.mcp_url, headers=headers).status_code == 405
        stream = {**headers, "Accept": "text/event-stream"}
        assert client.get(server.mcp_url, headers=stream).status_code == 405
    assert _sees_app(server.mcp_url, headers)


def test_a_session_id_passes_no_guard(server: RunningServer) -> None:
    """The Host/Origin check runs before anything reads the session id."""
    headers = _handshake(server.mcp_url, "2025-11-25", {"extensions": APPS_EXTENSION})
    foreign = {**headers, "Origin": "http://evil.example.com"}
    message = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    answer = httpx.post(server.mcp_url, json=message, headers=foreign, trust_env=False, timeout=30)
    assert answer.status_code == 403


def test_the_chart_resource_reads_alike_in_both_eras_declared_or_not(server: RunningServer) -> None:
    """resources/read is never filtered: a host may hold the ui:// link from a result."""
    declared = _handshake(server.mcp_url, "2025-06-18", {"extensions": APPS_EXTENSION})
    plain = _handshake(server.mcp_url, "2025-06-18", {})
    modern = {**ACCEPT, "MCP-Protocol-Version": MODERN, "Mcp-Method": "resources/read"}
    reads = [
        _request(server.mcp_url, "resources/read", declared, uri=charting.RESOURCE_URI),
        _request(server.mcp_url, "resources/read", plain, uri=charting.RESOURCE_URI),
    ]
    for meta in (APPS_META, MODERN_META):
        params = {"uri": charting.RESOURCE_URI, "_meta": meta}
        message = {"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": params}
        result = _post(server.mcp_url, message, {**modern, "Mcp-Name": charting.RESOURCE_URI})
        reads.append(result.json()["result"])
    contents = [read["contents"] for read in reads]
    assert all(content == contents[0] for content in contents)
    [content] = contents[0]
    assert content["mimeType"] == "text/html;profile=mcp-app" and content["text"]
