"""kopf inside our event loop, next to the HTTP servers, stoppable in well under a second.

`kopf.operator()` is not used: its task runner treats every task of the loop (our HTTP
requests included) as its own at shutdown. Only kopf's root tasks from `spawn_tasks` are
run and stopped here, and its signal handlers are handed back to the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import signal
from collections.abc import Callable, Collection

import kopf

from mcp_server import kubeclient

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 2.0


async def login_info(api: kubeclient.KubeApi) -> kopf.ConnectionInfo:
    """kopf's watches use the same identity as our own requests."""
    configuration = api.configuration
    rotating = configuration.refresh_api_key_hook is not None
    return kopf.ConnectionInfo(
        server=api.server,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        token=await api.token(),
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        expiration=(
            datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
            if rotating
            else None
        ),
    )


def operator_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True  # one writer per object: we only ever patch status
    settings.posting.enabled = False  # events are posted by the controller itself
    settings.scanning.disabled = True  # namespaces are exact names; no cluster-wide scans
    settings.process.ultimate_exiting_timeout = None  # never SIGKILL the whole process
    settings.watching.reconnect_backoff = 0.5
    settings.queueing.exit_timeout = 0.5
    return settings


class EmbeddedKopf:
    def __init__(
        self,
        registry: kopf.OperatorRegistry,
        settings: kopf.OperatorSettings,
        *,
        namespaces: Collection[str],
        on_signal: Callable[[], None] | None,
    ) -> None:
        self._registry = registry
        self._settings = settings
        self._namespaces = tuple(namespaces)
        self._on_signal = on_signal
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="kopf")
        return self.task

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def _run(self) -> None:
        roots = await kopf.spawn_tasks(
            registry=self._registry,
            settings=self._settings,
            clusterwide=not self._namespaces,
            namespaces=self._namespaces,
            ready_flag=self._ready,
            stop_flag=self._stop,
        )
        self._restore_signals()
        try:
            done, _ = await asyncio.wait(roots, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._stop.set()
            for task in roots:
                task.cancel()
            await asyncio.gather(*roots, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    def _restore_signals(self) -> None:
        """spawn_tasks takes SIGINT/SIGTERM for itself; the application owns shutdown."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
                if self._on_signal is not None:
                    loop.add_signal_handler(sig, self._on_signal)

    async def stop(self) -> None:
        if self.task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), STOP_GRACE_SECONDS)
        except TimeoutError:
            self.task.cancel()
        except Exception:
            logger.exception("kopf stopped with an error")
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
