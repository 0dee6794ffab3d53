"""Assembles one proms-mcp process: registry, sources, the MCP app and the operations app.

`Application.serve()` runs both HTTP servers in one event loop and shuts down in order on
SIGTERM/SIGINT: readiness goes false, the MCP server stops accepting and lets in-flight
calls finish (bounded by SHUTDOWN_TIMEOUT_SECONDS), then background tasks stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, Protocol

import uvicorn
from fastmcp import FastMCP
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..auth import authentication, authorization
from ..backends import live, pooling
from ..core import errors, logs, settings
from ..kube import kubeclient
from ..protocol import calls, fast_path, listing
from ..results import budget
from ..sources import filewatch, readiness, registry
from ..tools import checking, estimating, framing, guidance, inspecting, querying
from . import health, listeners

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp/"
KEEP_ALIVE_SECONDS = 75
"""Longer than clients' and load balancers' idle timeouts (httpx 5 s, most LBs 60 s): with
uvicorn's 5 s default, a call sent on a connection the server is just closing was reset."""

INSTRUCTIONS = """\
Read-only access to Prometheus-compatible metrics backends.
Workflow: list_datasources -> find_metrics_by_pattern -> get_metric_metadata / \
get_metric_labels / get_label_values -> query_instant (now) or query_range (trends). \
check_promql lints a query; estimate_query_cost sizes it before a big range query. \
list_alerts, list_rules and list_targets show what the backend itself knows. \
Answers fit a token budget: `summarized` and `truncated` say what was cut and how to \
narrow; empty answers carry `suggestions`. Errors carry a code: fix arguments on \
invalid_*, retry retryable ones."""


TOOLS = (*querying.TOOLS, *inspecting.TOOLS, *checking.TOOLS, *estimating.TOOLS)
"""Every tool, in the order tools/list shows them."""


def build_mcp(
    backends: live.Backends, *, max_result_tokens: int = budget.DEFAULT_MAX_TOKENS
) -> FastMCP:
    app = FastMCP(
        name="proms-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        middleware=[
            calls.ArgumentErrors(),
            calls.ServerLimit(max_result_tokens),
            listing.LeanListing(backends),
        ],
        mask_error_details=True,
    )
    framing.register(app, backends, TOOLS)
    guidance.register(app, backends)
    return app


class _SlashlessMcpPath:
    """Serve `/mcp` as `/mcp/` in place: a redirect would drop Authorization in many clients."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == MCP_PATH.rstrip("/"):
            scope = dict(scope, path=MCP_PATH, raw_path=MCP_PATH.encode())
        await self._app(scope, receive, send)


def build_mcp_asgi(mcp: FastMCP) -> tuple[ASGIApp, fast_path.ToolCallFastPath]:
    """The MCP ASGI app, and its tools/call fast path (idle until `index_tools`)."""
    starlette_app = mcp.http_app(path=MCP_PATH, stateless_http=True, json_response=True)
    shortcut = fast_path.ToolCallFastPath(starlette_app, mcp, path=MCP_PATH)
    return _SlashlessMcpPath(shortcut), shortcut


async def index_tools(mcp: FastMCP, shortcut: fast_path.ToolCallFastPath) -> None:
    """Give the MCP SDK its per-call input-schema lookup from a table built once.

    On the 2026-07-28 transport the SDK checks each tools/call's `Mcp-Param-*` headers
    against the called tool's input schema. FastMCP 4.1 does not hand the SDK a lookup, so
    the SDK ran a complete tools/list (every middleware, `$ref` dereferencing, serialisation
    of all schemas) on every call: 85% of a call's CPU. Our tools are fixed once
    `build_mcp` returns, so a name -> schema table gives the same answers (the SDK's own
    server answers from its tool table the same way, hidden tools included).
    The same table tells the tools/call fast path which calls it may answer itself.
    """
    tools = await mcp.list_tools(run_middleware=False)
    schemas = {t.name: t.parameters for t in tools}
    mcp._mcp_server.get_tool_input_schema = schemas.get
    shortcut.index(tools)


class Extension(Protocol):
    """Something that feeds the registry from elsewhere (the Kubernetes operator).

    `start` must return quickly and run its loops through `Application.start_background`;
    it registers itself with `Application.readiness` so /ready waits for its first sync.
    """

    async def start(self, application: Application) -> None: ...

    async def stop(self) -> None: ...


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the Application owns the signals), named in
    its log lines."""

    def __init__(self, name: logs.ServerName, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.name = name

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Application:
    def __init__(
        self,
        config: settings.Settings,
        *,
        env: Mapping[str, str] | None = None,
        extensions: Sequence[Extension] = (),
    ) -> None:
        self.settings = config
        self.registry = registry.Registry()
        self.readiness = readiness.Readiness()
        self.pool = pooling.ClientPool(
            default_timeout=config.prometheus.query_timeout_seconds,
            max_response_bytes=config.prometheus.max_response_bytes,
        )
        self.backends = live.Backends(self.registry, self.pool)
        self.mcp = build_mcp(self.backends, max_result_tokens=config.server.max_result_tokens)
        self.mcp_asgi, self.fast_path = build_mcp_asgi(self.mcp)
        self.health_asgi = health.build_app(self.registry, self.readiness)
        self.file_source: filewatch.FileSource | None = None
        path = config.sources.datasources_path
        if path is not None:
            self.file_source = filewatch.FileSource(
                path, self.registry, self.readiness, env=os.environ if env is None else env
            )
        self.extensions = tuple(extensions)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self.kube_api: kubeclient.KubeApi | None = None
        self.mcp_server: _Server | None = None
        self.health_server: _Server | None = None

    def start_background(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Every background loop starts here: named, kept, and its death logged."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)

        def _done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                logger.error("background task %s died", name, exc_info=finished.exception())

        task.add_done_callback(_done)

    def request_stop(self) -> None:
        self.readiness.drain()
        self._stop.set()

    async def serve(self, *, on_ready: Callable[[], Awaitable[None]] | None = None) -> None:
        """Serve until `request_stop`.

        Everything that can refuse a start (a port taken, an unreadable provisioning path,
        an unusable certificate, an unreachable Kubernetes API) is checked first, before any
        log line: such a start fails with one ConfigurationError that names the setting.
        """
        listening = self._bind()
        started: list[Extension] = []
        try:
            if self.file_source is not None:
                self.file_source.check_readable()
            if self.settings.auth.mode is settings.AuthMode.ACTIVE:
                await self._enable_auth()
            for extension in self.extensions:
                await extension.start(self)
                started.append(extension)
        except BaseException:
            for sockets in listening.values():
                for sock in sockets:
                    sock.close()
            await self._close(started)
            raise
        await index_tools(self.mcp, self.fast_path)
        if self.file_source is not None:
            self.file_source.reload()
            self.start_background(
                "file-source-watch",
                self.file_source.watch(self.settings.sources.reload_interval_seconds),
            )
        elif not self.settings.sources.path_explicit and not self.extensions:
            logger.warning(
                "no GRAFANA_DATASOURCES_PATH and no %s: serving no datasources",
                settings.SEED_DATASOURCES_PATH,
            )
        self._build_servers()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        servers = [s for s in (self.mcp_server, self.health_server) if s is not None]
        running = [
            asyncio.create_task(_run_server(s, listening[s.name]), name=f"uvicorn-{s.name.field}")
            for s in servers
        ]
        try:
            if await self._wait_started(servers, running):
                for s in servers:
                    logger.info(
                        s.name.prefix(f"listening on {_url(s.config.host, s.name.port)}"),
                        extra={"server": s.name.field, "port": s.name.port},
                    )
                if on_ready is not None:
                    await on_ready()
            stop = asyncio.create_task(self._stop.wait(), name="stop-signal")
            done, _ = await asyncio.wait([stop, *running], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            for task in running:
                if task in done and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            await self._shutdown(running)

    def _bind(self) -> dict[logs.ServerName, list[socket.socket]]:
        """Both ports' sockets, or a ConfigurationError naming the setting."""
        server = self.settings.server
        listening = {
            logs.ServerName("MCP", server.port): listeners.bind("PORT", server.host, server.port)
        }
        if server.health_metrics_port:
            try:
                health = listeners.bind(
                    "HEALTH_METRICS_PORT", server.host, server.health_metrics_port
                )
            except errors.ConfigurationError:
                for sock in listening[logs.ServerName("MCP", server.port)]:
                    sock.close()
                raise
            listening[logs.ServerName("health", server.health_metrics_port)] = health
        return listening

    def _build_servers(self) -> None:
        server = self.settings.server
        self.mcp_server = _Server(
            logs.ServerName("MCP", server.port),
            uvicorn.Config(
                self.mcp_asgi,
                host=server.host,
                port=server.port,
                log_config=logs.UVICORN_LOG_CONFIG,
                timeout_graceful_shutdown=int(server.shutdown_timeout_seconds),
                timeout_keep_alive=KEEP_ALIVE_SECONDS,
                lifespan="on",
                http="httptools",  # C parser: a quarter of h11's cost per request
                access_log=True,
            ),
        )
        if server.health_metrics_port:
            self.health_server = _Server(
                logs.ServerName("health", server.health_metrics_port),
                uvicorn.Config(
                    logs.without_access_lines(self.health_asgi),
                    host=server.host,
                    port=server.health_metrics_port,
                    log_config=logs.UVICORN_LOG_CONFIG,
                    lifespan="off",
                    http="httptools",
                    # access_log=False would switch uvicorn's one access logger off for
                    # the MCP port too: probes and scrapes are left out by the wrapper.
                ),
            )

    async def _enable_auth(self) -> None:
        """TokenReview in front of /mcp/, SubjectAccessReview per datasource."""
        auth = self.settings.auth
        try:
            self.kube_api = await kubeclient.KubeApi.connect(
                self.settings.operator.kubeconfig,
                api_url=auth.api_url,
                ca_cert_path=auth.ca_cert_path,
            )
            await self.kube_api.check_reachable()
        except kubeclient.ApiError as exc:
            raise errors.ConfigurationError(
                f"AUTH_MODE=active needs the Kubernetes API: {exc}"
            ) from None
        reviewer = authentication.TokenReviewer(self.kube_api, audiences=auth.audiences)
        self.mcp_asgi = authentication.BearerAuthentication(
            self.mcp_asgi, reviewer.review, resource_path=MCP_PATH
        )
        self.backends.authorizer = authorization.Authorizer(
            self.kube_api,
            verb=auth.authorization_verb,
            file_policy=authorization.Policy(auth.file_access),
            configmap_policy=authorization.Policy(auth.configmap_access),
        )

    async def _wait_started(
        self, servers: list[_Server], running: list[asyncio.Task[None]]
    ) -> bool:
        """True once every server listens; False if one of them gave up (port taken)."""
        while not all(s.started for s in servers):
            if any(task.done() for task in running):
                return False
            await asyncio.sleep(0.01)
        return True

    async def _shutdown(self, running: list[asyncio.Task[None]]) -> None:
        self.readiness.drain()
        if self.mcp_server is not None:
            self.mcp_server.should_exit = True
        if running:
            await asyncio.wait(running[:1])
        if self.health_server is not None:
            self.health_server.should_exit = True
        await asyncio.wait(running)
        await self._close(self.extensions)
        logger.info("proms-mcp stopped")

    async def _close(self, extensions: Sequence[Extension]) -> None:
        """Stop `extensions` and background tasks, close the clients."""
        for extension in extensions:
            try:
                await extension.stop()
            except Exception:
                logger.exception("stopping %s failed", type(extension).__name__)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self.pool.aclose()
        if self.kube_api is not None:
            await self.kube_api.aclose()


async def _run_server(server: _Server, sockets: list[socket.socket]) -> None:
    logs.name_this_server(server.name)  # this task's lines, and its lifespan task's
    await server.serve(sockets=sockets)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(config: settings.Settings, *, extensions: Sequence[Extension] = ()) -> int:
    """Serve until SIGTERM/SIGINT; the exit code for the command line."""
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_serve(config, extensions))
    except errors.ConfigurationError as exc:
        print(f"proms-mcp: {exc}", file=sys.stderr)  # one line, like the command line's own
        return 2
    except KeyboardInterrupt:
        pass
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it exists (not on Windows): about a tenth less CPU per tool call."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


GC_THRESHOLDS = (10_000, 10, 10)
"""Young-generation size before a collection (CPython's default is 700): with dozens of calls
in flight, the default collected several times per call, scanning and promoting the same
live request objects again and again."""


def tune_gc() -> None:
    """Once serving: freeze what start-up built, and collect the young generation less often.

    The ~170k objects of imported modules, schemas and the app never become garbage, yet a
    full collection walked them all: 150-200 ms with the event loop stopped, about once per
    600 calls under load. Frozen, they are left out of every collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    _return_free_heap()


def _return_free_heap() -> None:
    """Hand the heap that start-up used and freed back to the system.

    Imports, schema building and the first reload leave free blocks that glibc keeps for
    later: `malloc_trim` returned 3-4 MiB of RSS idle here (107-109 -> 104-105 MiB standalone
    with one datasource), once, in under a millisecond. A no-op where libc has no such call.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


async def _serve(config: settings.Settings, extensions: Sequence[Extension]) -> None:
    application = Application(config, extensions=extensions)

    async def announce() -> None:
        tune_gc()
        host = config.server.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        logger.info(
            "serving MCP at http://%s:%d%s",
            shown,
            config.server.port,
            MCP_PATH,
            extra={"auth_mode": config.auth.mode.value},
        )

    await application.serve(on_ready=announce)
