"""Plain requests to the Kubernetes API: reviews, reads, status patches, events.

Used by authentication (TokenReview, SubjectAccessReview) and by the operator (kopf does the
watching; what the controller reads on demand or writes goes through here). Credentials come
from in-cluster config or KUBECONFIG, loaded by kubernetes-asyncio, which also refreshes
rotating ServiceAccount tokens; OPENSHIFT_API_URL / OPENSHIFT_CA_CERT_PATH override the
location. Failures become `ApiError` once, here.
"""

from __future__ import annotations

import datetime
import inspect
import logging
import os
import pathlib
import secrets
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from kubernetes_asyncio.client import Configuration

logger = logging.getLogger(__name__)

_IN_CLUSTER_TOKEN = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Kubernetes API answered {status}: {message}")
        self.status = status


def object_key(body: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of a Kubernetes object body."""
    metadata = body.get("metadata") or {}
    return str(metadata.get("namespace")), str(metadata.get("name"))


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and _IN_CLUSTER_TOKEN.exists()


def configured(kubeconfig: pathlib.Path | None) -> bool:
    """Is there a Kubernetes API to talk to (decides PROMS_MCP_MODE=auto)?"""
    return in_cluster() or (kubeconfig is not None and kubeconfig.exists())


@dataclass(frozen=True, slots=True)
class _Credentials:
    configuration: Configuration

    async def token(self) -> str | None:
        hook: Any = self.configuration.refresh_api_key_hook
        if hook is not None:
            refreshed = hook(self.configuration)
            if inspect.isawaitable(refreshed):
                await refreshed
        value = self.configuration.api_key.get("BearerToken")
        return str(value).removeprefix("Bearer ").strip() if value else None


class _BearerAuth(httpx.Auth):
    def __init__(self, credentials: _Credentials) -> None:
        self._credentials = credentials

    async def async_auth_flow(self, request: httpx.Request) -> Any:
        token = await self._credentials.token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


class KubeApi:
    def __init__(self, configuration: Configuration) -> None:
        self._credentials = _Credentials(configuration)
        self.server = str(configuration.host).rstrip("/")
        verify: ssl.SSLContext | bool = bool(configuration.verify_ssl)
        if configuration.verify_ssl and configuration.ssl_ca_cert:
            verify = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if isinstance(verify, ssl.SSLContext) and configuration.cert_file:
            verify.load_cert_chain(configuration.cert_file, configuration.key_file)
        self._configuration = configuration
        self._http = httpx.AsyncClient(
            base_url=self.server,
            auth=_BearerAuth(self._credentials),
            verify=verify,
            timeout=httpx.Timeout(30.0, connect=10.0),
            trust_env=False,
            headers={"User-Agent": "proms-mcp"},
        )

    @classmethod
    async def connect(
        cls,
        kubeconfig: pathlib.Path | None,
        *,
        api_url: str | None = None,
        ca_cert_path: pathlib.Path | None = None,
    ) -> KubeApi:
        """In-cluster config, else KUBECONFIG; `api_url`/`ca_cert_path` override location."""
        # Imported on first use: the client package costs about 65 MB of memory and seconds
        # of start-up, and a server without AUTH_MODE=active or the operator never needs it.
        try:
            from kubernetes_asyncio import config as kube_config
            from kubernetes_asyncio.client import Configuration
        except ImportError as exc:  # a broken install: a clear start-up error, not a crash
            raise ApiError(0, f"the Kubernetes client cannot be imported: {exc}") from None

        configuration = Configuration()
        try:
            if in_cluster():
                kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
            else:
                await kube_config.load_kube_config(
                    config_file=str(kubeconfig) if kubeconfig else None,
                    client_configuration=configuration,
                )
            if api_url:
                configuration.host = api_url
            if ca_cert_path is not None:
                configuration.ssl_ca_cert = str(ca_cert_path)
            return cls(configuration)
        except (kube_config.ConfigException, OSError, ValueError, ssl.SSLError) as exc:
            raise ApiError(0, f"unusable Kubernetes client configuration: {exc}") from None

    @property
    def configuration(self) -> Configuration:
        return self._configuration

    async def token(self) -> str | None:
        return await self._credentials.token()

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
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"{type(exc).__name__} reaching the Kubernetes API") from None


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
