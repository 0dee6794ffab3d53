"""Assembles one proms-mcp process: registry, sources, the MCP app and the operations app.

Everything is built when the Application is constructed, from the settings alone; `serve()`
only checks what needs the network or the file system, starts, and stops. It runs both HTTP
servers in one event loop and shuts down in order on SIGTERM/SIGINT: readiness goes false,
the MCP server keeps accepting for SHUTDOWN_DELAY_SECONDS (so load balancers stop sending
first), then stops accepting and lets in-flight calls finish (bounded by
SHUTDOWN_TIMEOUT_SECONDS), then background tasks stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastmcp import FastMCP
from starlette.types import ASGIApp

from .. import __version__
from ..auth import authentication, authorization
from ..backends import alertmanager, facts, live, pooling
from ..core import errors, settings
from ..kube import kubeclient, kubeconfig
from ..protocol import calls, listing, mounting, request_guard
from ..sources import datasources, filewatch, readiness, registry
from ..tools import (
    alerting,
    charting,
    checking,
    estimating,
    framing,
    guidance,
    inspecting,
    investigating,
    querying,
)
from . import health, hosting, listeners, servers

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
Read-only access to Prometheus-compatible metrics backends.
Workflow: list_datasources -> find_metrics_by_pattern -> get_metric_metadata / \
get_metric_labels / get_label_values -> query_instant (now) or query_range (trends). \
check_promql lints a query; estimate_query_cost sizes it before a big range query. \
list_alerts, list_rules and list_targets show what the backend itself knows. \
Answers fit a token budget: `summarized` and `truncated` say what was cut and how to \
narrow; empty answers carry `suggestions`. Errors carry a code: fix arguments on \
invalid_*, retry retryable ones."""

TOOLS = (
    *querying.TOOLS,
    *inspecting.TOOLS,
    *checking.TOOLS,
    *estimating.TOOLS,
    *alerting.TOOLS,
    *investigating.TOOLS,
)
"""Every tool, in the order tools/list shows them."""


def build_mcp(
    backends: live.Backends,
    *,
    max_result_tokens: int,
    max_calls_per_caller: int,
    chart_caps: charting.Caps,
) -> FastMCP:
    app = FastMCP(
        name="proms-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        middleware=[
            calls.CallerLimit(max_calls_per_caller),
            calls.ArgumentErrors(),
            calls.ServerLimit(max_result_tokens),
            listing.LeanListing(backends),
        ],
        mask_error_details=True,
    )
    framing.register(app, backends, TOOLS, dict.fromkeys(charting.LINKED, charting.TOOL_META))
    guidance.register(app, backends)
    charting.register(app, backends, chart_caps)
    return app


class Application:
    """One process; complete once constructed. Raises ConfigurationError for settings it
    cannot build from (an unusable kubeconfig with AUTH_MODE=active)."""

    def __init__(
        self,
        config: settings.Settings,
        *,
        env: Mapping[str, str] | None = None,
        extensions: Sequence[hosting.Extension] = (),
    ) -> None:
        self.settings = config
        self.extensions = tuple(extensions)
        self.registry = registry.Registry()
        self.readiness = readiness.Readiness()
        self.pool = pooling.ClientPool(
            default_timeout=config.prometheus.query_timeout_seconds,
            max_response_bytes=config.prometheus.max_response_bytes,
            max_connections_per_origin=config.prometheus.max_connections_per_origin,
        )
        self.kube_api = _kube_api(config) if _active(config) else None
        authorizer = _authorizer(config.auth, self.kube_api) if self.kube_api else None
        self.backends = live.Backends(
            self.registry,
            self.pool,
            authorizer=authorizer,
            fanout_concurrency=config.prometheus.fanout_concurrency,
            fanout_timeout=config.prometheus.fanout_timeout_seconds,
        )
        self.mcp = build_mcp(
            self.backends,
            max_result_tokens=config.server.max_result_tokens,
            max_calls_per_caller=config.server.max_calls_per_caller,
            chart_caps=charting.Caps(config.server.app_max_series, config.server.app_max_points),
        )
        asgi, self.fast_path = mounting.mcp_asgi(self.mcp, fast=config.server.fast_path)
        self.mcp_asgi = request_guard.RequestGuard(
            _authenticated(asgi, config.auth, self.kube_api),
            request_guard.Allowed.of(config.server.allowed_hosts, config.server.allowed_origins),
        )
        self.health_asgi = health.build_app(
            self.registry, self.readiness, lambda: self.fast_path.status
        )
        self.file_source = _file_source(config, self.registry, self.readiness, env)
        self.mcp_server = servers.mcp_server(config.server, self.mcp_asgi)
        self.health_server = servers.health_server(config.server, self.health_asgi)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()

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

    async def build_info(
        self, datasource: datasources.Datasource, *, timeout: float
    ) -> Mapping[str, object]:
        """What the operator's probe reads: Prometheus's buildinfo, or an Alertmanager's
        version from its status."""
        client = self.pool.client_for(datasource)
        if datasource.kind is datasources.DatasourceKind.ALERTMANAGER:
            try:
                status = await alertmanager.status(datasource, client, timeout=timeout)
            except errors.Unsupported as exc:  # a 404: it answers, but not as an Alertmanager
                raise errors.EndpointNotFound(exc.message) from None
            version = status.get("versionInfo")
            return version if isinstance(version, dict) else {}
        return await facts.build_info(client, timeout=timeout)

    async def serve(self, *, on_ready: Callable[[], Awaitable[None]] | None = None) -> None:
        """Serve until `request_stop`.

        Everything that can refuse a start (a port taken, an unreadable provisioning path,
        an unreachable Kubernetes API, an extension that cannot start) is checked first,
        before any log line: such a start fails with one ConfigurationError that names the
        setting.
        """
        listening = self._bind()
        await self._start(listening)
        await mounting.index_tools(self.mcp, self.fast_path)
        self._watch_sources()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        running = [
            asyncio.create_task(s.serve_sockets(listening[s.name]), name=f"uvicorn-{s.name.field}")
            for s in self._servers
        ]
        try:
            if await self._wait_started(running):
                for s in self._servers:
                    logger.info(
                        s.name.prefix(f"listening on {s.url}"),
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

    @property
    def _servers(self) -> list[servers.Server]:
        return [s for s in (self.mcp_server, self.health_server) if s is not None]

    def _bind(self) -> dict[servers.ServerName, list[socket.socket]]:
        """Every server's sockets, or a ConfigurationError naming the setting."""
        listening: dict[servers.ServerName, list[socket.socket]] = {}
        setting = {"MCP": "PORT", "health": "HEALTH_METRICS_PORT"}
        try:
            for server in self._servers:
                name = server.name
                host = self.settings.server.host
                listening[name] = listeners.bind(setting[name.label], host, name.port)
        except errors.ConfigurationError:
            for sockets in listening.values():
                for sock in sockets:
                    sock.close()
            raise
        return listening

    async def _start(self, listening: Mapping[servers.ServerName, list[socket.socket]]) -> None:
        """The checks that need the file system or the network, then the extensions; on any
        failure the sockets are closed and what started is stopped."""
        started: list[hosting.Extension] = []
        try:
            if self.file_source is not None:
                self.file_source.check_readable()
            if self.kube_api is not None:
                try:
                    await self.kube_api.check_reachable()
                except kubeclient.ApiError as exc:
                    if not kubeconfig.in_cluster():
                        raise _needs_kubernetes(exc) from None
                    self._wait_for_api(self.kube_api, exc)
            for extension in self.extensions:
                await extension.start(self)
                started.append(extension)
        except BaseException:
            for sockets in listening.values():
                for sock in sockets:
                    sock.close()
            await self._close(started)
            raise

    def _wait_for_api(self, api: kubeclient.KubeApi, exc: kubeclient.ApiError) -> None:
        """In a pod, an API that does not answer yet is waited for (not ready, saying where
        and why) rather than a crash the kubelet would only restart with a back-off."""
        logger.error("not ready until the Kubernetes API answers: %s", exc)
        self.readiness.register(_API_READINESS)
        self.readiness.failed(_API_READINESS, str(exc))

        async def wait() -> None:
            await api.wait_reachable(lambda why: self.readiness.failed(_API_READINESS, why))
            self.readiness.succeeded(_API_READINESS)
            logger.info("the Kubernetes API answers")

        self.start_background("kubernetes-api", wait())

    def _watch_sources(self) -> None:
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

    async def _wait_started(self, running: list[asyncio.Task[None]]) -> bool:
        """True once every server listens; False if one of them gave up (port taken)."""
        while not all(s.started for s in self._servers):
            if any(task.done() for task in running):
                return False
            await asyncio.sleep(0.01)
        return True

    async def _shutdown(self, running: list[asyncio.Task[None]]) -> None:
        self.readiness.drain()
        delay = self.settings.server.shutdown_delay_seconds
        if delay and self._stop.is_set() and not all(task.done() for task in running):
            # The Service still routes to this pod until its endpoint is removed, which
            # follows /ready failing: keep accepting calls until then.
            logger.info("not ready; still serving for %g s before stopping", delay)
            await asyncio.sleep(delay)
        self.mcp_server.should_exit = True
        if running:
            await asyncio.wait(running[:1])
        if self.health_server is not None:
            self.health_server.should_exit = True
        await asyncio.wait(running)
        await self._close(self.extensions)
        logger.info("proms-mcp stopped")

    async def _close(self, extensions: Sequence[hosting.Extension]) -> None:
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


# --- the parts, from the settings ----------------------------------------------------------


def _active(config: settings.Settings) -> bool:
    return config.auth.mode is settings.AuthMode.ACTIVE


_API_READINESS = "kubernetes-api"
"""The readiness entry of an API that did not answer when a pod started (AUTH_MODE=active)."""


def _needs_kubernetes(exc: kubeclient.ApiError) -> errors.ConfigurationError:
    return errors.ConfigurationError(f"AUTH_MODE=active needs the Kubernetes API: {exc}")


def _kube_api(config: settings.Settings) -> kubeclient.KubeApi:
    """The Kubernetes API that reviews callers' tokens and access (AUTH_MODE=active)."""
    try:
        return kubeclient.KubeApi.connect(
            config.operator.kubeconfig,
            api_url=config.auth.api_url,
            ca_cert_path=config.auth.ca_cert_path,
        )
    except kubeclient.ApiError as exc:
        raise _needs_kubernetes(exc) from None


def _authorizer(auth: settings.AuthSettings, api: kubeclient.KubeApi) -> authorization.Authorizer:
    """SubjectAccessReview per datasource."""
    return authorization.Authorizer(
        api,
        verb=auth.authorization_verb,
        file_policy=authorization.Policy(auth.file_access),
        configmap_policy=authorization.Policy(auth.configmap_access),
    )


def _authenticated(
    app: ASGIApp, auth: settings.AuthSettings, api: kubeclient.KubeApi | None
) -> ASGIApp:
    """TokenReview in front of /mcp/ when there is a Kubernetes API to ask."""
    if api is None:
        return app
    reviewer = authentication.TokenReviewer(api, audiences=auth.audiences)
    return authentication.BearerAuthentication(
        app, reviewer.review, resource_path=mounting.MCP_PATH
    )


def _file_source(
    config: settings.Settings,
    live_registry: registry.Registry,
    status: readiness.Readiness,
    env: Mapping[str, str] | None,
) -> filewatch.FileSource | None:
    path = config.sources.datasources_path
    if path is None:
        return None
    return filewatch.FileSource(path, live_registry, status, env=os.environ if env is None else env)
