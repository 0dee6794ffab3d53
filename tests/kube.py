"""KMock as the Kubernetes API: resources, objects, and the client side of a test.

Gotchas (see DESIGN.md): `v1/namespaces` must be declared or kopf watches nothing; objects
need `metadata.resourceVersion`; KMock has no labelSelector, no PUT and no generateName.
"""

from __future__ import annotations

import base64
import itertools
import pathlib
from typing import Any

import kmock

GROUP, VERSION, PLURAL = "proms-mcp.dev", "v1alpha1", "prometheusdatasources"
CRS = f"{GROUP}/{VERSION}/{PLURAL}"
CONFIGMAPS, SECRETS, NAMESPACES, EVENTS = (
    "v1/configmaps",
    "v1/secrets",
    "v1/namespaces",
    "v1/events",
)
_VERBS = {"get", "list", "watch", "patch", "create", "delete"}
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


def kubeconfig(path: pathlib.Path, server: str) -> pathlib.Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: kmock\n"
        f"clusters: [{{name: kmock, cluster: {{server: '{str(server).rstrip('/')}'}}}}]\n"
        "users: [{name: tester, user: {token: test-token-not-secret}}]\n"
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
    found = []
    for request in emulator[kmock.resource(resource)]:
        agent = request.headers.get("User-Agent", "")
        if request.method in ("PATCH", "PUT", "POST", "DELETE") and (
            "proms-mcp" in agent or "kopf" in agent
        ):
            found.append(request)
    return found
