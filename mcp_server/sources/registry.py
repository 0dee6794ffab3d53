"""The live set of datasources: an immutable snapshot swapped atomically.

Each source (the provisioning file loader, every ConfigMap, every custom resource) owns one
slot and replaces its whole contribution at once. Merging the slots into a snapshot is the
only place ids can collide, so it is also the only place collisions are decided: the slot
that sorts first keeps the id (custom resources, then ConfigMaps, then files; by location
within a kind) and the loser is reported, never silently dropped.

Readers call `current()` once per request and keep that snapshot for the whole call, so a
reload in the middle of a tool call is never half-seen.

A declared datasource that is not served (its problems name its id) stays known as
`unavailable`, with those problems, so an agent asking for it learns why and what fixes it.
Record names are imported directly here because the snapshot's own field is called
`datasources`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .datasources import Datasource, DatasourceId, Problem, Source, SourceKind

logger = logging.getLogger(__name__)

_KIND_ORDER = {
    SourceKind.CUSTOM_RESOURCE: 0,
    SourceKind.CONFIGMAP: 1,
    SourceKind.FILE: 2,
}


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one source currently declares, including what it could not serve."""

    source: Source
    datasources: tuple[Datasource, ...] = ()
    problems: tuple[Problem, ...] = ()


def keep_last_good(previous: Contribution | None, fresh: Contribution) -> Contribution:
    """When a whole document broke (a problem with no entry), keep serving what it served
    before and report the new problems with the old ones, which still hold for what is
    served; a bad entry alone never holds the others back."""
    if not broken(fresh) or previous is None:
        return fresh
    problems = tuple(dict.fromkeys((*previous.problems, *fresh.problems)))
    return Contribution(fresh.source, previous.datasources, problems)


def broken(contribution: Contribution) -> bool:
    """Whether a whole document failed (a problem with no entry): nothing it meant is known."""
    return any(problem.entry is None for problem in contribution.problems)


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A datasource that is declared but not served, and the problems that keep it out."""

    id: DatasourceId
    source: Source
    problems: tuple[Problem, ...]

    @property
    def reason(self) -> str:
        """The problems as `/ready` lists them: where, what is wrong, and the fix."""
        return "; ".join(str(problem) for problem in self.problems)


def _empty_mapping() -> Mapping[DatasourceId, Datasource]:
    return MappingProxyType({})


def _no_unavailable() -> Mapping[DatasourceId, Unavailable]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Snapshot:
    generation: int = 0
    created_monotonic: float = 0.0
    datasources: Mapping[DatasourceId, Datasource] = field(default_factory=_empty_mapping)
    problems: tuple[Problem, ...] = ()
    unavailable: Mapping[DatasourceId, Unavailable] = field(default_factory=_no_unavailable)

    def get(self, datasource_id: str) -> Datasource | None:
        """By id, or by Grafana uid so agents may use either."""
        found = self.datasources.get(DatasourceId(datasource_id))
        if found is not None:
            return found
        for candidate in self.datasources.values():
            if candidate.uid is not None and candidate.uid == datasource_id:
                return candidate
        return None


Listener = Callable[[Snapshot], None]


class Registry:
    """Owns the contributions and publishes a new Snapshot whenever one changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contributions: dict[Source, Contribution] = {}
        self._generation = itertools.count(1)
        self._snapshot = Snapshot(created_monotonic=time.monotonic())
        self._listeners: list[Listener] = []
        self._holding = 0  # open `batch()`es
        self._pending = False  # a change held back by a batch

    def current(self) -> Snapshot:
        return self._snapshot

    def subscribe(self, listener: Listener) -> None:
        """Called after every publish, in the publishing thread; must be quick."""
        self._listeners.append(listener)

    def put(self, contribution: Contribution) -> None:
        with self._lock:
            if self._contributions.get(contribution.source) == contribution:
                return
            self._contributions[contribution.source] = contribution
            self._changed()

    def put_many(self, contributions: Iterable[Contribution]) -> None:
        """Apply several slots as one publish."""
        with self.batch():
            for contribution in contributions:
                self.put(contribution)

    def remove(self, source: Source) -> None:
        with self._lock:
            if self._contributions.pop(source, None) is not None:
                self._changed()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Publish once, at the end, whatever is put or removed meanwhile (from any task).

        A listing applies every slot it finds: one publish per slot merged every slot each
        time, so 1200 datasources took 1200 merges of up to 1200.
        Readers see the listing whole or not at all."""
        with self._lock:
            self._holding += 1
        try:
            yield
        finally:
            with self._lock:
                self._holding -= 1
                if not self._holding and self._pending:
                    self._publish()

    def _changed(self) -> None:
        if self._holding:
            self._pending = True
        else:
            self._publish()

    def contributions(self) -> tuple[Contribution, ...]:
        with self._lock:
            return tuple(self._contributions.values())

    def _publish(self) -> None:
        self._pending = False
        merged: dict[DatasourceId, Datasource] = {}
        problems: list[Problem] = []
        ordered = sorted(
            self._contributions.values(),
            key=lambda c: (_KIND_ORDER[c.source.kind], c.source.location),
        )
        for contribution in ordered:
            problems.extend(contribution.problems)
            for datasource in contribution.datasources:
                winner = merged.get(datasource.id)
                if winner is None:
                    merged[datasource.id] = datasource
                    continue
                problem = Problem(
                    source=datasource.source,
                    entry=f"datasource {datasource.name!r}",
                    message=(
                        f"id {datasource.id!r} is already served from {winner.source}; "
                        "rename one of them (ids must be unique across all sources)"
                    ),
                )
                logger.warning("datasource id collision: %s", problem)
                problems.append(problem)
        self._snapshot = Snapshot(
            generation=next(self._generation),
            created_monotonic=time.monotonic(),
            datasources=MappingProxyType(merged),
            problems=tuple(problems),
            unavailable=MappingProxyType(_unavailable(problems, merged)),
        )
        for listener in self._listeners:
            listener(self._snapshot)


def _unavailable(
    problems: Iterable[Problem], served: Mapping[DatasourceId, Datasource]
) -> dict[DatasourceId, Unavailable]:
    """Ids that problems name and no source serves; the first declaration's source decides
    who may see it, as it would decide who may query it."""
    found: dict[DatasourceId, Unavailable] = {}
    for problem in problems:
        wanted = problem.datasource_id
        if wanted is None or wanted in served:
            continue
        known = found.get(wanted)
        if known is None:
            found[wanted] = Unavailable(wanted, problem.source, (problem,))
        elif known.source == problem.source:
            found[wanted] = Unavailable(wanted, known.source, (*known.problems, problem))
    return found
