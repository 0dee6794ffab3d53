"""The operator as an extension of the MCP server process.

Start-up order: connect to the API (or refuse to start if it does not answer at all), list
every watched kind once and apply it to the registry (only then is the `kubernetes` source
ready), then hand over to kopf's watches for changes, and probe CR datasources periodically.
Secrets are never listed or watched: those a CR references are read by name whenever the CR
is reconciled, which happens on its events, at each probe and at each resync.
`proms-mcp` serves throughout: health is answered while the first listing runs, and a
failing API keeps readiness false with the reason, retrying. Readiness never waits for a
status write: statuses are written in the background (`writing`), by the replica holding the
Lease (`leadership`) when there are several, which alone probes too.

Two safety nets keep the registry converging on the API's truth. A supervisor lists again
and restarts kopf when its watches give up (a non-410 error in a watch stream, 5xx past
kopf's retries). And a periodic resync lists again every `resync_seconds` and drops what
no longer exists: kopf's own relisting (after a 410 Gone, or a reconnect after an outage)
reports the objects that exist, never those deleted meanwhile. So a deleted datasource is
served at most `resync_seconds` (+ one listing) after its deletion, whatever the watches
missed.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_server.app import hosting
from mcp_server.core import errors, settings
from mcp_server.kube import kubeclient, kubeconfig

from . import admission, configmaps, customresources, leadership, probing, specs

if TYPE_CHECKING:
    from . import embedding  # imports kopf: at run time only after the first listing

logger = logging.getLogger(__name__)

READINESS_NAME = "kubernetes"
_RETRY_SECONDS = 2.0

_Touched = set[tuple[str, str, str]]  # (kind, namespace, name) seen in watch events


@dataclass(frozen=True, slots=True)
class _Watched:
    """What one run of the sources works with."""

    host: hosting.Host
    api: kubeclient.KubeApi
    crs: customresources.CustomResources
    maps: configmaps.ConfigMaps


class KubernetesSources:
    def __init__(self, config: settings.Settings, *, resync_seconds: float | None = None) -> None:
        self._config = config.operator
        self._lease = config.lease
        self._destinations = config.destinations
        self._resync_seconds = resync_seconds or config.operator.resync_interval_seconds
        self._api: kubeclient.KubeApi | None = None
        self._kopf: embedding.EmbeddedKopf | None = None
        self.crs: customresources.CustomResources | None = None
        self.configmaps: configmaps.ConfigMaps | None = None
        self._schedule: probing.Schedule | None = None
        self.leadership: leadership.Leadership | leadership.Always = leadership.Always()
        self._stopping = False
        self._touched: _Touched | None = None  # while a resync lists
        self._synced = asyncio.Event()  # the first listing is applied

    async def start(self, host: hosting.Host) -> None:
        """Connect, or refuse the start: an unusable kubeconfig, or (outside a pod) an API
        that does not answer at all, is a deployment mistake to report at once, in one line.
        In a pod an unanswering API is waited for, not ready with the address and the
        cause: the kubelet restarting us would only back off, while the API comes back.
        Later API failures are retried, keeping readiness false with the reason."""
        try:
            api = kubeclient.KubeApi.connect(self._config.kubeconfig)
        except kubeclient.ApiError as exc:
            raise errors.ConfigurationError(f"the operator cannot start: {exc}") from None
        unreachable = None
        try:
            await api.check_reachable()
        except kubeclient.ApiError as exc:
            if not kubeconfig.in_cluster():
                await api.aclose()
                raise errors.ConfigurationError(f"the operator cannot start: {exc}") from None
            logger.error("not ready until the Kubernetes API answers: %s", exc)
            unreachable = str(exc)
        try:
            policies = await admission.for_cluster(self._destinations, api.server)
        except errors.ConfigurationError:
            await api.aclose()
            raise
        self._api = api
        if leadership.enabled(self._lease):
            self.leadership = leadership.Leadership(
                api, leadership.Lease.from_settings(self._lease), on_elected=self._elected
            )
        host.readiness.register(READINESS_NAME)
        if unreachable is not None:  # the first listing retries until the API answers
            host.readiness.failed(READINESS_NAME, unreachable)
        host.readiness.describe("leadership", self.leadership.describe)
        host.start_background("kubernetes-sources", self._run(host, api, policies))

    def _elected(self) -> None:
        """A new leader starts from the statuses the previous one stored, not from what it
        probed when it last led: it compares every CR's (writing only what differs) and
        probes at its own pace."""
        if self.crs is not None:
            self.crs.forget_probes()
            self.crs.writer.mark_all(self.crs.keys())
        if self._schedule is not None and self._synced.is_set():
            self._schedule.spread()

    async def stop(self) -> None:
        self._stopping = True
        if isinstance(self.leadership, leadership.Leadership):
            await self.leadership.release()
        if self._kopf is not None:
            await self._kopf.stop()
        if self._api is not None:
            await self._api.aclose()

    async def _run(
        self, host: hosting.Host, api: kubeclient.KubeApi, policies: admission.Admission
    ) -> None:
        gate = self.leadership
        crs = self.crs = customresources.CustomResources(host.registry, api, gate, policies)
        maps = self.configmaps = configmaps.ConfigMaps(
            host.registry, api, self._config, gate, policies
        )
        watched = _Watched(host, api, crs, maps)
        schedule = self._schedule = probing.Schedule(
            crs, host.build_info, self._config.probe_interval_seconds, gate
        )
        host.start_background("status-writer", crs.writer.run(self._synced))
        host.start_background("reachability-probes", schedule.run(self._synced))
        if isinstance(gate, leadership.Leadership):
            host.start_background("leader-election", gate.run())
        await self._list_until_done(watched)
        # kopf (0.6-0.8 s of imports here) only now, and off the event loop: ready first.
        await asyncio.to_thread(importlib.import_module, "kopf")
        from . import embedding, watching

        while True:  # a supervisor: kopf gives up on some API faults; we never do
            self._kopf = embedding.EmbeddedKopf(
                watching.handlers(api, crs, maps, self._touch),
                embedding.operator_settings(),
                namespaces=self._config.namespaces,
                on_signal=host.request_stop,
            )
            resync = asyncio.create_task(self._resync_forever(watched), name="kubernetes-resync")
            try:
                await self._kopf.start()
                reason = "the watches ended"
            except Exception as exc:  # noqa: BLE001 - a supervisor outlives any kopf failure
                reason = f"the watches failed: {exc}"
            finally:
                resync.cancel()
                await asyncio.wait([resync])
            if self._stopping:
                return
            logger.error("%s; listing again and restarting them", reason)
            host.readiness.failed(READINESS_NAME, f"{reason}; restarting")
            await asyncio.sleep(_RETRY_SECONDS)
            await self._list_until_done(watched)

    async def _list_until_done(self, watched: _Watched) -> None:
        while True:
            try:
                await self._initial_listing(watched)
                break
            except kubeclient.ApiError as exc:
                logger.warning("listing failed, retrying: %s", exc)
                watched.host.readiness.failed(READINESS_NAME, f"listing failed: {exc}")
                await asyncio.sleep(_RETRY_SECONDS)
        watched.host.readiness.succeeded(READINESS_NAME)
        self._synced.set()
        logger.info(
            "kubernetes sources synced",
            extra={"namespaces": list(self._config.namespaces) or "all"},
        )

    def _scopes(self) -> list[str | None]:
        return list(self._config.namespaces) or [None]

    async def _initial_listing(self, watched: _Watched) -> None:
        """Apply the current truth, including what was deleted while nobody watched."""
        listed_crs, listed_maps = await self._list(watched)
        with watched.host.registry.batch():  # one snapshot for the whole listing
            await watched.crs.forget_all_but(listed_crs)
            watched.maps.forget_all_but(listed_maps)
            for body in listed_crs:
                await watched.crs.changed(
                    _with_kind(body, f"{specs.GROUP}/{specs.VERSION}"), listed=True
                )
            for body in listed_maps:
                await watched.maps.changed(body)

    async def _list(self, watched: _Watched) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        listed_crs: list[dict[str, Any]] = []
        listed_maps: list[dict[str, Any]] = []
        api, maps = watched.api, watched.maps
        for namespace in self._scopes():
            prefix = f"/namespaces/{namespace}" if namespace else ""
            path = f"/apis/{specs.GROUP}/{specs.VERSION}{prefix}/{specs.PLURAL}"
            listed_crs += await api.list(path)
            configmaps_path = f"/api/v1{prefix}/configmaps"
            for body in await api.list(configmaps_path, label_selector=maps.label_selector):
                if maps.selected(body):
                    listed_maps.append(body)
        return listed_crs, listed_maps

    async def _resync_forever(self, watched: _Watched) -> None:
        readiness = watched.host.readiness
        while True:
            await asyncio.sleep(self._resync_seconds)
            try:
                await self._resync(watched)
                await watched.crs.reread_references()
            except kubeclient.ApiError as exc:
                logger.warning("resync failed, serving the last known datasources: %s", exc)
                readiness.failed(READINESS_NAME, f"resync failed: {exc}")
            except Exception:  # one bad round must not end the resyncing
                logger.exception("resync failed")
            else:
                readiness.succeeded(READINESS_NAME)

    async def _resync(self, watched: _Watched) -> None:
        """Drop what was deleted unseen. Changes and creations are kopf's: its relisting
        reports them. An object a watch event mentions while this lists is newer than the
        listing, so the listing must not drop it."""
        touched: _Touched = set()
        self._touched = touched
        try:
            listed_crs, listed_maps = await self._list(watched)
            await watched.crs.forget_all_but(listed_crs + _stubs(touched, specs.KIND))
            watched.maps.forget_all_but(listed_maps + _stubs(touched, "ConfigMap"))
        finally:
            self._touched = None

    def _touch(self, kind: str, body: Mapping[str, Any]) -> None:
        if self._touched is not None:
            self._touched.add((kind, *kubeclient.object_key(body)))


def _with_kind(body: dict[str, Any], api_version: str) -> dict[str, Any]:
    """List items carry no apiVersion/kind; events about them need both."""
    return {"apiVersion": api_version, "kind": specs.KIND, **body}


def _stubs(touched: _Touched, kind: str) -> list[dict[str, Any]]:
    return [
        {"metadata": {"namespace": namespace, "name": name}}
        for touched_kind, namespace, name in touched
        if touched_kind == kind
    ]
