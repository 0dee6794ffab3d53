"""Grafana datasource-provisioning ConfigMaps -> registry entries.

A ConfigMap is selected by its label (default `grafana_datasource`, any value: the Grafana
chart's sidecar convention); every data key is one provisioning document, parsed by the same
code as the standalone file loader. A ConfigMap that loses its label or is deleted takes its
datasources with it. A key that no longer parses keeps the last good datasources of that
ConfigMap in service. A datasource the administrator's policies refuse (`admission`: its
address) is a problem of its ConfigMap, reported like a bad entry. proms-mcp only reads
ConfigMaps: it never patches them. `$VAR`
references are not expanded from the server's environment here (they are reported as
problems): a ConfigMap's author must not be able to read the server's variables.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mcp_server.core import observability, settings
from mcp_server.kube import kubeclient
from mcp_server.sources import datasources, provisioning, registry

from . import admission, contributing, writing

logger = logging.getLogger(__name__)

_NO_ENVIRONMENT: Mapping[str, str] = {}


class ConfigMaps(contributing.Contributor):
    KIND = datasources.SourceKind.CONFIGMAP

    def __init__(
        self,
        live: registry.Registry,
        api: kubeclient.KubeApi,
        config: settings.OperatorSettings,
        gate: writing.Gate,
        policies: admission.Admission,
    ) -> None:
        super().__init__(live, api, policies)
        self._gate = gate
        self._label = config.configmap_label
        self._value = config.configmap_label_value
        self._last_good: dict[datasources.Source, registry.Contribution] = {}
        self._reported: dict[datasources.Source, tuple[str, ...]] = {}

    @property
    def label_selector(self) -> str:
        return self._label if self._value is None else f"{self._label}={self._value}"

    def selected(self, body: Mapping[str, Any]) -> bool:
        labels = (body.get("metadata") or {}).get("labels") or {}
        if self._label not in labels:
            return False
        return self._value is None or labels[self._label] == self._value

    async def changed(self, body: Mapping[str, Any]) -> None:
        source = self.source_of(*kubeclient.object_key(body))
        if not self.selected(body):
            self.deleted(body)
            return
        data = body.get("data") or {}
        documents = [
            (str(text), datasources.Source(source.kind, f"{source.location} key {key}"))
            for key, text in sorted(data.items())
        ]
        # No environment: anyone who may label a ConfigMap must not be able to make the
        # server send its own environment ($THANOS_TOKEN ...) to a URL of their choice.
        loaded = provisioning.parse_documents(documents, _NO_ENVIRONMENT)
        served, refused = self._admitted(loaded.datasources)
        problems = loaded.problems + refused
        fresh = registry.Contribution(source, served, problems)
        contribution = registry.keep_last_good(self._last_good.get(source), fresh)
        self._registry.put(contribution)
        if contribution is fresh:
            self._last_good[source] = fresh
        observability.CONFIG_RELOADS.labels(
            "configmap", "success" if contribution is fresh else "failure"
        ).inc()
        # An id another source already serves is this ConfigMap's problem too: report it here.
        prefix = f"{source.location} key "
        collisions = tuple(
            problem
            for problem in self._registry.current().problems
            if problem.source.kind is source.kind
            and problem.source.location.startswith(prefix)
            and problem not in problems
        )
        await self._report(body, source, problems + collisions, kept=contribution is not fresh)

    def _admitted(
        self, loaded: tuple[datasources.Datasource, ...]
    ) -> tuple[tuple[datasources.Datasource, ...], tuple[datasources.Problem, ...]]:
        """Datasources the administrator's policies allow, and a problem for each other."""
        served: list[datasources.Datasource] = []
        refused: list[datasources.Problem] = []
        for datasource in loaded:
            try:
                served.append(self._admission.admit(datasource, field="url", forward_field="url"))
            except admission.Refused as exc:
                entry = f"(name {datasource.name!r})"
                refused.append(
                    datasources.Problem(datasource.source, exc.message, entry, "url", datasource.id)
                )
        return tuple(served), tuple(refused)

    def forget_all_but(self, listed: list[dict[str, Any]]) -> None:
        """After a (re)listing: drop ConfigMaps deleted or unlabelled while unwatched."""
        keep = {self.source_of(*kubeclient.object_key(body)) for body in listed}
        for contribution in self._registry.contributions():
            source = contribution.source
            if source.kind is datasources.SourceKind.CONFIGMAP and source not in keep:
                self._last_good.pop(source, None)
                self._reported.pop(source, None)
                self._registry.remove(source)

    def deleted(self, body: Mapping[str, Any]) -> None:
        source = self.source_of(*kubeclient.object_key(body))
        self._last_good.pop(source, None)
        self._reported.pop(source, None)
        self._registry.remove(source)

    async def _report(
        self,
        body: Mapping[str, Any],
        source: datasources.Source,
        problems: tuple[datasources.Problem, ...],
        *,
        kept: bool,
    ) -> None:
        """Log, and post an event (the leader only), when the set of problems changes."""
        messages = tuple(str(p) for p in problems)
        if self._reported.get(source, ()) == messages:
            return
        self._reported[source] = messages
        for message in messages:
            logger.error("datasource not served: %s", message)
        if not messages:
            return
        summary = "; ".join(messages)
        if kept:
            summary = "kept the last good datasources: " + summary
        if not self._gate.leading:
            return
        try:
            await self._api.post_event(
                dict(body),
                kind="ConfigMap",
                reason="InvalidDatasource",
                message=summary,
                warning=True,
            )
        except kubeclient.ApiError as exc:
            observability.STATUS_WRITES.labels("event", "failure").inc()
            logger.info("event not posted: %s", exc)
        else:
            observability.STATUS_WRITES.labels("event", "success").inc()
