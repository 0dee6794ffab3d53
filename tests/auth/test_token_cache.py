"""The TokenReview cache on its own: TTLs, the token's own expiry, and what is never cached."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from mcp_server.auth import authentication
from mcp_server.kube import kubeclient


class Api:
    """Counts reviews; answers authenticated, or fails like an API server in trouble."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.failing:
            raise kubeclient.ApiError(500, "etcd down")
        return {"status": {"authenticated": True, "user": {"username": "alice"}}}


def jwt(expires_in: float) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'exp': time.time() + expires_in})}.c2ln"


def reviewer(api: Api) -> authentication.TokenReviewer:
    return authentication.TokenReviewer(api, allow_ttl=60)  # type: ignore[arg-type]


async def test_an_accepted_token_is_reviewed_once_within_the_ttl() -> None:
    api = Api()
    cache = reviewer(api)
    token = jwt(3600)
    first, second = await cache.review(token), await cache.review(token)
    assert first.identity is not None and second.identity == first.identity
    assert api.calls == 1


async def test_a_review_is_never_cached_past_the_tokens_own_expiry() -> None:
    api = Api()
    cache = reviewer(api)
    token = jwt(-1)  # already expired by its own claim: the cache must not keep it
    await cache.review(token)
    await cache.review(token)
    assert api.calls == 2


async def test_an_api_failure_is_raised_and_not_cached() -> None:
    api = Api()
    api.failing = True
    cache = reviewer(api)
    with pytest.raises(authentication.ReviewUnavailable):
        await cache.review("opaque-token")
    api.failing = False
    assert (await cache.review("opaque-token")).identity is not None
    assert api.calls == 2
