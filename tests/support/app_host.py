"""The MCP Apps test host, served: the host page `viewer/` builds (ext-apps' AppBridge and
the MCP TypeScript client), the built app, and a reverse proxy from /mcp/ to a proms-mcp
server, all on one loopback origin, so the browser's MCP requests are same-origin (no CORS)
and pass the server's Host/Origin check as loopback.

    with serving_host(server.mcp_url) as base:   # http://127.0.0.1:<port>/
        ... open base in Chromium, call window.host.run({...})
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator

from aiohttp import ClientSession, ClientTimeout, web

from tests.support import ports

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP_FILE = ROOT / "mcp_server" / "tools" / "viewer" / "chart.html"
HOST_DIR = ROOT / "viewer" / "dist" / "host"
_SESSION = web.AppKey("session", ClientSession)
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
    "accept-encoding",
}


def built() -> None:
    """The app and the test host, built from viewer/ when missing or older than their
    sources (`make viewer`: a no-op when up to date)."""
    subprocess.run(["make", "-s", "viewer"], cwd=ROOT, check=True, timeout=600)
    for needed in (APP_FILE, HOST_DIR / "index.html", HOST_DIR / "host.js"):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed} was not built")


def _application(upstream: str) -> web.Application:
    files = {
        "/": (HOST_DIR / "index.html", "text/html"),
        "/host.js": (HOST_DIR / "host.js", "text/javascript"),
        "/chart.html": (APP_FILE, "text/html"),
    }

    async def static(request: web.Request) -> web.Response:
        path, kind = files[request.path]
        return web.Response(body=path.read_bytes(), content_type=kind)

    async def proxy(request: web.Request) -> web.StreamResponse:
        session: ClientSession = request.app[_SESSION]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        target = upstream.rstrip("/") + "/" + request.match_info["tail"]
        async with session.request(
            request.method, target, headers=headers, data=await request.read()
        ) as answer:
            response = web.StreamResponse(status=answer.status)
            for name, value in answer.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    response.headers[name] = value
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def session_context(app: web.Application) -> AsyncIterator[None]:
        async with ClientSession(timeout=ClientTimeout(total=None, sock_connect=10)) as session:
            app[_SESSION] = session
            yield

    application = web.Application()
    application.cleanup_ctx.append(session_context)
    for path in files:
        application.router.add_get(path, static)
    application.router.add_route("*", "/mcp/{tail:.*}", proxy)
    return application


@contextlib.contextmanager
def serving_host(upstream: str, *, timeout: float = 15.0) -> Iterator[str]:
    """The host on a free loopback port, in its own thread; its base URL."""
    port = ports.free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    failed: list[BaseException] = []

    async def main() -> None:
        runner = web.AppRunner(_application(upstream))
        try:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            started.set()
            await stop.wait()
        except BaseException as exc:  # reported to the test thread below
            failed.append(exc)
        finally:
            started.set()
            await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not started.wait(timeout) or failed:
        raise RuntimeError(f"the test host did not start: {failed}")
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
