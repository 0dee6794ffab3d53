"""What each watch event does: kopf's handlers for CRs and ConfigMaps (no Secret is watched).

Imported only once the first listing is applied (it imports kopf, 0.6-0.8 s): a start is
ready before it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import kopf

from mcp_server.kube import kubeclient

from . import configmaps, customresources, embedding, specs

Touch = Callable[[str, Mapping[str, Any]], None]
"""Told of every object a watch event names (kind, body), for a resync in flight."""


def handlers(
    api: kubeclient.KubeApi,
    crs: customresources.CustomResources,
    maps: configmaps.ConfigMaps,
    touch: Touch,
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        return await embedding.login_info(api)

    @kopf.on.event(specs.GROUP, specs.VERSION, specs.PLURAL, registry=registry)
    async def custom_resource(type: str | None, body: kopf.Body, **_: Any) -> None:
        touch(specs.KIND, body)
        if type == "DELETED":
            await crs.deleted(body)
        else:
            await crs.changed(body)

    @kopf.on.event("v1", "configmaps", registry=registry)
    async def configmap(type: str | None, body: kopf.Body, **_: Any) -> None:
        namespace, name = kubeclient.object_key(body)
        touch("ConfigMap", body)
        if type == "DELETED":
            maps.deleted(body)
        elif maps.selected(body):
            await maps.changed(body)
        else:
            maps.deleted(body)  # the label was removed
        await crs.referenced_object_changed("ConfigMap", namespace, name)

    # No Secret watch: it would list and hold every Secret of the watched namespaces
    # (Helm keeps a release's history in them) and need list/watch on all of them.
    # Referenced Secrets are read by name, on each CR event, each probe and every resync.
    return registry
