"""The tools/call fast path answers exactly what the MCP SDK would, takes only plain calls,
and hands everything else to the SDK with its body intact.

Both stacks run in process over the same FastMCP server, one with the fast path taking
calls and one without, behind a spy that records what reaches the SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastmcp import FastMCP
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_server.app import assembly
from mcp_server.core import settings
from mcp_server.protocol import app_sessions, calls, fast_path, mounting, versions
from tests.support import harness, prometheus_process, replay
from tests.support.answers import APPS_EXTENSION, APPS_META, LEGACY, MODERN, MODERN_META, tool_call
from tests.support.prometheus_process import EXEMPLAR_METRIC, SYNTHETIC_END


class Spy:
    """The SDK side of the fast path, recording each JSON-RPC method that reaches it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.methods: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            self.methods.append(json.loads(body).get("method", "?"))
        except (ValueError, AttributeError):
            self.methods.append("?")
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@dataclass
class Stacks:
    fast: httpx.AsyncClient
    sdk: httpx.AsyncClient
    spy: Spy


@contextlib.asynccontextmanager
async def stacks(config: settings.Settings, mcp: FastMCP | None = None) -> AsyncIterator[Stacks]:
    application = assembly.Application(config)
    # Tools without a time argument read "now" (investigate_alert): one instant for both
    # stacks, so they send the same requests and the replaying backend answers alike.
    application.backends.clock = lambda: float(SYNTHETIC_END)
    assert application.file_source is not None
    application.file_source.reload()
    mcp = mcp or application.mcp
    fast_app = mcp.http_app(path=mounting.MCP_PATH, stateless_http=True, json_response=True)
    sdk_app = mcp.http_app(path=mounting.MCP_PATH, stateless_http=True, json_response=True)
    spy = Spy(fast_app)
    shortcut = fast_path.ToolCallFastPath(spy, mcp, path=mounting.MCP_PATH)
    await mounting.index_tools(mcp, shortcut)
    async with (
        fast_app.router.lifespan_context(fast_app),
        sdk_app.router.lifespan_context(sdk_app),
        _client(shortcut) as fast,
        _client(sdk_app) as sdk,
    ):
        try:
            yield Stacks(fast, sdk, spy)
        finally:
            await application.pool.aclose()


def _client(app: ASGIApp) -> httpx.AsyncClient:
    """A client of `app` behind the MCP Apps sessions, as `mounting` serves it."""
    sessions = app_sessions.AppSessions(app, path=mounting.MCP_PATH)
    return httpx.AsyncClient(transport=httpx.ASGITransport(sessions), base_url="http://t")


@pytest.fixture
def config(datasources_file: pathlib.Path) -> settings.Settings:
    return harness.make_settings(
        sources={"datasources_path": datasources_file}, server={"max_result_tokens": 2000}
    )


QUERY = "sum by (instance) (rate(demo_http_requests_total[5m]))"
CALLS = {
    "instant": ("query_instant", {"datasource_id": "prom", "promql": QUERY, "time": SYNTHETIC_END}),
    "range, cut to the server budget": (
        "query_range",
        {
            "datasource_id": "prom",
            "promql": "demo_http_requests_total",
            "start": SYNTHETIC_END - 6 * 3600,
            "end": SYNTHETIC_END,
            "step": "60s",
        },
    ),
    "a tool's own budget": ("list_metrics", {"datasource_id": "prom", "max_tokens": 200}),
    "no arguments": ("list_datasources", {}),
    "tool error": ("query_instant", {"datasource_id": "prom", "promql": "up(", "time": 1}),
    "backend down": ("query_instant", {"datasource_id": "down", "promql": "up", "time": 1}),
    "invalid arguments": ("query_instant", {"datasource_id": 5}),
    "argument below its minimum": ("list_metrics", {"datasource_id": "prom", "max_tokens": 1}),
}


@pytest.mark.parametrize("modern", [False, True], ids=["2025-06-18", MODERN])
@pytest.mark.parametrize("case", CALLS)
async def test_the_fast_path_answers_as_the_sdk_does(
    config: settings.Settings, case: str, modern: bool
) -> None:
    name, arguments = CALLS[case]
    body, headers = tool_call(name, arguments, modern=modern, request_id="call-1")
    async with stacks(config) as s:
        fast = await s.fast.post(mounting.MCP_PATH, json=body, headers=headers)
        sdk = await s.sdk.post(mounting.MCP_PATH, json=body, headers=headers)
        assert s.spy.methods == []  # the fast path answered it
    assert fast.status_code == sdk.status_code == 200
    assert fast.headers["content-type"] == sdk.headers["content-type"] == "application/json"
    assert int(fast.headers["content-length"]) == len(fast.content)
    assert fast.json() == sdk.json()
    result = fast.json()["result"]
    if not result.get("isError"):
        assert result["structuredContent"] == json.loads(result["content"][0]["text"])


START, END = SYNTHETIC_END - 3600, SYNTHETIC_END
WINDOW = {"datasource_id": "prom", "start": START, "end": END}
EVERY_TOOL: dict[str, dict[str, Any]] = {
    "list_datasources": {},
    "list_metrics": {**WINDOW, "limit": 20},
    "get_metric_metadata": {
        "datasource_id": "prom",
        "metric_name": "prometheus_http_requests_total",
    },
    "query_instant": {"datasource_id": "prom", "promql": QUERY, "time": END},
    "query_range": {**WINDOW, "promql": QUERY},
    "get_metric_labels": {**WINDOW, "metric_name": "demo_http_requests_total"},
    "get_label_values": {**WINDOW, "label_name": "instance"},
    "find_metrics_by_pattern": {**WINDOW, "pattern": "http"},
    "list_alerts": {"datasource_id": "prom"},
    "list_rules": {"datasource_id": "prom"},
    "list_targets": {"datasource_id": "prom"},
    "find_series": {**WINDOW, "match": "up"},
    "get_tsdb_status": {"datasource_id": "prom"},
    "get_build_info": {"datasource_id": "prom"},
    "query_exemplars": {**WINDOW, "promql": EXEMPLAR_METRIC},
    "check_promql": {"datasource_id": "prom", "promql": "sum(demo_http_requests_total)"},
    "estimate_query_cost": {**WINDOW, "promql": QUERY},
    "investigate_alert": {"datasource_id": "prom", "alert": prometheus_process.ALERT_FIRING},
    "chart_series": {**WINDOW, "promql": QUERY, "width": 300},
}
"""A call of every tool, with every time pinned so both stacks send the same requests."""
APP_ONLY = {"chart_series"}
"""Listed only to clients that declare MCP Apps."""
APPS_SESSION = {"Mcp-Session-Id": app_sessions.new_session_id()}
CLIENTS = {
    "2025-06-18": (False, MODERN_META, {}),
    "2025-06-18 declaring MCP Apps at initialize": (False, MODERN_META, APPS_SESSION),
    MODERN: (True, MODERN_META, {}),
    f"{MODERN} declaring MCP Apps": (True, APPS_META, {}),
}
"""(modern, the request's `_meta`, its session header) of each kind of client."""


@pytest.fixture
def replayed(
    tmp_path: pathlib.Path, prometheus: prometheus_process.RunningPrometheus
) -> Iterator[settings.Settings]:
    """Settings whose datasource `prom` answers each distinct request the same every time."""
    with replay.replaying(prometheus.url) as url:
        path = tmp_path / "datasources.yaml"
        entry = {"name": "prom", "type": "prometheus", "url": url}
        path.write_text(json.dumps({"apiVersion": 1, "datasources": [entry]}))
        yield harness.make_settings(sources={"datasources_path": path})


@pytest.mark.parametrize("client", CLIENTS)
async def test_every_tool_the_server_lists_is_answered_as_the_sdk_does(
    replayed: settings.Settings, client: str
) -> None:
    modern, meta, session = CLIENTS[client]
    async with stacks(replayed) as s:
        listing = await s.sdk.post(mounting.MCP_PATH, **_list_tools(modern, meta, session))
        names = [tool["name"] for tool in listing.json()["result"]["tools"]]
        listed = set(EVERY_TOOL) - (set() if meta is APPS_META or session else APP_ONLY)
        assert sorted(names) == sorted(listed), "a tool without a call in EVERY_TOOL"
        for name in names:
            body, headers = tool_call(
                name, EVERY_TOOL[name], modern=modern, request_id=name, meta=meta
            )
            headers.update(session)
            fast = await s.fast.post(mounting.MCP_PATH, json=body, headers=headers)
            sdk = await s.sdk.post(mounting.MCP_PATH, json=body, headers=headers)
            assert s.spy.methods == [], name  # the fast path answered it
            assert (fast.status_code, fast.headers["content-type"]) == (
                sdk.status_code,
                sdk.headers["content-type"],
            ), name
            assert fast.json() == sdk.json(), name
            assert not fast.json()["result"].get("isError"), fast.text


_LIST_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": LEGACY}


def _list_tools(modern: bool, meta: dict[str, Any], session: dict[str, str]) -> dict[str, Any]:
    """A tools/list request (`json` and `headers`) in either protocol era."""
    if not modern:
        return {
            "json": {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            "headers": {**_LIST_HEADERS, **session},
        }
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}
    headers = {**_LIST_HEADERS, "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"}
    return {"json": message, "headers": headers}


Headers = list[tuple[str, str]]


def _deferred() -> dict[str, tuple[bytes, Headers, str]]:
    """Requests the fast path must leave to the SDK: (body, headers, method the SDK sees)."""
    body, plain = tool_call("query_instant", {"datasource_id": "prom", "promql": "up", "time": 1})
    modern_body, modern_plain = tool_call("query_instant", {"datasource_id": "prom"}, modern=True)
    legacy = [("content-type", "application/json"), *plain.items()]
    modern = [("content-type", "application/json"), *modern_plain.items()]
    meta = modern_body["params"]["_meta"]

    def with_params(message: dict[str, Any], **params: Any) -> dict[str, Any]:
        return {**message, "params": {**message["params"], **params}}

    initialize = harness.initialize("host")
    initialize["params"]["capabilities"] = {"extensions": APPS_EXTENSION}
    variants: dict[str, tuple[Any, Headers, str]] = {
        "initialize declaring MCP Apps": (initialize, legacy[:-1], "initialize"),
        "ping": ({"jsonrpc": "2.0", "id": 1, "method": "ping"}, legacy, "ping"),
        "tools/list": ({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, legacy, "tools/list"),
        "notification": (
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            legacy,
            "notifications/initialized",
        ),
        "batch": ([body], legacy, "?"),
        "unknown tool": (tool_call("no_such_tool", {})[0], legacy, "tools/call"),
        "arguments not an object": (with_params(body, arguments=[1]), legacy, "tools/call"),
        "boolean id": ({**body, "id": True}, legacy, "tools/call"),
        "_meta not an object": (with_params(body, _meta=5), legacy, "tools/call"),
        "progress token not a token": (
            with_params(body, _meta={"progressToken": [1]}),
            legacy,
            "tools/call",
        ),
        "a null progress token": (
            with_params(body, _meta={"progressToken": None}),
            legacy,
            "tools/call",
        ),
        "modern, a task that is not an object": (
            with_params(modern_body, task=5),
            modern,
            "tools/call",
        ),
        "unknown protocol version": (
            body,
            [*legacy[:-1], ("MCP-Protocol-Version", "1999-01-01")],
            "tools/call",
        ),
        "two Accept headers": (body, [("Accept", "text/html"), *legacy], "tools/call"),
        "two Content-Types": (body, [("content-type", "text/plain"), *legacy], "tools/call"),
        "Content-Type not exactly application/json": (
            body,
            [("content-type", "Application/JSON"), *legacy[1:]],
            "tools/call",
        ),
        "two protocol versions": (
            body,
            [*modern, ("MCP-Protocol-Version", LEGACY)],
            "tools/call",
        ),
        "modern, Mcp-Name mismatch": (
            modern_body,
            [*modern[:-1], ("Mcp-Name", "list_metrics")],
            "tools/call",
        ),
        "modern, no envelope": (body, modern, "tools/call"),
        "modern, capabilities not an object": (
            with_params(
                modern_body, _meta={**meta, "io.modelcontextprotocol/clientCapabilities": 5}
            ),
            modern,
            "tools/call",
        ),
        "modern, a continuation": (
            with_params(modern_body, requestState="opaque"),
            modern,
            "tools/call",
        ),
    }
    encoded = {
        kind: (json.dumps(m).encode(), h, method) for kind, (m, h, method) in variants.items()
    }
    surrogate = json.dumps({**body, "id": "X"}).replace('"X"', '"\\ud800"').encode()
    encoded["lone surrogate in the id"] = (surrogate, legacy, "tools/call")
    return encoded


DEFERRED = _deferred()


@pytest.mark.parametrize("kind", DEFERRED)
async def test_anything_but_a_plain_call_reaches_the_sdk_intact(
    config: settings.Settings, kind: str
) -> None:
    body, headers, method = DEFERRED[kind]
    async with stacks(config) as s:
        fast = await s.fast.post(mounting.MCP_PATH, content=body, headers=headers)
        sdk = await s.sdk.post(mounting.MCP_PATH, content=body, headers=headers)
        assert s.spy.methods == [method]
    assert fast.status_code == sdk.status_code
    assert fast.content == sdk.content


def _fast_path(inner: ASGIApp) -> ASGIApp:
    shortcut = fast_path.ToolCallFastPath(inner, FastMCP("t"), path="/mcp/")
    assert shortcut.index([])
    return shortcut


def _app_sessions(inner: ASGIApp) -> ASGIApp:
    return app_sessions.AppSessions(inner, path="/mcp/")


@pytest.mark.parametrize("reader", [_fast_path, _app_sessions], ids=["fast path", "app sessions"])
async def test_a_disconnect_while_the_body_arrives_still_reaches_the_sdk(
    reader: Callable[[ASGIApp], ASGIApp],
) -> None:
    """Both readers of a body ahead of the SDK hand it everything, the disconnect too."""
    seen: list[Message] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        while not seen or seen[-1]["type"] != "http.disconnect":
            seen.append(await receive())

    shortcut = reader(inner)
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"jsonrpc":', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)  # the disconnect comes once: losing it would hang the SDK

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp/",
        "headers": [(b"content-type", b"application/json"), (b"accept", b"application/json")],
    }
    await asyncio.wait_for(shortcut(scope, receive, _no_send), timeout=5)
    assert seen == [
        {"type": "http.request", "body": b'{"jsonrpc":', "more_body": True},
        {"type": "http.disconnect"},
    ]


async def _no_send(message: Message) -> None:
    raise AssertionError(f"nothing should be sent: {message}")


async def test_an_mcp_param_header_no_argument_is_bound_to_is_answered_as_the_sdk_does(
    config: settings.Settings,
) -> None:
    body, headers = tool_call("list_datasources", {}, modern=True)
    headers["Mcp-Param-Region"] = "eu"
    async with stacks(config) as s:
        fast = await s.fast.post(mounting.MCP_PATH, json=body, headers=headers)
        sdk = await s.sdk.post(mounting.MCP_PATH, json=body, headers=headers)
    assert fast.status_code == sdk.status_code
    assert fast.json() == sdk.json()


async def test_wrong_media_types_and_oversized_bodies_get_the_sdk_answers(
    config: settings.Settings,
) -> None:
    body, headers = tool_call("query_instant", {"datasource_id": "prom", "promql": "up", "time": 1})
    async with stacks(config) as s:
        text = await s.fast.post(
            mounting.MCP_PATH,
            content=json.dumps(body),
            headers={**headers, "content-type": "text/plain"},
        )
        no_json = await s.fast.post(
            mounting.MCP_PATH, json=body, headers={**headers, "Accept": "text/event-stream"}
        )
        huge = dict(body, params={**body["params"], "arguments": {"promql": "x" * 5_000_000}})
        oversized = await s.fast.post(mounting.MCP_PATH, json=huge, headers=headers)
        assert len(s.spy.methods) == 3
    assert text.status_code == 400
    assert no_json.status_code == 406
    assert oversized.status_code == 413


async def test_the_fast_path_stays_off_when_middleware_hooks_every_message(
    config: settings.Settings,
) -> None:
    seen: list[str] = []

    class Audit(Middleware):
        async def on_message(
            self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
        ) -> Any:
            seen.append(context.method or "")
            return await call_next(context)

    application = assembly.Application(config)
    application.mcp.add_middleware(Audit())
    body, headers = tool_call("list_datasources", {})
    async with stacks(config, application.mcp) as s:
        response = await s.fast.post(mounting.MCP_PATH, json=body, headers=headers)
        assert s.spy.methods == ["tools/call"]
    assert response.status_code == 200 and not response.json()["result"].get("isError")
    assert "tools/call" in seen
    await application.pool.aclose()


def test_results_encode_once_and_reuse_that_text() -> None:
    result = calls._compact({"values": [1.5, float("nan"), float("inf")]}, 1000)
    assert isinstance(result, calls.EncodedResult) and result.encoded is not None
    assert json.loads(result.encoded) == {"values": [1.5, "NaN", "+Inf"]}
    assert result.structured_content == json.loads(result.encoded)
    replaced = result.model_copy(update={"structured_content": {"values": []}})
    assert replaced.encoded is None  # a middleware's replacement is never sent as stale text


async def test_mcp_fast_path_off_leaves_every_call_to_the_sdk(config: settings.Settings) -> None:
    off = config.model_copy(
        update={"server": config.server.model_copy(update={"fast_path": False})}
    )
    application = assembly.Application(off)
    try:
        await mounting.index_tools(application.mcp, application.fast_path)
        assert application.fast_path.status == fast_path.Status(False, "MCP_FAST_PATH=off")
    finally:
        await application.pool.aclose()


async def test_the_fast_path_stays_off_on_releases_it_was_not_tested_with(
    config: settings.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(versions, "TESTED_WITH", (("0.0.1", "0.0.1"),))
    application = assembly.Application(config)
    try:
        lookup = application.mcp._mcp_server.get_tool_input_schema
        await mounting.index_tools(application.mcp, application.fast_path)
        status = application.fast_path.status
        assert not status.on and "is not a tested pair" in (status.reason or "")
        assert application.mcp._mcp_server.get_tool_input_schema == lookup  # left alone
    finally:
        await application.pool.aclose()


def test_ready_says_whether_the_fast_path_is_on(server: harness.RunningServer) -> None:
    ready = httpx.get(f"{server.health_url}/ready", timeout=10).json()
    assert ready["fast_path"] == {"on": True}
