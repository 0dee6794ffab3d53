"""Status writes off the watch path: queued per object, written by the leader only.

Reconciling an object computes what its status should say and marks it here; a few workers
write marked objects in the background. So the registry (what agents see) and readiness never
wait for the API's answers to status patches: with 1000 new CRs, a start is ready once they
are listed, and their 1000 first statuses follow. An object marked again before its write is
written once; a write compares with the status stored on the object and sends nothing when
nothing changed. A follower drops what it is asked to write: when it is elected, every object
is marked again and compared with what the previous leader stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

logger = logging.getLogger(__name__)

ObjectKey = tuple[str, str]  # namespace, name

WORKERS = 8
"""Status writes in flight at once: enough to write 1000 first statuses in a few seconds
against a real API server (about 10-20 ms each), few enough not to crowd it."""


class Gate(Protocol):
    @property
    def leading(self) -> bool: ...


class Writer:
    def __init__(self, write: Callable[[ObjectKey], Awaitable[None]], gate: Gate) -> None:
        self._write = write
        self._gate = gate
        self._queue: asyncio.Queue[ObjectKey] = asyncio.Queue()
        self._marked: set[ObjectKey] = set()
        self._busy = 0

    def mark(self, key: ObjectKey) -> None:
        """Write `key`'s status soon (once, however often it is marked meanwhile)."""
        if key not in self._marked:
            self._marked.add(key)
            self._queue.put_nowait(key)

    def mark_all(self, keys: Iterable[ObjectKey]) -> None:
        for key in keys:
            self.mark(key)

    @property
    def idle(self) -> bool:
        """Nothing marked and nothing being written."""
        return not self._marked and self._busy == 0

    async def run(self, synced: asyncio.Event) -> None:
        """Once the first listing is applied, for ever (cancel to stop): on a first start
        1000 writes would compete with the listing for the API and the event loop, delaying
        the readiness they never gate."""
        await synced.wait()
        await asyncio.gather(*(self._work() for _ in range(WORKERS)))

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._marked.discard(key)
            if not self._gate.leading:
                continue  # a follower never writes; election marks everything again
            self._busy += 1
            try:
                await self._write(key)
            except Exception:  # one object's failure must not end the writing
                logger.exception("writing the status of %s/%s failed", *key)
            finally:
                self._busy -= 1
