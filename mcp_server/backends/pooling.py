"""The pool that keeps one Prometheus client per datasource, over connections shared per
origin (`connections`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from ..sources import datasources
from . import connections, prometheus


class ClientPool:
    """One pooled client per datasource, rebuilt only when its Connection changes.

    A replaced client is closed after a grace period so calls already using it finish.
    """

    def __init__(
        self,
        *,
        default_timeout: float,
        max_response_bytes: int,
        max_connections_per_origin: int = connections.DEFAULT_PER_ORIGIN,
    ) -> None:
        self._default_timeout = default_timeout
        self._max_bytes = max_response_bytes
        self.sessions = connections.Sessions(per_origin=max_connections_per_origin)
        self._clients: dict[datasources.DatasourceId, prometheus.PrometheusClient] = {}
        self._retiring: dict[asyncio.Task[None], prometheus.PrometheusClient] = {}

    def client_for(self, datasource: datasources.Datasource) -> prometheus.PrometheusClient:
        client = self._clients.get(datasource.id)
        if client is not None and client.connection == datasource.connection:
            return client
        fresh = prometheus.PrometheusClient(
            datasource,
            default_timeout=self._default_timeout,
            max_response_bytes=self._max_bytes,
            sessions=self.sessions,
        )
        self._clients[datasource.id] = fresh
        if client is not None:
            self._retire(client)
        return fresh

    def prune(self, live: Mapping[datasources.DatasourceId, datasources.Datasource]) -> None:
        """Drop clients of datasources that are gone or changed (called on each new snapshot)."""
        for datasource_id, client in list(self._clients.items()):
            current = live.get(datasource_id)
            if current is None or current.connection != client.connection:
                del self._clients[datasource_id]
                self._retire(client)

    def _retire(self, client: prometheus.PrometheusClient) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (shutdown or a reload thread): the client is garbage-collected
        task = loop.create_task(self._close_later(client), name=f"retire-{client.datasource_id}")
        self._retiring[task] = client
        task.add_done_callback(lambda done: self._retiring.pop(done, None))

    async def _close_later(self, client: prometheus.PrometheusClient) -> None:
        await asyncio.sleep(client.timeout + prometheus.CLIENT_MARGIN_SECONDS)
        await client.aclose()
        in_use = {c.origin for c in self._clients.values()}
        in_use |= {c.origin for c in self._retiring.values() if c is not client}
        await self.sessions.close(self.sessions.origins() - in_use)

    async def aclose(self) -> None:
        clients = list(self._clients.values()) + list(self._retiring.values())
        for task in list(self._retiring):
            task.cancel()
        self._clients.clear()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.aclose()
        await self.sessions.aclose()
