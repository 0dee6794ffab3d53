"""Readiness: every source reports whether its first sync is done and what went wrong since.

`/ready` is true only when every registered source has completed its initial sync; its body
lists each source's state and every datasource problem, so an operator sees why a
datasource is missing without reading logs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceState:
    synced: bool = False
    last_success: float | None = None
    last_error: str | None = None


class Readiness:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[str, SourceState] = {}
        self._details: dict[str, Callable[[], Mapping[str, object]]] = {}
        self._draining = False

    def register(self, name: str) -> None:
        with self._lock:
            self._sources.setdefault(name, SourceState())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._sources[name] = SourceState(synced=True, last_success=time.time())

    def failed(self, name: str, error: str) -> None:
        """The source could not sync; it counts as synced once it has served anything."""
        with self._lock:
            previous = self._sources.get(name, SourceState())
            self._sources[name] = SourceState(
                synced=previous.synced, last_success=previous.last_success, last_error=error
            )

    def describe(self, name: str, details: Callable[[], Mapping[str, object]]) -> None:
        """Show `details()` under `name` in /ready (such as which replica leads); it never
        decides readiness."""
        with self._lock:
            self._details[name] = details

    def details(self) -> dict[str, Mapping[str, object]]:
        with self._lock:
            described = dict(self._details)
        return {name: details() for name, details in described.items()}

    def drain(self) -> None:
        """Shutting down: report not ready so load balancers stop sending new calls."""
        self._draining = True

    @property
    def ready(self) -> bool:
        with self._lock:
            return not self._draining and all(s.synced for s in self._sources.values())

    def sources(self) -> dict[str, SourceState]:
        with self._lock:
            return dict(self._sources)
