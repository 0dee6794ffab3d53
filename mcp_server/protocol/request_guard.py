"""The MCP port's front door: every request's Host and Origin checked before anything else.

DNS rebinding: a web page on evil.example.com, whose name is then made to resolve to
127.0.0.1, can make a developer's browser POST to this server on loopback; the browser
sends `Host: evil.example.com` and `Origin: http://evil.example.com`, and without this
check the page calls tools against every datasource the server can reach. The MCP
transport specification says servers MUST validate Origin. So:

- `Host` must be a loopback name (`localhost`, `127.0.0.1`, `[::1]`, on any port) or one
  of ALLOWED_HOSTS (a name alone matches any port, `name:port` only that port); else 421.
- `Origin`, when sent, must be a loopback origin or one of ALLOWED_ORIGINS; else 403. No
  Origin is fine: only browsers send one, and other clients cannot be rebound.
- `*` in either list accepts any value.

This wraps everything the MCP port serves (the tools/call fast path, the SDK, the OAuth
metadata), outside authentication, so a refused request costs no TokenReview. Refusals are
counted in `proms_mcp_requests_rejected_total{reason="host"|"origin"}`. FastMCP's own guard
stays off: it sees only the SDK's path and would switch the fast path off. The health port
is not guarded: probes and scrapes address pods by IP.

The guard also records the client's address (`identity.peer`), who is calling when no
token says so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from ..auth import identity, middleware
from ..core import hygiene, observability

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
_SHOWN = 200
"""Characters of a refused header echoed in the answer: enough to recognise it."""


def _name(host: str) -> str:
    """A Host value (or an origin's host part) without its port."""
    if host.startswith("["):
        end = host.find("]")
        return host if end < 0 else host[: end + 1]
    return host.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Allowed:
    """The Host and Origin values a server answers; lower case, as compared."""

    any_host: bool
    names: frozenset[str]
    """Hosts on any port: the loopback names and ALLOWED_HOSTS entries without a port."""
    hosts: frozenset[str]
    """`name:port` entries of ALLOWED_HOSTS: that port only."""
    any_origin: bool
    origins: frozenset[str]

    @classmethod
    def of(cls, hosts: Sequence[str], origins: Sequence[str]) -> Allowed:
        entries = {entry.lower() for entry in hosts}
        with_port = {entry for entry in entries if _name(entry) != entry}
        return cls(
            any_host="*" in entries,
            names=LOOPBACK_NAMES | (entries - with_port - {"*"}),
            hosts=frozenset(with_port),
            any_origin="*" in origins,
            origins=frozenset(entry.lower().rstrip("/") for entry in origins),
        )

    def host(self, value: str) -> bool:
        host = value.lower()
        return self.any_host or _name(host) in self.names or host in self.hosts

    def origin(self, value: str) -> bool:
        origin = value.lower()
        if self.any_origin or origin in self.origins:
            return True
        scheme, separator, rest = origin.partition("://")
        return bool(separator) and scheme in ("http", "https") and _name(rest) in LOOPBACK_NAMES


class RequestGuard(middleware.HttpMiddleware):
    """ASGI middleware in front of the whole MCP app; see the module docstring."""

    def __init__(self, app: ASGIApp, allowed: Allowed) -> None:
        super().__init__(app)
        self._allowed = allowed

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        has_host = False
        for name, value in scope["headers"]:
            if name == b"host":
                has_host = True
                if not self._allowed.host(value.decode("latin-1")):
                    await _refuse(send, "host", value)
                    return
            elif name == b"origin" and not self._allowed.origin(value.decode("latin-1")):
                await _refuse(send, "origin", value)
                return
        if not has_host:
            await _refuse(send, "host", None)
            return
        await call_as_peer(self._app, scope, receive, send)


async def _refuse(send: Send, reason: str, value: bytes | None) -> None:
    observability.REQUESTS_REJECTED.labels(reason).inc()
    shown = "none" if value is None else hygiene.quoted(value.decode("latin-1")[:_SHOWN])
    if reason == "host":
        status, code = 421, "misdirected_request"
        message = (
            f"Host {shown} is not a name of this server: it answers localhost, 127.0.0.1, "
            "[::1] and the names in ALLOWED_HOSTS"
        )
    else:
        status, code = 403, "forbidden_origin"
        message = (
            f"Origin {shown} may not call this server: a web page from another site "
            "(list it in ALLOWED_ORIGINS to allow it)"
        )
    body = json.dumps({"error": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def call_as_peer(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """`app` with the client's address as `identity.peer` (the caller without a token)."""
    client = scope.get("client")
    address = identity.peer.set(client[0] if client else None)
    try:
        await app(scope, receive, send)
    finally:
        identity.peer.reset(address)
