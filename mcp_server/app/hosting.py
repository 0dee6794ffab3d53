"""What the process offers what it hosts: the narrow contract between the application and
its extensions (the Kubernetes operator, the demo's wait for its alert).

An extension feeds the registry from elsewhere, reports its readiness, runs its loops as
background tasks of the process, and may ask a datasource for its build information (the
operator's reachability probes). It sees nothing else of the application: no tools, no MCP,
no HTTP client.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import Any, Protocol

from ..sources import datasources, readiness, registry


class BuildInfo(Protocol):
    """A datasource's `/api/v1/status/buildinfo` data; raises `errors.UpstreamError` (or a
    subclass) when the backend does not give it, within `timeout` seconds."""

    async def __call__(
        self, datasource: datasources.Datasource, *, timeout: float
    ) -> Mapping[str, object]: ...


class Host(Protocol):
    """The process, as an extension sees it."""

    @property
    def registry(self) -> registry.Registry:
        """Where the extension's datasources go (each source owns its slots)."""

    @property
    def readiness(self) -> readiness.Readiness:
        """Where the extension reports its first sync and what went wrong since."""

    async def build_info(
        self, datasource: datasources.Datasource, *, timeout: float
    ) -> Mapping[str, object]:
        """As `BuildInfo`, through the datasource's pooled client."""

    def start_background(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as a named background task: kept, its death logged, cancelled at
        shutdown."""

    def request_stop(self) -> None:
        """Stop the process (as SIGTERM would)."""


class Extension(Protocol):
    """Something the process hosts, such as the operator.

    `start` must return quickly and run its loops through `Host.start_background`; it
    registers itself with `Host.readiness` so /ready waits for its first sync. `start` may
    raise `errors.ConfigurationError` to refuse the start in one line.
    """

    async def start(self, host: Host) -> None: ...

    async def stop(self) -> None: ...
