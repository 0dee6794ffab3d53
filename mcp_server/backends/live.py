"""What a tool call needs from the live configuration: the datasource and its client.

A call resolves its datasource from one registry snapshot, so a reload that lands halfway
through the call cannot mix the old and the new definition.
"""

from __future__ import annotations

import asyncio
import difflib
import time
from collections.abc import Callable

from ..auth import authorization, identity
from ..core import errors, hygiene
from ..sources import datasources, registry, selection
from ..sources import tenancy as profiles
from . import pooling, prometheus, tenancy


class Backends:
    def __init__(
        self,
        live: registry.Registry,
        pool: pooling.ClientPool,
        *,
        authorizer: authorization.Authorizer | None = None,
        clock: Callable[[], float] = time.time,
        fanout_concurrency: int = 16,
        fanout_timeout: float = 10.0,
    ) -> None:
        self.registry = live
        self.pool = pool
        self.clock = clock
        self.fanout_concurrency = fanout_concurrency
        """Datasources one fleet call asks at once (FANOUT_CONCURRENCY)."""
        self.fanout_timeout = fanout_timeout
        """How long a fleet call waits for each datasource (FANOUT_TIMEOUT)."""
        self.authorizer = authorizer
        """Per-datasource access with AUTH_MODE=active; None lets every caller use all."""
        live.subscribe(lambda snapshot: pool.prune(snapshot.datasources))

    async def resolve(
        self, datasource_id: str
    ) -> tuple[datasources.Datasource, prometheus.PrometheusClient]:
        """A datasource the caller may use; one it may not is reported exactly like one that
        does not exist, so its existence does not leak. One that is declared but not served
        is reported with the reason, to the callers who could query it once fixed."""
        snapshot = self.registry.current()
        wanted = datasource_id.strip()
        datasource = snapshot.get(wanted)
        if datasource is not None and await self._allowed(datasource.source):
            await self._admit_namespace([datasource])
            return datasource, self.pool.client_for(datasource)
        broken = snapshot.unavailable.get(datasources.DatasourceId(wanted))
        if datasource is None and broken is not None and await self._allowed(broken.source):
            raise errors.DatasourceUnavailable(unavailable_message(broken))
        visible = await self.visible(snapshot)
        raise errors.DatasourceNotFound(_not_found_message(datasource_id, visible))

    async def select(
        self, selector: selection.Selector, snapshot: registry.Snapshot | None = None
    ) -> list[datasources.Datasource]:
        """The datasources `selector` matches among those the caller may use, in id order;
        one the caller may not use is left out without a trace. Only matches are reviewed."""
        snapshot = snapshot or self.registry.current()
        candidates = selector.select(snapshot.datasources.values())
        verdicts = await self._verdicts([d.source for d in candidates])
        chosen = [d for d, ok in zip(candidates, verdicts, strict=True) if ok]
        await self._admit_namespace(chosen)
        return chosen

    async def visible(self, snapshot: registry.Snapshot) -> list[datasources.Datasource]:
        candidates = sorted(snapshot.datasources.values(), key=lambda d: d.id)
        verdicts = await self._verdicts([d.source for d in candidates])
        return [d for d, ok in zip(candidates, verdicts, strict=True) if ok]

    async def unavailable(self, snapshot: registry.Snapshot) -> list[registry.Unavailable]:
        """Declared but not served, for the callers who may see them (as `visible`)."""
        candidates = sorted(snapshot.unavailable.values(), key=lambda u: u.id)
        verdicts = await self._verdicts([u.source for u in candidates])
        return [u for u, ok in zip(candidates, verdicts, strict=True) if ok]

    async def _verdicts(self, sources: list[datasources.Source]) -> list[bool]:
        if self.authorizer is None:
            return [True] * len(sources)
        return list(await asyncio.gather(*(self._allowed(s) for s in sources)))

    async def _admit_namespace(self, chosen: list[datasources.Datasource]) -> None:
        """With AUTH_MODE=active, the namespace a call names for datasources that take it
        from the caller must be one the caller may read (`authorization.may_read_namespace`)."""
        namespace = tenancy.requested_namespace.get()
        if self.authorizer is None or namespace is None:
            return
        if not any(profiles.asks_namespace(d.connection.tenancy) for d in chosen):
            return
        who = identity.current.get()
        if who is None or not await self.authorizer.may_read_namespace(who, namespace):
            raise errors.InvalidArgument(
                f"namespace {hygiene.quoted(namespace)} is not one you may read (get "
                "pods.metrics.k8s.io there); pass a namespace of your own"
            )

    async def _allowed(self, source: datasources.Source) -> bool:
        if self.authorizer is None:
            return True
        who = identity.current.get()
        return who is not None and await self.authorizer.allowed(who, source)


def unavailable_message(broken: registry.Unavailable) -> str:
    return (
        f"datasource {hygiene.quoted(broken.id)} is declared but not served: "
        f"{hygiene.clean(broken.reason)}"
    )


def _not_found_message(datasource_id: str, visible: list[datasources.Datasource]) -> str:
    """Ids in the message are JSON strings (`hygiene.quoted`), the caller's and ours alike:
    ids come from files, ConfigMaps and CRs, and read as data, never as our sentence."""
    known = [d.id for d in visible]
    message = f"no datasource {hygiene.quoted(datasource_id)}"
    close = difflib.get_close_matches(datasource_id, known, n=3, cutoff=0.6)
    if close:
        message += "; did you mean " + ", ".join(hygiene.quoted(c) for c in close) + "?"
    elif 0 < len(known) <= 10:
        message += "; known: " + ", ".join(hygiene.quoted(k) for k in known)
    return message + " (list_datasources shows every id)"
