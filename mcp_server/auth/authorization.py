"""Per-datasource authorization with SubjectAccessReview, the way kube-rbac-proxy does it.

A CR-backed datasource is usable by whoever may `query` (AUTHORIZATION_VERB) that
PrometheusDatasource object, so an ordinary Role grants it:
`{apiGroups: [proms-mcp.dev], resources: [prometheusdatasources], verbs: [query],
resourceNames: [thanos]}`. ConfigMap-sourced datasources ask the same verb on the ConfigMap
(policy `sar`), or are allowed/denied to every authenticated caller; file-sourced ones are
allowed or denied by policy. Decisions are cached, allows longer than denies; a review that
fails is a denial that is not cached.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

from ..core import caching, observability
from ..kube import kubeclient
from ..sources import datasources
from . import identity

logger = logging.getLogger(__name__)

_CACHE_LIMIT = 50_000
_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
CR_GROUP = "proms-mcp.dev"
CR_RESOURCE = "prometheusdatasources"
METRICS_GROUP = "metrics.k8s.io"


class Policy(enum.StrEnum):
    ALLOW = "allow"  # every authenticated caller
    DENY = "deny"
    SAR = "sar"  # ask the API server (ConfigMaps only)


class Authorizer:
    def __init__(
        self,
        api: kubeclient.KubeApi,
        *,
        verb: str = "query",
        file_policy: Policy = Policy.ALLOW,
        configmap_policy: Policy = Policy.SAR,
        allow_ttl: float = 60.0,
        deny_ttl: float = 10.0,
    ) -> None:
        self._api = api
        self._verb = verb
        self._file_policy = file_policy
        self._configmap_policy = configmap_policy
        self._ttl = {True: allow_ttl, False: deny_ttl}
        self._decisions: caching.Cache[tuple[Any, ...], bool] = caching.Cache(limit=_CACHE_LIMIT)

    async def allowed(self, who: identity.Identity, source: datasources.Source) -> bool:
        """Decided by where a datasource is declared, so one that is declared but not served
        is shown to exactly the callers who could query it once fixed."""
        if source.kind is datasources.SourceKind.FILE:
            return self._file_policy is Policy.ALLOW
        if source.kind is datasources.SourceKind.CONFIGMAP:
            if self._configmap_policy is not Policy.SAR:
                return self._configmap_policy is Policy.ALLOW
            attributes = _attributes("", "configmaps", self._verb, source.location)
        else:
            attributes = _attributes(CR_GROUP, CR_RESOURCE, self._verb, source.location)
        return await self._decide(who, attributes)

    async def may_read_namespace(self, who: identity.Identity, namespace: str) -> bool:
        """What OpenShift's tenancy port asks kube-rbac-proxy before it answers for a
        namespace (`get pods.metrics.k8s.io` there): asked first, so a caller learns why
        from us and a forwarded token never probes namespaces it may not read."""
        attributes = _attributes(METRICS_GROUP, "pods", "get", f"{namespace}/")
        return await self._decide(who, attributes)

    async def _decide(self, who: identity.Identity, attributes: dict[str, str]) -> bool:
        extra = tuple(sorted(who.extra.items()))  # scoped tokens of one user differ here
        key = (who.username, who.uid, who.groups, extra, tuple(sorted(attributes.items())))
        cached = self._decisions.fresh(key)
        if cached is not None:
            observability.AUTH_CACHE_HITS.labels("access").inc()
            return cached
        try:
            allowed = await self._decisions.share(
                key, lambda: self._review(who, attributes), name="access-review"
            )
        except kubeclient.ApiError as exc:
            logger.warning("SubjectAccessReview failed, denying: %s", exc)
            observability.AUTH_REVIEWS.labels("access", "unavailable").inc()
            return False
        self._decisions.keep(key, allowed, self._ttl[allowed])
        if not allowed:
            observability.AUTH_DENIALS.labels("forbidden").inc()
        return allowed

    async def _review(self, who: identity.Identity, attributes: dict[str, str]) -> bool:
        spec: dict[str, Any] = {
            "user": who.username,
            "groups": list(who.groups),
            "resourceAttributes": attributes,
        }
        if who.uid:
            spec["uid"] = who.uid
        if who.extra:
            spec["extra"] = {k: list(v) for k, v in who.extra.items()}
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        answer = await self._api.post(_ACCESS_REVIEWS, body)
        allowed = bool((answer.get("status") or {}).get("allowed"))
        observability.AUTH_REVIEWS.labels("access", "allowed" if allowed else "denied").inc()
        return allowed


def _attributes(group: str, resource: str, verb: str, location: str) -> dict[str, str]:
    namespace, _, name = location.partition("/")
    return {
        "group": group,
        "resource": resource,
        "verb": verb,
        "namespace": namespace,
        "name": name,
    }
