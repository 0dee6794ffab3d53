"""KMock as the Kubernetes API: resources, objects, and the client side of a test.

Gotchas (see DESIGN.md): `v1/namespaces` must be declared or kopf watches nothing; objects
need `metadata.resourceVersion`; KMock has no labelSelector, no PUT and no generateName.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import pathlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Protocol, TypeVar, cast

import kmock

from mcp_server.app import assembly
from mcp_server.core import settings
from tests.support import harness

R = TypeVar("R", bound="Reviewer")

GROUP, VERSION, PLURAL = "proms-mcp.dev", "v1alpha1", "prometheusdatasources"
CRS = f"{GROUP}/{VERSION}/{PLURAL}"
CONFIGMAPS, SECRETS, NAMESPACES, EVENTS = (
    "v1/configmaps",
    "v1/secrets",
    "v1/namespaces",
    "v1/events",
)
_VERBS = {"get", "list", "watch", "patch", "create", "delete"}

LOCAL_EGRESS: dict[str, object] = {"egress_allow": ("127.0.0.1",)}
"""The `destinations` settings of an operator test: the test Prometheus and KMock (the API
server) both listen on 127.0.0.1, an address the egress policy denies cluster-declared
datasources by default twice over (loopback, the API server's); naming it exactly in
EGRESS_ALLOW allows it, and only it."""
_versions = itertools.count(1000)


class ReviewingEmulator(kmock.KubernetesEmulator):
    """KMock that answers TokenReviews and SubjectAccessReviews without storing them.

    The emulator keeps every created object by name, and reviews have none, so the second
    review would be a 409; the real API server never stores reviews either.
    """

    async def _handle(self, request: kmock.Request) -> Any:
        if request.resource is not None and str(request.resource.plural).endswith("reviews"):
            return await kmock.KubernetesScaffold._handle(self, request)
        return await super()._handle(request)


TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


class Reviewer(Protocol):
    """What answers AUTH_MODE=active's reviews: a TokenReview and a SubjectAccessReview."""

    async def token_review(self, request: kmock.Request) -> Any: ...

    async def access_review(self, request: kmock.Request) -> Any: ...


def answer_reviews(emulator: kmock.KubernetesEmulator, reviewer: R) -> R:
    """`reviewer` answers every TokenReview and SubjectAccessReview sent to `emulator`."""
    emulator["post", TOKEN_REVIEWS] << reviewer.token_review
    emulator["post", ACCESS_REVIEWS] << reviewer.access_review
    return reviewer


def declare(emulator: kmock.KubernetesEmulator) -> None:
    emulator.resources[CRS] = kmock.ResourceInfo(
        kind="PrometheusDatasource",
        singular="prometheusdatasource",
        shortnames={"promds"},
        namespaced=True,
        verbs=_VERBS,
        subresources={"status"},
    )
    for resource, kind in ((CONFIGMAPS, "ConfigMap"), (SECRETS, "Secret"), (EVENTS, "Event")):
        emulator.resources[resource] = kmock.ResourceInfo(
            kind=kind, singular=kind.lower(), namespaced=True, verbs=_VERBS
        )
    emulator.resources[NAMESPACES] = kmock.ResourceInfo(
        kind="Namespace", singular="namespace", namespaced=False, verbs={"get", "list", "watch"}
    )


def kubeconfig(
    path: pathlib.Path, server: str, token: str = "test-token-not-secret"
) -> pathlib.Path:
    """A kubeconfig for `server`; a replica with a `token` of its own can be told apart in
    the API's record of writes (`leases.LeasingEmulator`)."""
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: kmock\n"
        f"clusters: [{{name: kmock, cluster: {{server: '{str(server).rstrip('/')}'}}}}]\n"
        f"users: [{{name: tester, user: {{token: {token}}}}}]\n"
        "contexts: [{name: kmock, context: {cluster: kmock, user: tester}}]\n"
    )
    return path


def _metadata(namespace: str, name: str, labels: dict[str, str] | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{namespace}-{name}",
        "resourceVersion": str(next(_versions)),
        "generation": 1,
    }
    if labels is not None:
        metadata["labels"] = labels
    return metadata


def datasource(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PrometheusDatasource",
        "metadata": _metadata(namespace, name, None),
        "spec": spec,
    }


def configmap(
    namespace: str, name: str, data: dict[str, str], labels: dict[str, str] | None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(namespace, name, labels),
        "data": data,
    }


def secret(namespace: str, name: str, **values: str) -> dict[str, Any]:
    data = {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(namespace, name, None),
        "data": data,
    }


def path(resource: str, namespace: str, name: str | None = None) -> str:
    parts = resource.split("/")
    group, version, plural = parts if len(parts) == 3 else ("", *parts)
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    return "/".join(p for p in (base, "namespaces", namespace, plural, name) if p)


async def create(emulator: kmock.KubernetesEmulator, resource: str, body: dict[str, Any]) -> None:
    response = await emulator.post(path(resource, body["metadata"]["namespace"]), json=body)
    assert response.status == 200, await response.text()


async def create_datasource(
    emulator: kmock.KubernetesEmulator, namespace: str, name: str, **spec: Any
) -> None:
    """A PrometheusDatasource CR created through the API, as `datasource` writes it."""
    await create(emulator, CRS, datasource(namespace, name, **spec))


async def patch(
    emulator: kmock.KubernetesEmulator,
    resource: str,
    namespace: str,
    name: str,
    change: dict[str, Any],
) -> None:
    change.setdefault("metadata", {})["resourceVersion"] = str(next(_versions))
    response = await emulator.patch(
        path(resource, namespace, name),
        json=change,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status == 200, await response.text()


async def delete(
    emulator: kmock.KubernetesEmulator, resource: str, namespace: str, name: str
) -> None:
    response = await emulator.delete(path(resource, namespace, name))
    assert response.status == 200, await response.text()


def writes(emulator: kmock.KubernetesEmulator, resource: str) -> list[Any]:
    """Write requests that proms-mcp (or kopf inside it) sent; the test's own client is
    aiohttp and carries neither name in its User-Agent."""
    return [
        request
        for request in emulator[kmock.resource(resource)]
        if request.method in ("PATCH", "PUT", "POST", "DELETE") and _under_test(request)
    ]


class FaultyEmulator(kmock.KubernetesEmulator):
    """KMock with the faults of a real API server, switched on and off by the test.

    - `drop_watches()` ends the open watch streams (of one plural, or all), as an API server
      does at its watch timeout or when it restarts; with `error=410` the stream first carries
      an ERROR event "too old resource version" (the client must list again), with another
      code a server-side failure in the stream.
    - `refuse_watches(410)` answers the next watch request of kopf with that HTTP status
      instead of a stream (once per status given).
    - `outage = "unavailable"` answers 503 to every request of the clients under test (kopf
      and proms-mcp; the test's own client still reads and writes), `outage = "reset"` drops
      their connections instead; `outage = None` recovers.
    - `hold_lists()` keeps proms-mcp's own list answers (not kopf's) waiting after the list
      is taken, until `release_lists()`: what happens while a listing is in flight.
    """

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.outage: str | None = None
        self.held_lists = 0
        self._open_watches: dict[asyncio.Future[int | None], kmock.Request] = {}
        self._refusals: list[int] = []
        self._lists_released = asyncio.Event()
        self._lists_released.set()

    def open_watches(self, plural: str | None = None) -> int:
        return sum(1 for request in self._open_watches.values() if _watching(request, plural))

    def refuse_watches(self, *statuses: int) -> None:
        self._refusals.extend(statuses)

    def hold_lists(self) -> None:
        self._lists_released.clear()

    def release_lists(self) -> None:
        self._lists_released.set()

    def drop_watches(self, *, error: int | None = None, plural: str | None = None) -> int:
        """End the matching open watch streams; returns how many were open."""
        dropped = 0
        for ended, request in list(self._open_watches.items()):
            if _watching(request, plural) and not ended.done():
                ended.set_result(error)
                dropped += 1
        return dropped

    async def _handle(self, request: kmock.Request) -> Any:
        if self.outage is not None and _under_test(request):
            if self.outage == "reset":
                raw = request._raw_request
                if raw is not None and raw.transport is not None:
                    raw.transport.abort()
                raise ConnectionResetError("the API server dropped the connection (a test fault)")
            raise kmock.KubernetesError(503, "ServiceUnavailable", "the API is down (a test fault)")
        if request.action == kmock.action.WATCH and self._refusals and _under_test(request):
            status = self._refusals.pop(0)
            raise kmock.KubernetesError(
                status, "Expired", "too old resource version (a test fault)"
            )
        return await super()._handle(request)

    async def _serve_list(self, request: kmock.Request) -> Any:
        listed = await super()._serve_list(request)
        if "proms-mcp" in request.headers.get("User-Agent", ""):
            self.held_lists += 1
            try:
                await self._lists_released.wait()
            finally:
                self.held_lists -= 1
        return listed

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        ended: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._open_watches[ended] = request
        events = cast(AsyncGenerator[Any, None], super()._serve_watch(request))
        step: asyncio.Future[Any] | None = None
        try:
            while True:
                step = asyncio.ensure_future(anext(events))
                await asyncio.wait([step, ended], return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    break
                try:
                    event = step.result()
                except StopAsyncIteration:
                    return
                yield event
            error = ended.result()
            if error is not None:
                yield _error_event(error)
        finally:
            self._open_watches.pop(ended, None)
            if step is not None and not step.done():
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await step
            await events.aclose()


def _watching(request: kmock.Request, plural: str | None) -> bool:
    """Is this watch request on `plural` (any, when None)?"""
    resource = request.resource
    return plural is None or (resource is not None and resource.plural == plural)


def _under_test(request: kmock.Request) -> bool:
    agent = request.headers.get("User-Agent", "")
    return "proms-mcp" in agent or "kopf" in agent


def _error_event(code: int) -> dict[str, Any]:
    reason = "Expired" if code == 410 else "InternalError"
    message = "too old resource version" if code == 410 else "a test fault in the watch stream"
    return {
        "type": "ERROR",
        "object": {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        },
    }


@contextlib.asynccontextmanager
async def operator_serving(config: settings.Settings) -> AsyncIterator[assembly.Application]:
    """proms-mcp with the operator as its extension, in the test's own loop, once ready."""
    from proms_operator import runtime  # imports kopf: only for the tests that run it

    sources = runtime.KubernetesSources(config)
    async with harness.serving(config, extensions=[sources]) as application:
        await harness.eventually(lambda: application.readiness.ready)
        yield application
