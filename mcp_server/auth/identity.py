"""Who is calling: set once per HTTP request by authentication (the user) and the request
guard (the client's address), read by authorization, the audit log, the per-caller limit and
datasources that forward the caller's token. Context variables follow the request into
FastMCP's tool handlers."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _no_extra() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Identity:
    """A TokenReview's user: exactly what a SubjectAccessReview needs back."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=_no_extra)


current: contextvars.ContextVar[Identity | None] = contextvars.ContextVar(
    "proms_mcp_identity", default=None
)
token: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "proms_mcp_caller_token", default=None
)
"""The caller's bearer token, only for datasources with forwardCallerToken; never logged."""

peer: contextvars.ContextVar[str | None] = contextvars.ContextVar("proms_mcp_peer", default=None)
"""The client's address (the TCP peer): who is calling when no token says so. Behind a proxy
or an OpenShift router it is the proxy's, shared by every caller behind it."""


def caller() -> str:
    """Whom per-caller limits count against: the token's user (AUTH_MODE=active), else the
    client's address."""
    who = current.get()
    if who is not None:
        return "user:" + who.username
    return "address:" + (peer.get() or "unknown")
