"""What the ConfigMap and the PrometheusDatasource handlers share: each turns the objects of
one kind into registry contributions, reading them through the API, its datasources
admitted by the administrator's policies, and each object named as their source."""

from __future__ import annotations

from typing import ClassVar

from mcp_server.kube import kubeclient
from mcp_server.sources import datasources, registry

from . import admission


class Contributor:
    """Objects of `KIND` contributing datasources to the registry."""

    KIND: ClassVar[datasources.SourceKind]

    def __init__(
        self, live: registry.Registry, api: kubeclient.KubeApi, policies: admission.Admission
    ) -> None:
        self._registry = live
        self._api = api
        self._admission = policies

    @classmethod
    def source_of(cls, namespace: str, name: str) -> datasources.Source:
        """The source the object `namespace/name` contributes as."""
        return datasources.Source(cls.KIND, f"{namespace}/{name}")
