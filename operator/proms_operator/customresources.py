"""PrometheusDatasource objects -> registry entries and their status.

Level-triggered: every event for a CR (and for a Secret or ConfigMap it references)
recomputes the whole datasource from the current spec and referenced values, puts it in the
registry, and marks its status for writing (`writing`: in the background, by the leader only,
and only if it changed). Nothing is stored on the object but its
status: no finalizers, no annotations. A CR that cannot be served is kept out of the
registry with Ready=False, a precise reason, and a Warning event; the others are untouched.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import logging
from collections.abc import Mapping
from typing import Any

from mcp_server.core import observability
from mcp_server.kube import kubeclient
from mcp_server.sources import datasources, registry
from mcp_server.sources import tenancy as profiles

from . import admission, conditions, contributing, specs, writing

logger = logging.getLogger(__name__)

ObjectKey = tuple[str, str]  # namespace, name


def api_path(namespace: str, name: str | None = None, *, status: bool = False) -> str:
    path = f"/apis/{specs.GROUP}/{specs.VERSION}/namespaces/{namespace}/{specs.PLURAL}"
    if name is not None:
        path += f"/{name}"
    return path + ("/status" if status else "")


class CustomResources(contributing.Contributor):
    KIND = datasources.SourceKind.CUSTOM_RESOURCE

    def __init__(
        self,
        live: registry.Registry,
        api: kubeclient.KubeApi,
        gate: writing.Gate,
        policies: admission.Admission,
    ) -> None:
        super().__init__(live, api, policies)
        self.writer = writing.Writer(self.write_status, gate)
        """Run `writer.run(synced)` as a background task: it writes the statuses marked here."""
        self._bodies: dict[ObjectKey, dict[str, Any]] = {}
        self._ready: dict[ObjectKey, conditions.Condition] = {}
        self._references: dict[ObjectKey, tuple[specs.Reference, ...]] = {}
        self._reachable: dict[ObjectKey, conditions.Condition] = {}
        self._versions: dict[ObjectKey, str] = {}
        self._locks: dict[ObjectKey, asyncio.Lock] = {}
        self._last_good: dict[ObjectKey, datasources.Datasource] = {}

    # --- events -------------------------------------------------------------------------

    async def changed(self, body: Mapping[str, Any], *, listed: bool = False) -> None:
        """A watched status-only change (every status write of the leader comes back as one)
        is kept, for the next comparison, but not reconciled: nothing it says is served, and
        after a start 1000 of them would queue ahead of real changes. A listing reconciles
        every CR (its Secrets may have changed while nothing watched)."""
        key = kubeclient.object_key(body)
        before = self._bodies.get(key)
        self._bodies[key] = copy.deepcopy(dict(body))
        watched_status_only = not listed and before is not None and _same_but_status(before, body)
        if watched_status_only and key in self._ready:
            return
        await self._reconcile(key)

    async def deleted(self, body: Mapping[str, Any]) -> None:
        key = kubeclient.object_key(body)
        async with self._lock(key):
            self._bodies.pop(key, None)
            self._ready.pop(key, None)
            self._references.pop(key, None)
            self._reachable.pop(key, None)
            self._versions.pop(key, None)
            self._last_good.pop(key, None)
            self._registry.remove(self.source_of(*key))
        logger.info("datasource removed", extra={"datasource_id": f"{key[0]}/{key[1]}"})

    async def forget_all_but(self, listed: list[dict[str, Any]]) -> None:
        """After a (re)listing: drop CRs deleted while no watch was running."""
        keep = {kubeclient.object_key(body) for body in listed}
        for key in [k for k in self._bodies if k not in keep]:
            await self.deleted({"metadata": {"namespace": key[0], "name": key[1]}})

    def references(self, kind: str, namespace: str, name: str) -> list[ObjectKey]:
        """CRs that read the given Secret or ConfigMap."""
        return [
            key
            for key, refs in self._references.items()
            if any(r.kind == kind and r.namespace == namespace and r.name == name for r in refs)
        ]

    async def referenced_object_changed(self, kind: str, namespace: str, name: str) -> None:
        for key in self.references(kind, namespace, name):
            await self._reconcile(key)

    def keys(self) -> list[ObjectKey]:
        return list(self._bodies)

    async def refresh(self, key: ObjectKey) -> None:
        """Read the CR's Secrets and ConfigMaps again (a safety net for missed watch events)."""
        await self._reconcile(key)

    async def reread_references(self) -> None:
        """Read every referenced Secret and ConfigMap again (no Secret is watched): a
        rotated, created or deleted one takes effect within one call of this."""
        for key in [k for k, refs in self._references.items() if refs]:
            await self._reconcile(key)

    def served(self) -> list[tuple[ObjectKey, datasources.Datasource]]:
        snapshot = self._registry.current()
        found = []
        for key in list(self._bodies):
            datasource = snapshot.datasources.get(specs.datasource_id(*key))
            if datasource is not None and datasource.source == self.source_of(*key):
                found.append((key, datasource))
        return found

    async def set_reachability(
        self, key: ObjectKey, condition: conditions.Condition, version: str | None
    ) -> None:
        """Called by the prober; written only if Reachable or the version changed."""
        self._reachable[key] = condition
        if version:
            self._versions[key] = version
        if key in self._bodies:
            await self._reconcile(key)

    def forget_probes(self) -> None:
        """Drop what this replica's own probes said (on an election): while it followed,
        the leader stored newer statuses, which stand until this replica probes again."""
        self._reachable.clear()
        self._versions.clear()

    # --- reconciling --------------------------------------------------------------------

    def _lock(self, key: ObjectKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _reconcile(self, key: ObjectKey) -> None:
        async with self._lock(key):
            body = self._bodies.get(key)
            if body is None:
                return
            namespace, name = key
            source = self.source_of(namespace, name)
            ready: conditions.Condition
            try:
                spec = specs.parse_spec(body.get("spec") or {})
                self._references[key] = specs.references(spec, namespace)
                if spec.suspend:
                    self._registry.remove(source)
                    self._last_good.pop(key, None)
                    ready = conditions.Condition(
                        conditions.READY, "False", "Suspended", "spec.suspend is true"
                    )
                else:
                    datasource = await self._admitted(key, spec)
                    self._registry.put(registry.Contribution(source, (datasource,)))
                    self._last_good[key] = datasource
                    ready = conditions.Condition(
                        conditions.READY,
                        "True",
                        "Serving",
                        f"served to agents as datasource {datasource.id}",
                    )
            except specs.SpecError as exc:
                message = exc.message
                previous = self._last_good.get(key)
                problem = datasources.Problem(
                    source, exc.message, datasource_id=specs.datasource_id(namespace, name)
                )
                if exc.reason == "InvalidSpec" and previous is not None:
                    # A broken edit must not take a working datasource away from agents.
                    self._registry.put(registry.Contribution(source, (previous,), (problem,)))
                    message += "; still serving the last valid spec"
                else:
                    # Not served, but known: agents who may query it are told why.
                    self._registry.put(registry.Contribution(source, (), (problem,)))
                    if exc.reason != "InvalidSpec":  # a missing Secret revokes on purpose
                        self._last_good.pop(key, None)
                ready = conditions.Condition(conditions.READY, "False", exc.reason, message)
                logger.warning(
                    "datasource not served: %s",
                    exc.message,
                    extra={"datasource_id": f"{namespace}/{name}", "reason": exc.reason},
                )
            except kubeclient.ApiError as exc:
                ready = conditions.Condition(
                    conditions.READY, "False", "KubernetesApiError", str(exc)
                )
                logger.warning("cannot resolve references of %s/%s: %s", namespace, name, exc)
            self._ready[key] = ready
            self.writer.mark(key)

    async def _admitted(
        self, key: ObjectKey, spec: specs.PrometheusDatasourceSpec
    ) -> datasources.Datasource:
        """The datasource to serve, if the administrator's policies allow it (checked before
        any Secret is read: a refused datasource needs none)."""
        forwarding = spec.forwarding_field()
        fields = {"field": "spec.url", "forward_field": forwarding or "spec.auth"}
        self._admission.check(spec.url, forwards=forwarding is not None, **fields)
        profile = spec.profile()
        if isinstance(profile, profiles.OpenShift):  # rules and alerts go there, token too
            self._admission.check(
                profile.rules_url,
                forwards=forwarding is not None,
                field="spec.tenancy.openshift.rulesUrl",
                forward_field=fields["forward_field"],
            )
        values = await self._fetch(self._references[key])
        built = specs.to_datasource(*key, spec, lambda ref: _lookup(values, ref))
        return self._admission.admit(built, **fields)

    async def _fetch(self, references: tuple[specs.Reference, ...]) -> dict[str, dict[str, Any]]:
        """Each referenced object once, by name; a missing or unreadable one is the CR's
        problem, not ours."""
        objects: dict[str, dict[str, Any]] = {}
        for ref in references:
            path = _object_path(ref)
            if path in objects:
                continue
            try:
                found = await self._api.get(path)
            except kubeclient.ApiError as exc:
                if exc.status != 403:
                    raise
                raise specs.SpecError(
                    f"{ref.kind}Forbidden",
                    f"{ref.kind} {ref.namespace}/{ref.name} cannot be read by proms-mcp "
                    f"(forbidden); grant its ServiceAccount get on {ref.kind.lower()}s in "
                    f"{ref.namespace}, or fix the reference",
                ) from None
            if found is None:
                raise specs.SpecError(
                    f"{ref.kind}NotFound",
                    f"{ref.kind} {ref.namespace}/{ref.name} does not exist; create it or fix "
                    "the reference",
                )
            objects[path] = found
        return objects

    async def write_status(self, key: ObjectKey) -> None:
        """Patch the status when it differs from the stored one (the writer calls this)."""
        async with self._lock(key):
            body, ready = self._bodies.get(key), self._ready.get(key)
            if body is not None and ready is not None:
                await self._write_status(key, body, ready)

    async def _write_status(
        self, key: ObjectKey, body: dict[str, Any], ready: conditions.Condition
    ) -> None:
        namespace, name = key
        current = body.get("status") or {}
        # Until this process probes, the stored Reachable stands: a restart or a new leader
        # writes nothing for a backend whose reachability it has not seen change.
        reachable = (
            self._reachable.get(key)
            or conditions.stored(current, conditions.REACHABLE)
            or conditions.Condition(
                conditions.REACHABLE, "Unknown", "NotProbed", "no probe has run yet"
            )
        )
        if ready.reason == "Suspended":
            reachable = conditions.Condition(
                conditions.REACHABLE, "Unknown", "Suspended", "not probed while suspended"
            )
        extra: dict[str, Any] = {"datasourceId": f"{namespace}/{name}"}
        if key in self._versions:
            extra["prometheusVersion"] = self._versions[key]
        generation = (body.get("metadata") or {}).get("generation")
        desired = conditions.render(current, [ready, reachable], generation=generation, extra=extra)
        if not conditions.differs(current, desired):
            return
        before = conditions.find(current, conditions.READY)
        try:
            patched = await self._api.merge_patch(
                api_path(namespace, name, status=True), {"status": desired}
            )
        except kubeclient.ApiError as exc:
            observability.STATUS_WRITES.labels("status", "failure").inc()
            logger.warning("cannot patch status of %s/%s: %s", namespace, name, exc)
            return
        observability.STATUS_WRITES.labels("status", "success").inc()
        body["status"] = patched.get("status", desired)
        if (
            before is None
            or before.get("status") != ready.status
            or (before.get("reason") != ready.reason)
        ):
            await self._event(body, ready)

    async def _event(self, body: dict[str, Any], ready: conditions.Condition) -> None:
        try:
            await self._api.post_event(
                body,
                kind=specs.KIND,
                reason=ready.reason,
                message=ready.message,
                warning=ready.status != "True",
            )
        except kubeclient.ApiError as exc:
            observability.STATUS_WRITES.labels("event", "failure").inc()
            logger.info("event not posted: %s", exc)
        else:
            observability.STATUS_WRITES.labels("event", "success").inc()


def _same_but_status(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    def served(body: Mapping[str, Any]) -> tuple[Any, Any]:
        return body.get("spec"), (body.get("metadata") or {}).get("generation")

    return served(before) == served(after)


def _object_path(ref: specs.Reference) -> str:
    plural = "secrets" if ref.kind == "Secret" else "configmaps"
    return f"/api/v1/namespaces/{ref.namespace}/{plural}/{ref.name}"


def _lookup(objects: Mapping[str, Mapping[str, Any]], ref: specs.Reference) -> str:
    found = objects[_object_path(ref)]
    if ref.kind == "ConfigMap":
        value = (found.get("data") or {}).get(ref.key)
        if value is None:
            raise _missing_key(ref)
        return str(value)
    encoded = (found.get("data") or {}).get(ref.key)
    if encoded is None:
        raise _missing_key(ref)
    try:
        return base64.b64decode(str(encoded), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise specs.SpecError(
            "InvalidSecretValue", f"{ref} is not base64-encoded UTF-8 text"
        ) from None


def _missing_key(ref: specs.Reference) -> specs.SpecError:
    return specs.SpecError("KeyNotFound", f"{ref} does not exist; add the key or fix the reference")
