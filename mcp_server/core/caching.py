"""One cache for answers that are slow or costly to get: kept for a time-to-live, and
identical requests already in flight shared.

Used by token reviews (`authentication`), access reviews (`authorization`) and the
Prometheus client (`backends.prometheus`): the same discipline in one place.

- `fresh(key)` is an answer kept and not expired;
- `share(key, fetch)` joins the request already in flight for `key`, or starts `fetch` in a
  task of its own, so one caller going away (a disconnect cancels its task) never cancels
  the request the others wait for; a failure reaches every waiter and is never kept;
- `keep(key, answer, ttl)` keeps it; the number of entries is bounded (`limit`): when full,
  expired entries go first, and if that frees too little, all of them (the next calls simply
  ask again).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Cache(Generic[K, V]):
    def __init__(self, *, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._kept: dict[K, tuple[float, V]] = {}
        self._inflight: dict[K, asyncio.Task[V]] = {}

    def fresh(self, key: K) -> V | None:
        """The answer kept for `key` and not yet expired, else None."""
        kept = self._kept.get(key)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        return None

    async def share(
        self,
        key: K,
        fetch: Callable[[], Coroutine[Any, Any, V]],
        *,
        name: str,
        joined: Callable[[], None] | None = None,
    ) -> V:
        """The answer of the request in flight for `key` (`joined` is called when there is
        one), or of `fetch()` started now as the task `name`."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(fetch(), name=name)
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        elif joined is not None:
            joined()
        return await asyncio.shield(task)

    def keep(self, key: K, answer: V, ttl: float) -> None:
        """Keep `answer` for `ttl` seconds (not at all when `ttl` <= 0)."""
        if ttl <= 0:
            return
        if len(self._kept) >= self._limit:
            self._evict()
        self._kept[key] = (self._clock() + ttl, answer)

    def _settle(self, key: K, done: asyncio.Task[V]) -> None:
        if self._inflight.get(key) is done:
            del self._inflight[key]
        if not done.cancelled():
            done.exception()  # retrieved here: every waiter may have gone away

    def _evict(self) -> None:
        """Expired entries first; if that is not enough (many live keys), start over."""
        now = self._clock()
        for key, (until, _) in list(self._kept.items()):
            if until <= now:
                del self._kept[key]
        if len(self._kept) >= self._limit // 2:
            self._kept.clear()
