"""Periodic reachability probes of CR-backed datasources -> the Reachable condition.

`/api/v1/status/buildinfo` (an Alertmanager's `/api/v2/status`) tells both that the backend
answers and which version it runs.
A 404 still proves the backend is up (not every Prometheus-compatible API serves buildinfo),
and a 401/403 on a datasource that forwards the caller's token is expected: the prober has
no caller. A tenancy profile that shapes requests from a caller (OpenShift's namespace and
token, Mimir's tenants from groups) cannot be probed: Reachable stays Unknown, saying why.

The backend's words (its version, its error text) reach the CR's status and `kubectl
describe`: they are cleaned (`hygiene.clean`), and the version is quoted in the message.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time

from mcp_server.app import hosting
from mcp_server.core import errors, hygiene, observability
from mcp_server.sources import datasources, tenancy

from . import conditions, customresources, writing

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 10.0
_CONCURRENCY = 32
"""Probes in flight at once: 1000 CRs every 60 s is 17 a second, and an unreachable backend
holds its probe up to PROBE_TIMEOUT_SECONDS."""
_IDLE_SECONDS = 1.0
"""The longest the schedule sleeps: new CRs and changed connections are noticed this fast."""
_MAX_OVER_AVERAGE = 2.0
"""Visits started in any stretch of time: at most this many times the average rate."""
_TICK_SECONDS = 0.05
"""The shortest: each look at the CRs walks all of them, so visits due close together are
started together (at most 20 looks a second)."""


async def probe(
    build_info: hosting.BuildInfo, datasource: datasources.Datasource
) -> tuple[conditions.Condition, str | None]:
    """The Reachable condition of `datasource`, and the version its buildinfo names."""
    if tenancy.needs_caller(datasource.connection.tenancy):
        message = "its tenancy profile is shaped by each caller, so there is nothing to probe"
        return conditions.Condition(conditions.REACHABLE, "Unknown", "NotProbed", message), None
    try:
        data = await build_info(datasource, timeout=PROBE_TIMEOUT_SECONDS)
    except errors.BadUpstreamResponse:
        return _reachable("Responding", "the backend answers (it does not serve buildinfo)"), None
    except errors.UpstreamUnauthorized as exc:
        if datasource.connection.forward_caller_token:
            return _reachable(
                "AuthenticationRequired", "the backend answers and wants a token"
            ), None
        return _unreachable(exc), None
    except errors.UpstreamError as exc:
        return _unreachable(exc), None
    version = hygiene.clean(data.get("version") or "").strip() or None
    if version is None:
        return _reachable("ProbeSucceeded", "buildinfo answered"), None
    message = f"buildinfo answered (version {hygiene.quoted(version)})"
    return _reachable("ProbeSucceeded", message), version


def _reachable(reason: str, message: str) -> conditions.Condition:
    return conditions.Condition(conditions.REACHABLE, "True", reason, message)


def _unreachable(exc: errors.PromsMcpError) -> conditions.Condition:
    """The error's message may carry the backend's text: cleaned before it reaches the CR."""
    message = hygiene.clean(f"{exc.code}: {exc.message}")
    reason = (
        "DestinationNotAllowed" if isinstance(exc, errors.DestinationNotAllowed) else "ProbeFailed"
    )
    return conditions.Condition(conditions.REACHABLE, "False", reason, message)


class Schedule:
    """Each CR is visited once per interval, the visits spread evenly over the interval.

    A start, a restart or an election spreads every CR known then over one interval (in a
    random order, each at a random point of its own slot), so 1000 CRs and a 60 s interval
    make about 17 probes a second rather than 1000 at once. A CR created later, or whose
    connection changed, is visited at once. Visits that fell behind (a stalled loop, a slow
    API) are caught up at no more than twice the average rate. The leader probes on a visit;
    every replica (the leader too) reads the CR's Secrets and ConfigMaps again, in case a
    watch missed a change.
    """

    def __init__(
        self,
        crs: customresources.CustomResources,
        build_info: hosting.BuildInfo,
        interval: float,
        gate: writing.Gate,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._crs = crs
        self._build_info = build_info
        self._interval = interval
        self._gate = gate
        self._rng = rng or random.Random()  # noqa: S311 - spreading load, not secrets
        self._due: dict[customresources.ObjectKey, float] = {}
        self._visited: dict[customresources.ObjectKey, datasources.Connection] = {}
        self._running: set[customresources.ObjectKey] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._gate_open = asyncio.Semaphore(_CONCURRENCY)

    def spread(self) -> None:
        """Visit every known CR once over the next interval (a start, an election)."""
        keys = [key for key, _ in self._crs.served()]
        self._rng.shuffle(keys)
        now = time.monotonic()
        for index, key in enumerate(keys):
            self._due[key] = now + self._interval * (index + self._rng.random()) / len(keys)

    async def run(self, synced: asyncio.Event) -> None:
        """Once the first listing is applied, for ever (cancel to stop)."""
        await synced.wait()
        self.spread()
        allowance, last = math.inf, time.monotonic()  # starts full: capped below
        while True:
            now = time.monotonic()
            served = dict(self._crs.served())
            # At most twice the average rate: after a stall (a busy loop, a slow API) the
            # overdue visits are caught up at that pace, not in one burst.
            rate = _MAX_OVER_AVERAGE * len(served) / self._interval
            allowance = min(allowance + rate * (now - last), max(1.0, rate * _TICK_SECONDS))
            last = now
            for key in [k for k in self._due if k not in served]:
                del self._due[key]
                self._visited.pop(key, None)
            overdue = []
            for key, datasource in served.items():
                if key not in self._due or self._visited.get(key, datasource.connection) != (
                    datasource.connection
                ):
                    self._visit_now(key, datasource, now)  # new, or its connection changed
                elif self._due[key] <= now and key not in self._running:
                    overdue.append(key)
            overdue.sort(key=self._due.__getitem__)
            for key in overdue[: int(allowance)]:
                self._visit_now(key, served[key], now)
            allowance -= min(len(overdue), int(allowance))
            upcoming = min(self._due.values(), default=now + _IDLE_SECONDS)
            await asyncio.sleep(max(_TICK_SECONDS, min(upcoming - now, _IDLE_SECONDS)))

    def _visit_now(
        self, key: customresources.ObjectKey, datasource: datasources.Datasource, now: float
    ) -> None:
        """Start a visit and make the next one due an interval after the one this served
        (one in flight: at the first look after it ends)."""
        if key in self._running:
            self._due[key] = now
            return
        due = min(self._due.get(key, now), now)
        self._due[key] = due + self._interval * math.ceil((now - due + 1e-9) / self._interval)
        self._visited[key] = datasource.connection
        self._start(key, datasource)

    def _start(self, key: customresources.ObjectKey, datasource: datasources.Datasource) -> None:
        self._running.add(key)
        task = asyncio.create_task(self._visit(key, datasource), name="reachability-probe")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _visit(
        self, key: customresources.ObjectKey, datasource: datasources.Datasource
    ) -> None:
        try:
            async with self._gate_open:
                if self._gate.leading:
                    condition, version = await probe(self._build_info, datasource)
                    observability.PROBES.labels(condition.status).inc()
                    await self._crs.set_reachability(key, condition, version)
                else:
                    await self._crs.refresh(key)
        except Exception:  # one CR's failure must not end the probing
            logger.exception("probing %s/%s failed", *key)
        finally:
            self._running.discard(key)
