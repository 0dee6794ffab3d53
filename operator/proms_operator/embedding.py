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
import os
import signal
from collections.abc import Callable, Collection
from typing import Any

import kopf

from mcp_server.kube import kubeclient

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 2.0


async def login_info(api: kubeclient.KubeApi) -> kopf.ConnectionInfo:
    """kopf's watches use the same identity as our own requests."""
    config = api.config
    return kopf.ConnectionInfo(
        server=api.server,
        ca_data=config.ca.text if config.ca is not None else None,
        insecure=not config.verify,
        token=await api.token(),
        certificate_data=(
            config.client_certificate.text if config.client_certificate is not None else None
        ),
        private_key_data=config.client_key.text if config.client_key is not None else None,
        expiration=(
            datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
            if config.rotating
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

    async def start(self) -> None:
        """Run until stopped (returns) or until kopf gives up (raises)."""
        self.task = asyncio.get_running_loop().create_task(self._run(), name="kopf")
        await asyncio.shield(self.task)

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
            await _cancel_until_done(roots)
            # When one watcher fails, kopf's orchestrator ends but leaves the other watchers
            # running (it stops them only when it is cancelled itself): left alone, every
            # restart by our supervisor would add a set of watch streams and handle each event
            # once more per set, and the process would not stop.
            await _cancel_until_done(_kopf_tasks())
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
        """Bounded: ask, then cancel repeatedly (kopf can swallow a single cancel), then
        give up and say so rather than hang the process's shutdown."""
        if self.task is None or self.task.done():
            return
        self._stop.set()
        await asyncio.wait([self.task], timeout=STOP_GRACE_SECONDS)
        for _ in range(10):
            if self.task.done():
                break
            self.task.cancel()
            await asyncio.wait([self.task], timeout=0.2)
        if not self.task.done():
            logger.error("kopf did not stop within its grace period; leaving it behind")
        elif not self.task.cancelled() and self.task.exception() is not None:
            logger.warning("kopf stopped with an error: %s", self.task.exception())


_KOPF_PACKAGE = os.path.dirname(kopf.__file__) + os.sep


def _kopf_tasks() -> list[asyncio.Task[Any]]:
    """The tasks of this loop that run kopf's own code (one EmbeddedKopf runs at a time)."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and code.co_filename.startswith(_KOPF_PACKAGE):
            found.append(task)
    return found


async def _cancel_until_done(tasks: Collection[asyncio.Task[Any]]) -> None:
    for _ in range(10):  # kopf can swallow a single cancel of a busy watcher
        pending = [task for task in tasks if not task.done()]
        if not pending:
            return
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.5)
    left = [task.get_name() for task in tasks if not task.done()]
    if left:
        logger.error("kopf tasks did not stop; leaving them behind: %s", ", ".join(left))
