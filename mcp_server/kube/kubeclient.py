"""Plain requests to the Kubernetes API: reviews, reads, status patches, events, Leases.

Used by authentication (TokenReview, SubjectAccessReview) and by the operator (kopf does the
watching; what the controller reads on demand or writes goes through here). Where the API is
and the credentials come from `kubeconfig` (in-cluster, or KUBECONFIG);
OPENSHIFT_API_URL / OPENSHIFT_CA_CERT_PATH override the location. Failures become `ApiError`
once, here.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import pathlib
import secrets
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from . import kubeconfig

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """The Kubernetes API could not be used. `status` is its HTTP answer, 0 when there was
    none (unreachable, or an unusable client configuration): the message then says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Kubernetes API answered {status}: {message}" if status else message)
        self.status = status


def object_key(body: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of a Kubernetes object body."""
    metadata = body.get("metadata") or {}
    return str(metadata.get("namespace")), str(metadata.get("name"))


def lease_path(namespace: str, name: str | None = None) -> str:
    path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{path}/{name}" if name is not None else path


def in_cluster() -> bool:
    return kubeconfig.in_cluster()


def configured(kubeconfig_path: pathlib.Path | None) -> bool:
    """Is there a Kubernetes API to talk to (decides PROMS_MCP_MODE=auto)?"""
    return in_cluster() or (kubeconfig_path is not None and kubeconfig_path.exists())


class _BearerAuth(httpx.Auth):
    def __init__(self, tokens: kubeconfig.Tokens) -> None:
        self._tokens = tokens

    async def async_auth_flow(self, request: httpx.Request) -> Any:
        token = await self._tokens.token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


class KubeApi:
    def __init__(self, config: kubeconfig.ClientConfig) -> None:
        """Raises ApiError when a certificate or key of `config` is not one."""
        try:
            verify = config.ssl_context()
        except kubeconfig.Unusable as exc:
            raise ApiError(0, str(exc)) from None
        self.config = config
        self.server = config.server.rstrip("/")
        self.origin = config.origin
        """Where the address and credentials came from, for messages (a setting and a path)."""
        self._extensions = {"sni_hostname": config.server_name} if config.server_name else {}
        self._http = httpx.AsyncClient(
            base_url=self.server,
            auth=_BearerAuth(config.tokens) if config.tokens is not None else None,
            verify=verify,
            timeout=httpx.Timeout(30.0, connect=10.0),
            trust_env=False,
            headers={"User-Agent": "proms-mcp"},
        )

    @classmethod
    def connect(
        cls,
        kubeconfig_path: pathlib.Path | None,
        *,
        api_url: str | None = None,
        ca_cert_path: pathlib.Path | None = None,
    ) -> KubeApi:
        """In-cluster config, else KUBECONFIG; `api_url`/`ca_cert_path` override location.

        An unusable configuration (a missing or malformed kubeconfig, a certificate file that
        cannot be read) raises ApiError naming the setting and the file.
        """
        try:
            config = kubeconfig.load(kubeconfig_path)
            if api_url:
                origin = f"OPENSHIFT_API_URL, credentials from {config.origin}"
                config = replace(config, server=api_url, origin=origin)
            if ca_cert_path is not None:
                ca = kubeconfig.read_pem(ca_cert_path, f"OPENSHIFT_CA_CERT_PATH {ca_cert_path}")
                config = replace(config, ca=ca)
        except kubeconfig.Unusable as exc:
            raise ApiError(0, str(exc)) from None
        return cls(config)

    async def check_reachable(self) -> None:
        """Raise ApiError unless the API server answers at all (any HTTP status will do).

        For start-up: a wrong address, DNS name or CA is then one clear line naming where
        the address came from, instead of a server that stays unready while it retries.
        """
        try:
            await self._http.get("/version", extensions=self._extensions)
        except (httpx.HTTPError, OSError) as exc:  # OSError: see _transport_problem
            cause = _transport_problem(exc, httpx.URL(self.server).host)
            raise ApiError(
                0, f"cannot reach the Kubernetes API at {self.server} (from {self.origin}): {cause}"
            ) from None
        except kubeconfig.Unusable as exc:  # the credentials (an exec plugin that failed)
            raise ApiError(0, str(exc)) from None

    async def wait_reachable(
        self, report: Callable[[str], None], *, retry_seconds: float = 2.0
    ) -> None:
        """Return once the API answers; until then `report` each failure (address, cause)."""
        while True:
            try:
                await self.check_reachable()
                return
            except ApiError as exc:
                report(str(exc))
            await asyncio.sleep(retry_seconds)

    async def token(self) -> str | None:
        return await self.config.tokens.token() if self.config.tokens is not None else None

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return _checked(await self._request("POST", path, json=body))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, path: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        response = await self._request("GET", path)
        if response.status_code == 404:
            return None
        return _checked(response)

    async def list(self, path: str, *, label_selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        body = _checked(await self._request("GET", path, params=params))
        items = body.get("items") or []
        return [item for item in items if isinstance(item, dict)]

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        response = await self._request(
            "PATCH",
            path,
            json=patch,
            headers={"Content-Type": "application/merge-patch+json"},
        )
        return _checked(response)

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A coordination.k8s.io/v1 Lease, or None when there is none."""
        return await self.get(lease_path(namespace, name))

    async def create_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        """Raises ApiError(409) when another replica created it first."""
        return await self.post(lease_path(namespace), lease)

    async def update_lease(
        self, namespace: str, name: str, lease: dict[str, Any]
    ) -> dict[str, Any]:
        """A full replacement (PUT) that must carry the `metadata.resourceVersion` it was read
        at: ApiError(409) when the Lease changed since, so two replicas never both take it."""
        if not (lease.get("metadata") or {}).get("resourceVersion"):
            raise ValueError("a Lease update must carry the resourceVersion it was read at")
        return _checked(await self._request("PUT", lease_path(namespace, name), json=lease))

    async def post_event(
        self, involved: dict[str, Any], *, kind: str, reason: str, message: str, warning: bool
    ) -> None:
        """A core/v1 Event; a unique name is made here (not every API emulates generateName)."""
        metadata = involved.get("metadata", {})
        namespace = metadata.get("namespace", "default")
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{metadata.get('name', 'object')}.{secrets.token_hex(8)}",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": kind,
                "name": metadata.get("name"),
                "namespace": namespace,
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": "proms-mcp"},
            "reportingComponent": "proms-mcp",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        _checked(await self._request("POST", f"/api/v1/namespaces/{namespace}/events", json=event))

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, extensions=self._extensions, **kwargs)
        except kubeconfig.Unusable as exc:  # the credentials (an exec plugin that failed)
            raise ApiError(0, str(exc)) from None
        except (httpx.HTTPError, OSError) as exc:  # OSError: see _transport_problem
            cause = _transport_problem(exc, httpx.URL(self.server).host)
            raise ApiError(
                0, f"cannot reach the Kubernetes API at {self.server}: {cause}"
            ) from None


def _checked(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        message = ""
        try:
            message = str(response.json().get("message", ""))
        except ValueError:
            message = response.reason_phrase
        raise ApiError(response.status_code, message or response.reason_phrase)
    body = response.json()
    return body if isinstance(body, dict) else {}


# --- what went wrong, in words -------------------------------------------------------------


def _transport_problem(exc: httpx.HTTPError | OSError, host: str) -> str:
    """Why no HTTP answer came: refused, DNS, TLS, timeout (never an HTTP status).

    httpcore maps errors while connecting, not all of them while reading: a TLS 1.3 server
    that wants a client certificate says so in an alert after the handshake, which reaches
    us as a bare ssl.SSLError.
    """
    if isinstance(exc, httpx.ConnectTimeout):
        return "connecting timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    link: BaseException | None = exc
    while link is not None:
        if isinstance(link, ssl.SSLCertVerificationError):
            return f"TLS: the server's certificate is not trusted ({link.verify_message})"
        if isinstance(link, ssl.SSLError):
            reason = str(link.reason or link)
            if "CERTIFICATE_REQUIRED" in reason:
                return "TLS: the server wants a client certificate and got none"
            if ("ALERT" in reason and "CERTIFICATE" in reason) or "UNKNOWN_CA" in reason:
                return f"TLS: the server refused our client certificate ({reason})"
            return f"TLS handshake failed ({reason})"
        if isinstance(link, socket.gaierror):
            return f"DNS: {host} does not resolve ({link.strerror})"
        if isinstance(link, ConnectionRefusedError):
            return "connection refused"
        if isinstance(link, ConnectionResetError):
            return "the connection was reset"
        link = link.__cause__ or link.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke the HTTP exchange ({exc})"
    return str(exc) or type(exc).__name__
