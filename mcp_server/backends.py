"""What a tool call needs from the live configuration: the datasource and its client.

A call resolves its datasource from one registry snapshot, so a reload that lands halfway
through the call cannot mix the old and the new definition.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable

from . import datasources, errors, prometheus, registry


class Backends:
    def __init__(
        self,
        live: registry.Registry,
        pool: prometheus.ClientPool,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = live
        self.pool = pool
        self.clock = clock
        live.subscribe(lambda snapshot: pool.prune(snapshot.datasources))

    def resolve(
        self, datasource_id: str
    ) -> tuple[datasources.Datasource, prometheus.PrometheusClient]:
        snapshot = self.registry.current()
        datasource = snapshot.get(datasource_id.strip())
        if datasource is None:
            raise errors.DatasourceNotFound(_not_found_message(datasource_id, snapshot))
        return datasource, self.pool.client_for(datasource)


def _not_found_message(datasource_id: str, snapshot: registry.Snapshot) -> str:
    known = sorted(snapshot.datasources)
    message = f"no datasource {datasource_id!r}"
    close = difflib.get_close_matches(datasource_id, known, n=3, cutoff=0.6)
    if close:
        message += "; did you mean " + ", ".join(repr(c) for c in close) + "?"
    elif 0 < len(known) <= 10:
        message += "; known: " + ", ".join(known)
    return message + " (list_datasources shows every id)"
