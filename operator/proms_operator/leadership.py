"""Which replica writes: leader election with a coordination.k8s.io/v1 Lease.

Every replica watches and serves (each needs its own registry); only the holder of the Lease
probes backends and writes statuses and events, so three replicas cost one replica's probes
and a status never flips between two replicas' views. kopf's own peering is not used: it
pauses the watches of followers. Writes are gated, never watches.

The loop is client-go's: every retry period, read the Lease; create it when there is none;
take it when its holder is empty or has not renewed it for `leaseDurationSeconds` *as seen
from here* (the time we last saw the record change, so clocks need not agree); renew it when
it is ours. Every update carries the resourceVersion it was read at, so of two replicas that
try at once the API accepts one and answers 409 to the other. A leader that could not renew
for the renew deadline stops writing before anyone else may take over (deadline < duration);
on a clean shutdown it empties the holder so another replica takes over at its next try.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp_server.core import observability, settings
from mcp_server.kube import kubeclient, kubeconfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Lease:
    """Where the Lease is, who we are, and client-go's three timings."""

    namespace: str
    name: str
    identity: str
    duration_seconds: int
    renew_deadline_seconds: float
    retry_period_seconds: float

    @classmethod
    def from_settings(cls, config: settings.LeaseSettings) -> Lease:
        return cls(
            namespace=config.namespace or kubeconfig.pod_namespace() or "default",
            name=config.name,
            identity=config.identity or f"{socket.gethostname()}_{os.getpid()}",
            duration_seconds=config.duration_seconds,
            renew_deadline_seconds=config.renew_deadline_seconds,
            retry_period_seconds=config.retry_period_seconds,
        )


def enabled(config: settings.LeaseSettings) -> bool:
    """`auto` elects a leader in a pod (where replicas are expected), not on a laptop."""
    if config.election is settings.LeaderElection.AUTO:
        return kubeclient.in_cluster()
    return config.election is settings.LeaderElection.ON


class Always:
    """No election (LEADER_ELECTION=off): this process is the only writer."""

    leading = True

    def describe(self) -> dict[str, object]:
        return {"election": "off", "leading": True}


class Leadership:
    """The Lease loop of one replica; `leading` gates every write and probe."""

    def __init__(
        self,
        api: kubeclient.KubeApi,
        lease: Lease,
        *,
        on_elected: Callable[[], None] | None = None,
    ) -> None:
        self._api = api
        self.lease = lease
        self._on_elected = on_elected
        self.holder: str | None = None
        """The identity in the Lease when we last read it ("" when released)."""
        self._renewed_at: float | None = None  # monotonic time of our last acquire or renewal
        self._seen: tuple[str, str] | None = None  # (resourceVersion, holder) last read
        self._seen_at = 0.0
        self._problem: str | None = None
        observability.LEADER.labels(lease.identity).set(0)

    @property
    def leading(self) -> bool:
        """True while our last acquire or renewal is younger than the renew deadline."""
        renewed = self._renewed_at
        return (
            renewed is not None and time.monotonic() - renewed < self.lease.renew_deadline_seconds
        )

    def describe(self) -> dict[str, object]:
        """For /ready: who we are, whether we lead, and who does as far as we know."""
        found: dict[str, object] = {
            "election": "on",
            "identity": self.lease.identity,
            "leading": self.leading,
            "leader": self.holder or None,
            "lease": f"{self.lease.namespace}/{self.lease.name}",
        }
        if self._problem is not None:
            found["last_error"] = self._problem
        return found

    async def run(self) -> None:
        """Take or renew the Lease every retry period, for ever (cancel to stop)."""
        while True:
            was_leading = self.leading
            try:
                async with asyncio.timeout(self.lease.renew_deadline_seconds):
                    await self._try_acquire_or_renew()
                self._problem = None
            except (kubeclient.ApiError, TimeoutError) as exc:
                problem = str(exc) or "no answer from the Kubernetes API in time"
                if problem != self._problem:
                    logger.warning("cannot take or renew the Lease: %s", problem)
                self._problem = problem
            self._announce(was_leading)
            await asyncio.sleep(self.lease.retry_period_seconds)

    async def release(self) -> None:
        """On a clean shutdown: give the Lease up so another replica takes it at once."""
        if not self.leading:
            return
        self._renewed_at = None
        observability.LEADER.labels(self.lease.identity).set(0)
        try:
            async with asyncio.timeout(self.lease.retry_period_seconds):
                record = await self._api.get_lease(self.lease.namespace, self.lease.name)
                if record is None or _spec(record).get("holderIdentity") != self.lease.identity:
                    return
                spec = {**_spec(record), "holderIdentity": "", "leaseDurationSeconds": 1}
                spec["renewTime"] = _now()
                await self._api.update_lease(
                    self.lease.namespace, self.lease.name, _body(self.lease, record, spec)
                )
            logger.info("released the Lease", extra={"identity": self.lease.identity})
        except (kubeclient.ApiError, TimeoutError) as exc:
            logger.info("could not release the Lease (it expires by itself): %s", exc)

    async def _try_acquire_or_renew(self) -> None:
        lease = self.lease
        record = await self._api.get_lease(lease.namespace, lease.name)
        if record is None:
            await self._create()
            return
        spec = _spec(record)
        holder = str(spec.get("holderIdentity") or "")
        self.holder = holder
        seen = (str((record.get("metadata") or {}).get("resourceVersion")), holder)
        if seen != self._seen:
            self._seen, self._seen_at = seen, time.monotonic()
        duration = int(spec.get("leaseDurationSeconds") or lease.duration_seconds)
        ours = holder == lease.identity
        expired = time.monotonic() > self._seen_at + duration
        if holder and not ours and not expired:
            self._renewed_at = None
            return
        renewed = {**spec, "holderIdentity": lease.identity, "renewTime": _now()}
        renewed["leaseDurationSeconds"] = lease.duration_seconds
        if not ours:
            renewed["acquireTime"] = renewed["renewTime"]
            renewed["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        try:
            await self._api.update_lease(lease.namespace, lease.name, _body(lease, record, renewed))
        except kubeclient.ApiError as exc:
            if exc.status != 409:
                raise
            self._renewed_at = None  # another replica wrote first: read again next time
            return
        self._took(lease.identity)

    async def _create(self) -> None:
        now = _now()
        spec = {
            "holderIdentity": self.lease.identity,
            "leaseDurationSeconds": self.lease.duration_seconds,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": 0,
        }
        try:
            await self._api.create_lease(self.lease.namespace, _body(self.lease, None, spec))
        except kubeclient.ApiError as exc:
            if exc.status != 409:
                raise
            self._renewed_at = None  # created by another replica first
            return
        self._took(self.lease.identity)

    def _took(self, identity: str) -> None:
        self._renewed_at = time.monotonic()
        self.holder = identity

    def _announce(self, was_leading: bool) -> None:
        leading = self.leading
        observability.LEADER.labels(self.lease.identity).set(1 if leading else 0)
        if leading == was_leading:
            return
        extra = {"identity": self.lease.identity, "lease": self.lease.name}
        if leading:
            logger.info("leading: this replica probes and writes statuses", extra=extra)
            if self._on_elected is not None:
                self._on_elected()
        else:
            logger.info(
                "following %s: another replica writes", self.holder or "nobody", extra=extra
            )


def _spec(record: dict[str, Any]) -> dict[str, Any]:
    spec = record.get("spec")
    return dict(spec) if isinstance(spec, dict) else {}


def _body(lease: Lease, record: dict[str, Any] | None, spec: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": lease.name, "namespace": lease.namespace}
    if record is not None:
        metadata["resourceVersion"] = (record.get("metadata") or {}).get("resourceVersion")
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": spec,
    }


def _now() -> str:
    """A MicroTime, as the Lease's fields are."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
