"""Loopback gateways that enforce a tenancy backend's rules in front of a real Prometheus.

- `OpenShiftQueryPort` / `OpenShiftRulesPort`: thanos-querier's tenancy ports 9092 / 9093
  (kube-rbac-proxy + prom-label-proxy). No bearer token: 401. Any method but GET: 403
  (kube-rbac-proxy maps POST to `create`). A path the port does not serve: 404. No
  `namespace`: 400. A token not granted the namespace (`grants`): 403. Then, as
  prom-label-proxy does: `namespace` is stripped; in `query` every vector and matrix selector
  gets `namespace="<ns>"` (an existing matcher on that label is dropped first); for series
  and label endpoints the matcher is appended to each `match[]` (or is the only one); alerts
  and rules are filtered to those labelled with the namespace. A query this gateway cannot
  rewrite exactly (an `@` modifier, `or` matchers) is a 400, never forwarded unenforced.
- `VictoriaSelect`: vmselect's `/select/<accountID>[:<projectID>]/prometheus` prefix for one
  tenant (any other path 404); each `extra_label=name=value` is enforced the same way;
  `extra_filters[]` are recorded, not applied (Prometheus has no OR of selectors to map them
  onto).
- `MimirGateway`: no `X-Scope-OrgID` is 401 "no org id"; a header naming a tenant it does not
  serve is 401; `a|b` is allowed only when `federation` is on.

Every gateway records what it received in `seen`, for tests to read, except the operator's
reachability probes (`/api/v1/status/buildinfo`), which come on their own schedule.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, ClassVar

import promql_parser as pp

from tests.support import harness

QUERY_PATHS = ("/api/v1/query", "/api/v1/query_range")
SERIES_PATHS = ("/api/v1/series", "/api/v1/labels")


class Unenforceable(ValueError):
    """A query the test gateway cannot rewrite exactly."""


def enforce(query: str, label: str, value: str) -> str:
    """`query` with `label="value"` on every selector, as prom-label-proxy injects it."""

    def rewrite(expr: pp.Expr) -> pp.Expr | None:
        if not isinstance(expr, pp.VectorSelector):
            return None
        if expr.at is not None or expr.matchers.or_matchers:
            raise Unenforceable("@ modifiers and or-matchers are not rewritten here")
        kept = [
            str(pp.Matchers([m])).strip("{}")
            for m in expr.matchers.matchers
            if m.name != label and not (expr.name and m.name == "__name__")
        ]
        text = (expr.name or "") + "{" + ",".join([*kept, f"{label}={json.dumps(value)}"]) + "}"
        if expr.offset:
            text += " offset " + pp.display_duration(expr.offset)
        return pp.parse(text)

    return str(pp.transform(pp.parse(query), pre_visit=rewrite))


class _Gateway(harness.Handler):
    upstream: ClassVar[str] = ""
    seen: ClassVar[list[dict[str, Any]]] = []

    def _record(self) -> tuple[str, list[tuple[str, str]]]:
        path, _, query = self.path.partition("?")
        params = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if path.endswith("/api/v1/status/buildinfo"):
            return path, params
        type(self).seen.append(
            {"method": self.command, "path": path, "params": params, "headers": dict(self.headers)}
        )
        return path, params

    def refuse(self, status: int, text: str) -> None:
        self.reply(text.encode(), "text/plain", status=status)

    def forward(self, path: str, params: list[tuple[str, str]]) -> None:
        url = self.upstream + path + "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                self.reply(answer.read(), status=answer.status)
        except urllib.error.HTTPError as exc:
            self.reply(exc.read(), status=exc.code)

    def do_POST(self) -> None:
        self._record()
        self.refuse(403, "Forbidden (user=..., verb=create, resource=pods, subresource=)")

    def read_form_as_query(self) -> None:
        """For gateways that take forms: the same checks, the body read as a query string."""
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.path += ("&" if "?" in self.path else "?") + body


def _with_matcher(
    path: str, params: list[tuple[str, str]], label: str, value: str
) -> list[tuple[str, str]]:
    """prom-label-proxy's rewrite of one request's parameters."""
    if path in QUERY_PATHS:
        return [(k, enforce(v, label, value) if k == "query" else v) for k, v in params]
    matcher = f"{label}={json.dumps(value)}"
    matches = [v for k, v in params if k == "match[]"]
    rest = [(k, v) for k, v in params if k != "match[]"]
    if not matches:
        return [*rest, ("match[]", "{" + matcher + "}")]
    return rest + [("match[]", enforce(m, label, value)) for m in matches]


class OpenShiftQueryPort(_Gateway):
    grants: ClassVar[dict[str, set[str]]] = {}
    """bearer token -> namespaces whose pods.metrics.k8s.io it may get."""

    def _admitted_request(self) -> tuple[str, str, list[tuple[str, str]]] | None:
        """(path, namespace, the other parameters) of a request the port lets through;
        None once it has answered the refusal itself."""
        path, params = self._record()
        namespace = self._admitted(path, params)
        if namespace is None:
            return None
        return path, namespace, [(k, v) for k, v in params if k != "namespace"]

    def do_GET(self) -> None:
        admitted = self._admitted_request()
        if admitted is None:
            return
        path, namespace, rest = admitted
        try:
            self.forward(path, _with_matcher(path, rest, "namespace", namespace))
        except Unenforceable as exc:
            self.refuse(400, str(exc))

    def served(self, path: str) -> bool:
        return path in (*QUERY_PATHS, *SERIES_PATHS) or (
            path.startswith("/api/v1/label/") and path.endswith("/values")
        )

    def _admitted(self, path: str, params: list[tuple[str, str]]) -> str | None:
        """The namespace to enforce, or None once the refusal is sent."""
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        namespaces = [v for k, v in params if k == "namespace"]
        if not token:
            self.refuse(401, "Unauthorized")
        elif not self.served(path):
            self.refuse(404, "404 page not found")
        elif not namespaces or not namespaces[0]:
            self.refuse(400, 'Bad request. The "namespace" query parameter must be provided.')
        elif namespaces[0] not in self.grants.get(token, set()):
            self.refuse(403, "Forbidden (user=..., verb=get, resource=pods)")
        else:
            return namespaces[0]
        return None


class OpenShiftRulesPort(OpenShiftQueryPort):
    """Serves only rules and alerts, filtered to the namespace."""

    def served(self, path: str) -> bool:
        return path in ("/api/v1/rules", "/api/v1/alerts")

    def do_GET(self) -> None:
        admitted = self._admitted_request()
        if admitted is None:
            return
        path, namespace, rest = admitted
        url = self.upstream + path + "?" + urllib.parse.urlencode(rest)
        with urllib.request.urlopen(url, timeout=10) as answer:
            payload = json.loads(answer.read())
        data = payload["data"]
        if path.endswith("/alerts"):
            data["alerts"] = [a for a in data["alerts"] if _labelled(a, namespace)]
        else:
            for group in data["groups"]:
                group["rules"] = [r for r in group["rules"] if _labelled(r, namespace)]
                for rule in group["rules"]:
                    rule["alerts"] = [a for a in rule.get("alerts", []) if _labelled(a, namespace)]
            data["groups"] = [g for g in data["groups"] if g["rules"]]
        self.reply(json.dumps(payload).encode())


def _labelled(item: dict[str, Any], namespace: str) -> bool:
    return (item.get("labels") or {}).get("namespace") == namespace


class VictoriaSelect(_Gateway):
    tenant: ClassVar[str] = "0"

    def do_GET(self) -> None:
        path, params = self._record()
        prefix = f"/select/{self.tenant}/prometheus"
        if not path.startswith(prefix + "/api/v1/"):
            self.refuse(404, f"unsupported path requested: {path!r}")
            return
        path = path.removeprefix(prefix)
        rest = [(k, v) for k, v in params if k not in ("extra_label", "extra_filters[]")]
        try:
            for extra in (v for k, v in params if k == "extra_label"):
                label, _, value = extra.partition("=")
                rest = _with_matcher(path, rest, label, value)
        except Unenforceable as exc:
            self.refuse(400, str(exc))
            return
        self.forward(path, rest)

    def do_POST(self) -> None:
        self.read_form_as_query()
        self.do_GET()


class MimirGateway(_Gateway):
    tenants: ClassVar[set[str]] = set()
    federation: ClassVar[bool] = False

    def do_GET(self) -> None:
        path, params = self._record()
        org = self.headers.get("X-Scope-OrgID")
        asked = (org or "").split("|")
        if not org:
            self.refuse(401, "no org id")
        elif len(asked) > 1 and not self.federation:
            self.refuse(401, "multiple org IDs present")
        elif not set(asked) <= self.tenants:
            self.refuse(401, "unknown tenant")
        else:
            self.forward(path, params)

    def do_POST(self) -> None:
        self.read_form_as_query()
        self.do_GET()
