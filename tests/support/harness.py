"""Our own server, for real: an Application in a thread with its own event loop, on free
loopback ports, reached over HTTP exactly as an agent would reach it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from prometheus_client import parser

from mcp_server.app import assembly, hosting
from mcp_server.core import settings
from mcp_server.demo import local
from mcp_server.protocol import mounting
from tests.support import ports

free_port = ports.free_port

McpClient = Client[StreamableHttpTransport]


def initialize(client: str) -> dict[str, Any]:
    """A raw MCP initialize request from `client`, for tests that speak HTTP without a
    client library."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": client, "version": "0"},
        },
    }


INITIALIZE = initialize("probe")


@dataclass(frozen=True)
class RunningServer:
    application: assembly.Application
    mcp_url: str
    health_url: str
    loop: asyncio.AbstractEventLoop

    def call_in_loop(self, function: Callable[[], object]) -> None:
        self.loop.call_soon_threadsafe(function)


def make_settings(**groups: dict[str, object]) -> settings.Settings:
    """Settings on free ports with quick reloads; groups override fields per section."""
    base: dict[str, dict[str, object]] = {
        "server": {"port": free_port(), "health_metrics_port": free_port()},
        "sources": {"reload_interval_seconds": 0.1},
    }
    for name, fields in groups.items():
        base.setdefault(name, {}).update(fields)
    return settings.Settings.model_validate(base)


@contextlib.contextmanager
def serve_in_thread(
    config: settings.Settings, *, start_timeout: float = 15.0
) -> Iterator[RunningServer]:
    started = threading.Event()
    holder: dict[str, object] = {}

    def run() -> None:
        async def main() -> None:
            application = assembly.Application(config)
            holder["application"] = application
            holder["loop"] = asyncio.get_running_loop()

            async def ready() -> None:
                started.set()

            await application.serve(on_ready=ready)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test thread below
            holder["error"] = exc
        finally:
            started.set()

    thread = threading.Thread(target=run, name="proms-mcp-under-test", daemon=True)
    thread.start()
    if not started.wait(start_timeout) or "error" in holder:
        raise RuntimeError(f"proms-mcp did not start: {holder.get('error')!r}")
    application = holder["application"]
    loop = holder["loop"]
    assert isinstance(application, assembly.Application)
    assert isinstance(loop, asyncio.AbstractEventLoop)
    running = RunningServer(
        application=application,
        mcp_url=f"http://127.0.0.1:{config.server.port}{mounting.MCP_PATH}",
        health_url=f"http://127.0.0.1:{config.server.health_metrics_port}",
        loop=loop,
    )
    try:
        yield running
    finally:
        loop.call_soon_threadsafe(application.request_stop)
        thread.join(timeout=config.server.shutdown_timeout_seconds + 10)
        if thread.is_alive():
            raise RuntimeError("proms-mcp did not stop within its grace period")


@contextlib.contextmanager
def serving_file(path: pathlib.Path, **groups: dict[str, object]) -> Iterator[RunningServer]:
    """`serve_in_thread` for the provisioning file (or folder) at `path`; `groups` override
    settings as in `make_settings`."""
    sources = {"datasources_path": path, **groups.pop("sources", {})}
    with serve_in_thread(make_settings(sources=sources, **groups)) as running:
        yield running


@contextlib.contextmanager
def serving_datasources(
    directory: pathlib.Path, *entries: Mapping[str, object], **groups: dict[str, object]
) -> Iterator[RunningServer]:
    """`serving_file` for a provisioning file of `entries` written into `directory`."""
    path = directory / "datasources.yaml"
    path.write_text(json.dumps({"apiVersion": 1, "datasources": list(entries)}))
    with serving_file(path, **groups) as running:
        yield running


def poll(condition: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Wait for a condition with a deadline; fail loudly instead of sleeping and hoping."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:g}s")


def metric(health_url: str, name: str, **labels: str) -> float:
    """One sample of proms-mcp's own `/metrics` with these labels (0 before it has one)."""
    text = httpx.get(f"{health_url}/metrics", trust_env=False, timeout=10).text
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return 0.0


@contextlib.asynccontextmanager
async def serving(
    config: settings.Settings, *, extensions: Sequence[hosting.Extension] = ()
) -> AsyncIterator[assembly.Application]:
    """The Application in the test's own event loop: for tests whose fakes (KMock) live in
    that loop too, where a server thread would deadlock on blocking polls."""
    application = assembly.Application(config, extensions=extensions)
    started = asyncio.Event()

    async def ready() -> None:
        started.set()

    task = asyncio.create_task(application.serve(on_ready=ready), name="proms-mcp-under-test")
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait([task, waiter], timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        waiter.cancel()
        if task.done():
            task.result()
        raise RuntimeError("proms-mcp did not start within 15 s")
    try:
        yield application
    finally:
        application.request_stop()
        await asyncio.wait_for(task, config.server.shutdown_timeout_seconds + 10)


async def eventually(
    condition: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """The async twin of `poll`, for conditions served by the test's own loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:g}s")


class Handler(BaseHTTPRequestHandler):
    """A fake server's request handler: quiet, and one way to answer."""

    def reply(
        self,
        body: bytes,
        content_type: str = "application/json",
        *,
        status: int = 200,
        reason: str | None = None,
    ) -> None:
        self.send_response(status, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class BuildinfoTarget(Handler):
    """A backend answering buildinfo that notes when each request came (probe timing);
    a test subclasses it with a `times` list of its own."""

    times: ClassVar[list[float]] = []
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.times.append(time.monotonic())
        self.reply(b'{"status":"success","data":{"version":"2.42.0"}}')


class ScalarBackend(Handler):
    """A minimal Prometheus-shaped backend answering every POST with a scalar; subclasses
    override `answer` to record or delay."""

    scalar = "1"

    def answer(self) -> None:
        """Hook called before the response is written."""

    def do_POST(self) -> None:
        self.answer()
        data = {"resultType": "scalar", "result": [0, self.scalar]}
        self.reply(json.dumps({"status": "success", "data": data}).encode())


@contextlib.contextmanager
def http_server(
    handler: type[BaseHTTPRequestHandler],
    *,
    tls: ssl.SSLContext | None = None,
    address: tuple[str, int] = ("127.0.0.1", 0),
) -> Iterator[str]:
    """A threaded HTTP server on a free loopback port, or `address` (HTTPS with a server
    context `tls`); yields its base URL."""
    with local.http_server(handler, name="fake-backend", tls=tls, address=address) as where:
        yield f"https://{where}" if tls is not None else f"http://{where}"


class MetricsTarget(Handler):
    """A scrape target: `exposition()` (Prometheus text format) at /metrics. A test serves
    its own by subclassing, and changes it mid-test through its own state."""

    def exposition(self) -> str:
        return ""

    def do_GET(self) -> None:
        self.reply(self.exposition().encode(), EXPOSITION)


EXPOSITION = "text/plain; version=0.0.4"
"""The Content-Type of the Prometheus text format."""


def client_of(server: str) -> Any:
    """A fixture: an MCP client, one per test, of the server that the fixture named `server`
    runs (a module's `fake = harness.client_of("fake_server")`)."""

    @pytest.fixture
    async def client(request: pytest.FixtureRequest) -> AsyncIterator[McpClient]:
        running: RunningServer = request.getfixturevalue(server)
        async with Client(running.mcp_url) as connected:
            yield connected

    return client


def server_of(prometheus: str, name: str) -> Any:
    """A module fixture: proms-mcp serving, as the datasource `name`, the Prometheus that the
    fixture named `prometheus` runs."""

    @pytest.fixture(scope="module")
    def server(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[RunningServer]:
        url = request.getfixturevalue(prometheus).url
        source = {"name": name, "type": "prometheus", "url": url}
        with serving_datasources(tmp_path_factory.mktemp(name), source) as running:
            yield running

    return server
