"""Connection pools per origin: every datasource that reaches the same backend the same way
shares one pool of connections to it.

With tenancy, a thousand datasources are often one Thanos, Mimir or Prometheus seen with a
thousand different headers or parameters. A pool per datasource would open a thousand
connections to it (past Prometheus's default limit of 512, where its accept queue stalls
everyone); a pool per origin opens at most MAX_CONNECTIONS_PER_ORIGIN. An origin is what
decides the connection itself, never the request: scheme, host, port, the TLS identity
(CA, client certificate, server name, verification) and the egress policy the addresses
are checked against. Headers, credentials and parameters travel with each request.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import aiohttp
from aiohttp import abc

from ..core import egress
from ..sources import datasources
from . import destinations, tls

DEFAULT_PER_ORIGIN = 64
KEEPALIVE_SECONDS = 5.0
"""Idle connections close after this: a quiet backend does not hold our sockets (and
proxies in front of backends drop idle ones anyway)."""
CONNECT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int | None
    tls: datasources.TLSSettings
    policy: egress.EgressPolicy | None

    @classmethod
    def of(cls, connection: datasources.Connection) -> Origin:
        try:
            parts = urllib.parse.urlsplit(connection.url)
            port = parts.port
        except ValueError:  # the client reports the URL; here it only needs a key
            return cls("", connection.url, None, connection.tls, connection.egress_policy)
        host = (parts.hostname or "").lower()
        return cls(parts.scheme.lower(), host, port, connection.tls, connection.egress_policy)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port else "")


class Sessions:
    """The pools, one per origin, made on first use (aiohttp binds them to the running loop)."""

    def __init__(
        self, *, per_origin: int = DEFAULT_PER_ORIGIN, dns: abc.AbstractResolver | None = None
    ) -> None:
        """`dns` replaces the system's resolver (tests map names to addresses)."""
        self.per_origin = per_origin
        self._dns = dns
        self._sessions: dict[Origin, tuple[aiohttp.ClientSession, abc.AbstractResolver | None]] = {}

    def session(self, origin: Origin) -> aiohttp.ClientSession:
        found = self._sessions.get(origin)
        if found is not None and not found[0].closed:
            return found[0]
        resolver = self._dns
        policed = None
        if origin.policy is not None:
            resolver = policed = destinations.PolicedResolver(origin.policy, str(origin), self._dns)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self.per_origin,
                ssl=tls.context(origin.tls),
                keepalive_timeout=KEEPALIVE_SECONDS,
                resolver=resolver,
            ),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_SECONDS),
            trust_env=False,
        )
        self._sessions[origin] = (session, policed)
        return session

    def origins(self) -> set[Origin]:
        return set(self._sessions)

    async def close(self, origins: set[Origin]) -> None:
        for origin in origins:
            found = self._sessions.pop(origin, None)
            if found is not None:
                await _close(*found)

    async def aclose(self) -> None:
        await self.close(set(self._sessions))


async def _close(session: aiohttp.ClientSession, policed: abc.AbstractResolver | None) -> None:
    await session.close()
    if isinstance(policed, destinations.PolicedResolver):  # ours; a `dns` passed in is not
        await policed.close()
