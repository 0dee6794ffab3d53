"""KMock with what leader election needs, and a record of who wrote what.

KMock 0.8 has no Leases, no PUT, no server-assigned resourceVersion and no 409 on a stale
one. `LeasingEmulator` serves `coordination.k8s.io/v1` Leases itself, as the API server does:
GET, POST (409 when it exists), PUT (404 when it does not, 409 unless the body carries the
current resourceVersion), each accepted write with a new resourceVersion. It also

- records every write of a client under test as a `Write` (time, method, path and whose
  token: give each replica a kubeconfig with its own token and a test can say which replica
  wrote), and trims KMock's own request log, which KMock scans on every request;
- can hold status PATCHes (`hold_status_writes()`) until `release_status_writes()`.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import re
import time
from dataclasses import dataclass
from typing import Any

import aiohttp.web
import kmock

from . import kube

_LEASES = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases(?:/([^/]+))?$")
_KEPT_REQUESTS = 200
"""KMock's request log is trimmed to this many (the latest) past 10 times as many."""


@dataclass(frozen=True)
class Write:
    at: float
    """time.monotonic() when the API received it."""
    method: str
    path: str
    who: str
    """The bearer token that sent it."""
    body: Any


class LeasingEmulator(kube.ReviewingEmulator):
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes: list[Write] = []
        self._revisions = itertools.count(1)
        self._status_released = asyncio.Event()
        self._status_released.set()

    def hold_status_writes(self) -> None:
        self._status_released.clear()

    def release_status_writes(self) -> None:
        self._status_released.set()

    def holder(self, namespace: str = "default", name: str = "proms-mcp") -> str | None:
        lease = self.leases.get((namespace, name))
        return None if lease is None else lease["spec"].get("holderIdentity") or None

    def written_by(self, who: str, *, status: bool = False) -> list[Write]:
        return [
            w for w in self.writes if w.who == who and (not status or w.path.endswith("/status"))
        ]

    async def _handle(self, request: kmock.Request) -> Any:
        path = str(request.url.path)
        agent = request.headers.get("User-Agent", "")
        if request.method in ("PATCH", "PUT", "POST", "DELETE") and "proms-mcp" in agent:
            who = request.headers.get("Authorization", "").removeprefix("Bearer ")
            self.writes.append(Write(time.monotonic(), request.method, path, who, request.data))
        if len(self._requests) > 10 * _KEPT_REQUESTS:
            del self._requests[:-_KEPT_REQUESTS]  # private; see the module docstring
        found = _LEASES.match(path)
        if found is not None:
            return self._lease(request, found.group(1), found.group(2))
        if request.method == "PATCH" and path.endswith("/status"):
            await self._status_released.wait()
        return await super()._handle(request)

    def _lease(self, request: kmock.Request, namespace: str, name: str | None) -> Any:
        if request.method == "POST":
            body = copy.deepcopy(request.data)
            key = (namespace, body["metadata"]["name"])
            if key in self.leases:
                raise kmock.KubernetesError(409, "AlreadyExists", "the Lease exists")
            return self._store(key, body)
        key = (namespace, str(name))
        stored = self.leases.get(key)
        if stored is None:
            raise kmock.KubernetesError(404, "NotFound", "no such Lease")
        if request.method == "GET":
            return aiohttp.web.json_response(stored)
        if request.method != "PUT":
            raise kmock.KubernetesError(405, "MethodNotAllowed", "GET, POST or PUT only")
        body = copy.deepcopy(request.data)
        sent = (body.get("metadata") or {}).get("resourceVersion")
        if sent != stored["metadata"]["resourceVersion"]:
            raise kmock.KubernetesError(409, "Conflict", "the Lease has been modified")
        return self._store(key, body)

    def _store(self, key: tuple[str, str], body: dict[str, Any]) -> Any:
        body.setdefault("metadata", {}).update(
            namespace=key[0], name=key[1], resourceVersion=str(next(self._revisions))
        )
        self.leases[key] = body
        return aiohttp.web.json_response(body)
