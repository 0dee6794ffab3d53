"""Debian's headless Chromium, driven over the DevTools protocol, for the MCP App's tests
and render benchmark.

No browser can be downloaded here (Playwright's builds are out of reach), so this drives
`/usr/bin/chromium` (or `$CHROMIUM_BIN`) itself: one process per test module, one tab per
test, JSON-RPC over the `websockets` package the environment already has. Frames in other
processes (a sandboxed iframe may get its own) are attached as flat sessions, so code can be
evaluated in the app's frame as well as in the host page.

    with running_chromium(tmp_path) as chromium:
        async with await Tab.open(chromium, url) as tab:
            state = await tab.until_in_app("window.__chartState", lambda s: s is not None)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import pathlib
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class ChromiumUnavailable(Exception):
    """No Chromium binary: a failure in CI (CI=1), never a skip there."""


def find_chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM_BIN"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    raise ChromiumUnavailable("no chromium: apt-get install chromium (or set CHROMIUM_BIN)")


@dataclass(frozen=True)
class Chromium:
    endpoint: str
    """The browser's DevTools websocket."""
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def running_chromium(profile: pathlib.Path, *, timeout: float = 60.0) -> Iterator[Chromium]:
    """Headless Chromium on a DevTools port it picks itself (no fixed port), its profile in
    `profile`; stopped (and waited for) on exit."""
    binary = find_chromium()
    arguments = [
        binary,
        "--headless",
        "--no-sandbox",  # as root, and in containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    log = profile.with_suffix(".log")
    with log.open("wb") as sink:
        process = subprocess.Popen(arguments, stdout=sink, stderr=subprocess.STDOUT)
    try:
        endpoint = _endpoint(log, process, timeout)
        yield Chromium(endpoint, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _endpoint(log: pathlib.Path, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _LISTENING.search(log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"chromium printed no DevTools endpoint within {timeout:g} s")


@dataclass
class _Connection:
    """One websocket to the browser; commands by id, events kept per session."""

    socket: ClientConnection
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    watching: set[asyncio.Task[None]] = field(default_factory=set)

    async def pump(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message and message["id"] in self.pending:
                self.pending.pop(message["id"]).set_result(message)
            elif "method" in message:
                self.events.append(message)
                attached = message["method"] == "Target.attachedToTarget"
                if attached and message["params"]["targetInfo"]["type"] == "iframe":
                    task = asyncio.create_task(self.watch(message["params"]["sessionId"]))
                    self.watching.add(task)
                    task.add_done_callback(self.watching.discard)

    async def watch(self, session: str) -> None:
        """Record a page's or frame's requests, JavaScript contexts and log (CSP
        violations: Log.enable replays what was logged before), and let it run if it
        waits (frames attached as they start do)."""
        for method in ("Network.enable", "Runtime.enable", "Log.enable"):
            await self.send(method, None, session)
        auto = {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True}
        await self.send("Target.setAutoAttach", auto, session)
        await self.send("Runtime.runIfWaitingForDebugger", None, session)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        number = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[number] = future
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self.socket.send(json.dumps(message))
        answer = await asyncio.wait_for(future, 60)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result


_CONTENT_HEIGHT = """(() => {
  const root = document.documentElement, was = root.style.height;
  root.style.height = "max-content";
  const height = Math.ceil(root.getBoundingClientRect().height);
  root.style.height = was;
  return height;
})()"""


class Tab:
    """A page in the browser, with the execution contexts of its frames."""

    def __init__(self, connection: _Connection, pump: asyncio.Task[None], target: str) -> None:
        self._connection = connection
        self._pump = pump
        self._target = target
        self._width = 900
        self.session = ""

    @classmethod
    async def open(cls, chromium: Chromium, url: str, *, width: int = 900) -> Tab:
        socket = await connect(chromium.endpoint, max_size=None)
        connection = _Connection(socket)
        pump = asyncio.create_task(connection.pump())
        target = (await connection.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        tab = cls(connection, pump, target)
        tab._width = width
        attached = {"targetId": target, "flatten": True}
        tab.session = (await connection.send("Target.attachToTarget", attached))["sessionId"]
        await tab.send("Page.enable")
        await connection.watch(tab.session)
        metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": False}
        await tab.send("Emulation.setDeviceMetricsOverride", metrics)
        await tab.send("Page.navigate", {"url": url})
        return tab

    async def __aenter__(self) -> Tab:
        return self

    async def __aexit__(self, *_: object) -> None:
        with contextlib.suppress(Exception):
            await self._connection.send("Target.closeTarget", {"targetId": self._target})
        await self._connection.socket.close()
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._pump

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        return await self._connection.send(method, params, session or self.session)

    def _frame_session(self) -> str | None:
        """The session of the latest iframe running in its own process (a sandboxed
        iframe usually does), or None when the iframe shares the page's."""
        sessions = [
            event["params"]["sessionId"]
            for event in self._connection.events
            if event["method"] == "Target.attachedToTarget"
            and event["params"]["targetInfo"]["type"] == "iframe"
        ]
        return sessions[-1] if sessions else None

    def _contexts(self) -> list[tuple[str, int, str]]:
        """(session, context id, frame id) of every frame's default JavaScript context."""
        found = []
        for event in self._connection.events:
            if event["method"] != "Runtime.executionContextCreated":
                continue
            context = event["params"]["context"]
            aux = context.get("auxData", {})
            if aux.get("isDefault"):
                found.append((event.get("sessionId", ""), context["id"], aux.get("frameId", "")))
        return found

    async def evaluate(self, expression: str, *, in_app: bool = False) -> Any:
        """The value of `expression` in the page, or in the app's (the iframe's) frame."""
        params: dict[str, Any] = {
            "expression": expression,
            "awaitPromise": True,
            "returnByValue": True,
        }
        session = self.session
        if in_app:
            session, context = await self._app_context()
            params["contextId"] = context
        answer = await self._connection.send("Runtime.evaluate", params, session)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression[:80]}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def _app_context(self) -> tuple[str, int]:
        remote = self._frame_session()
        if remote is not None:
            contexts = [context for session, context, _ in self._contexts() if session == remote]
            if contexts:
                return remote, contexts[-1]
            raise LookupError("the app's frame has no JavaScript context yet")
        tree = await self.send("Page.getFrameTree")
        children = tree["frameTree"].get("childFrames", [])
        if not children:
            raise LookupError("the host page has no iframe yet")
        frame = children[-1]["frame"]["id"]
        for session, context, frame_id in reversed(self._contexts()):
            if frame_id == frame:
                return session, context
        raise LookupError("the app's frame has no JavaScript context yet")

    async def until(
        self,
        expression: str,
        condition: Callable[[Any], bool],
        *,
        in_app: bool = False,
        timeout: float = 30.0,
    ) -> Any:
        """Poll `expression` until `condition` holds for its value; its last value."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(LookupError, RuntimeError):
                value = await self.evaluate(expression, in_app=in_app)
                if condition(value):
                    return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"{expression} not as expected within {timeout:g} s: {value!r}")

    def logged(self, source: str) -> list[str]:
        """What the page and its frames logged from `source` ("security": CSP violations)."""
        return [
            event["params"]["entry"]["text"]
            for event in self._connection.events
            if event["method"] == "Log.entryAdded" and event["params"]["entry"]["source"] == source
        ]

    def requested_urls(self) -> list[str]:
        """Every URL the page and its frames asked the network for."""
        return [
            event["params"]["request"]["url"]
            for event in self._connection.events
            if event["method"] == "Network.requestWillBeSent"
        ]

    async def settled_size(self) -> None:
        """Until the host's iframe is as tall as the app asks (ext-apps measures the root
        element at `max-content`), at most 1400 px, the test host's cap."""
        wanted = await self.evaluate(_CONTENT_HEIGHT, in_app=True)
        await self.until(
            "document.querySelector('iframe').offsetHeight", lambda h: h >= min(wanted, 1400) - 2
        )

    async def screenshot(self, path: pathlib.Path) -> None:
        """A PNG of the whole page (the host and the app in it), once the iframe has taken
        the height the app asked for."""
        await self.settled_size()
        height = await self.evaluate("Math.ceil(document.body.getBoundingClientRect().bottom)")
        metrics = {"width": self._width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        await self.send("Emulation.setDeviceMetricsOverride", metrics)
        shot = await self.send("Page.captureScreenshot", {"format": "png", "fromSurface": True})
        await asyncio.to_thread(_write, path, base64.b64decode(shot["data"]))


def _write(path: pathlib.Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
