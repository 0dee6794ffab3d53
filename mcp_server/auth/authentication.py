"""AUTH_MODE=active: every MCP request carries a Kubernetes bearer token, validated with the
TokenReview API using the server's own ServiceAccount (ClusterRole system:auth-delegator).

Reviews are cached by a hash of the token (never the token itself): a positive answer for a
bounded TTL that never outlives the token's own `exp`, a negative one briefly. A transport
failure or a 5xx from the API server is not an answer: nothing is cached, the caller gets a
retryable 503, and no request goes through (fail closed). Concurrent first requests with the
same token share one review.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..core import caching, observability
from ..kube import kubeclient
from . import identity, middleware

logger = logging.getLogger(__name__)

PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource"
_CACHE_LIMIT = 10_000
_TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"  # noqa: S105 - a path


class ReviewUnavailable(Exception):
    """The API server could not answer; retry later, deny meanwhile."""


@dataclass(frozen=True, slots=True)
class Review:
    identity: identity.Identity | None
    reason: str = ""


class TokenReviewer:
    def __init__(
        self,
        api: kubeclient.KubeApi,
        *,
        audiences: tuple[str, ...] = (),
        allow_ttl: float = 60.0,
        deny_ttl: float = 5.0,
    ) -> None:
        self._api = api
        self._audiences = audiences
        self._ttl = {True: allow_ttl, False: deny_ttl}
        self._reviews: caching.Cache[str, Review] = caching.Cache(limit=_CACHE_LIMIT)

    async def review(self, token: str) -> Review:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._reviews.fresh(key)
        if cached is not None:
            observability.AUTH_CACHE_HITS.labels("token").inc()
            return cached
        result = await self._reviews.share(key, lambda: self._ask(token), name="token-review")
        ttl = self._ttl[result.identity is not None]
        expiry = _token_expiry(token)
        if expiry is not None:
            ttl = min(ttl, max(0.0, expiry - time.time()))
        self._reviews.keep(key, result, ttl)
        return result

    async def _ask(self, token: str) -> Review:
        spec: dict[str, Any] = {"token": token}
        if self._audiences:
            spec["audiences"] = list(self._audiences)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        try:
            answer = await self._api.post(_TOKEN_REVIEWS, body)
        except kubeclient.ApiError as exc:
            observability.AUTH_REVIEWS.labels("token", "unavailable").inc()
            if exc.status in (400, 401, 403):
                logger.error("TokenReview refused for proms-mcp itself: %s", exc)
            raise ReviewUnavailable(str(exc)) from None
        status = answer.get("status") or {}
        if not status.get("authenticated"):
            observability.AUTH_REVIEWS.labels("token", "denied").inc()
            return Review(None, "the token is not valid (expired, revoked or unknown)")
        if self._audiences and not set(status.get("audiences") or ()) & set(self._audiences):
            observability.AUTH_REVIEWS.labels("token", "denied").inc()
            return Review(None, "the token is not meant for this audience")
        user = status.get("user") or {}
        observability.AUTH_REVIEWS.labels("token", "authenticated").inc()
        return Review(
            identity.Identity(
                username=str(user.get("username", "")),
                uid=str(user.get("uid", "")),
                groups=tuple(str(g) for g in user.get("groups") or ()),
                extra={
                    str(k): tuple(str(x) for x in v) for k, v in (user.get("extra") or {}).items()
                },
            )
        )


def _token_expiry(token: str) -> float | None:
    """`exp` of a JWT, unverified: used only to never cache a review past it."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
        return float(claims["exp"])
    except (ValueError, KeyError, TypeError):
        return None


Reviewer = Callable[[str], Awaitable[Review]]


class BearerAuthentication(middleware.HttpMiddleware):
    """ASGI middleware in front of the MCP app; the metadata document stays public."""

    def __init__(self, app: ASGIApp, review: Reviewer, *, resource_path: str) -> None:
        super().__init__(app)
        self._review = review
        self._resource_path = resource_path

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == PROTECTED_RESOURCE_PATH:
            await _json(send, 200, self._metadata(scope))
            return
        token = _bearer(scope)
        if token is None:
            await self._deny(scope, send, "missing bearer token", "invalid_request")
            return
        try:
            result = await self._review(token)
        except ReviewUnavailable:
            observability.AUTH_DENIALS.labels("unavailable").inc()
            body = {
                "error": "temporarily_unavailable",
                "message": "the Kubernetes API could not review the token; retry shortly",
            }
            await _json(send, 503, body, {"retry-after": "5"})
            return
        if result.identity is None:
            await self._deny(scope, send, result.reason, "invalid_token")
            return
        who = identity.current.set(result.identity)
        caller = identity.token.set(token)
        try:
            await self._app(scope, receive, send)
        finally:
            identity.token.reset(caller)
            identity.current.reset(who)

    def _metadata(self, scope: Scope) -> dict[str, Any]:
        base = _origin(scope)
        return {
            "resource": base + self._resource_path,
            "bearer_methods_supported": ["header"],
            "authorization_servers": [],
            "resource_documentation": "Send a Kubernetes ServiceAccount or user token: "
            "kubectl create token <serviceaccount>",
        }

    async def _deny(self, scope: Scope, send: Send, reason: str, code: str) -> None:
        observability.AUTH_DENIALS.labels("unauthenticated").inc()
        challenge = (
            f'Bearer realm="proms-mcp", error="{code}", '
            f'resource_metadata="{_origin(scope)}{PROTECTED_RESOURCE_PATH}"'
        )
        await _json(send, 401, {"error": code, "message": reason}, {"www-authenticate": challenge})


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, credentials = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return str(credentials.strip())
    return None


def _origin(scope: Scope) -> str:
    headers: Mapping[bytes, bytes] = dict(scope.get("headers") or ())
    host = headers.get(b"host", b"localhost").decode("latin-1")
    return f"{scope.get('scheme', 'http')}://{host}"


async def _json(
    send: Send, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
