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
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import yaml

if TYPE_CHECKING:
    from kubernetes_asyncio.client import Configuration

logger = logging.getLogger(__name__)

_IN_CLUSTER_TOKEN = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


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
    def __init__(self, configuration: Configuration, *, origin: str = "the configuration") -> None:
        self._credentials = _Credentials(configuration)
        self.server = str(configuration.host).rstrip("/")
        self.origin = origin
        """Where the address and credentials came from, for messages (a setting and a path)."""
        verify = _verification(configuration, origin)
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
        """In-cluster config, else KUBECONFIG; `api_url`/`ca_cert_path` override location.

        An unusable configuration (a missing or malformed kubeconfig, a certificate file that
        cannot be read) raises ApiError naming the setting and the file.
        """
        # Imported on first use: the client package costs about 65 MB of memory and seconds
        # of start-up, and a server without AUTH_MODE=active or the operator never needs it.
        try:
            from kubernetes_asyncio import config as kube_config
            from kubernetes_asyncio.client import Configuration
        except ImportError as exc:  # a broken install: a clear start-up error, not a crash
            raise ApiError(0, f"the Kubernetes client cannot be imported: {exc}") from None

        configuration = Configuration()
        origin = _origin(kubeconfig)
        try:
            if in_cluster():
                kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
            else:
                _check_kubeconfig(kubeconfig)
                await kube_config.load_kube_config(
                    config_file=str(kubeconfig) if kubeconfig else None,
                    client_configuration=configuration,
                )
        except (kube_config.ConfigException, OSError, ValueError) as exc:
            raise ApiError(0, f"{origin}: {_configuration_problem(exc)}") from None
        if api_url:
            configuration.host = api_url
            origin = f"OPENSHIFT_API_URL, credentials from {origin}"
        if ca_cert_path is not None:
            try:
                ssl.create_default_context(cafile=str(ca_cert_path))
            except OSError as exc:  # ssl.SSLError included
                problem = _file_problem(exc)
                raise ApiError(0, f"OPENSHIFT_CA_CERT_PATH {ca_cert_path}: {problem}") from None
            configuration.ssl_ca_cert = str(ca_cert_path)
        return cls(configuration, origin=origin)

    async def check_reachable(self) -> None:
        """Raise ApiError unless the API server answers at all (any HTTP status will do).

        For start-up: a wrong address, DNS name or CA is then one clear line naming where
        the address came from, instead of a server that stays unready while it retries.
        """
        try:
            await self._http.get("/version")
        except httpx.HTTPError as exc:
            cause = _transport_problem(exc, httpx.URL(self.server).host)
            raise ApiError(
                0, f"cannot reach the Kubernetes API at {self.server} (from {self.origin}): {cause}"
            ) from None

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


def _origin(kubeconfig: pathlib.Path | None) -> str:
    if in_cluster():
        return "the in-cluster service account"
    if kubeconfig is not None:
        return f"KUBECONFIG {kubeconfig}"
    return f"KUBECONFIG (unset, so {_DEFAULT_KUBECONFIG})"


_DEFAULT_KUBECONFIG = "~/.kube/config"


def _check_kubeconfig(kubeconfig: pathlib.Path | None) -> None:
    """kubernetes-asyncio crashes (TypeError, YAML errors) on an empty or malformed file."""
    path = kubeconfig or pathlib.Path(_DEFAULT_KUBECONFIG).expanduser()
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValueError(f"not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise ValueError("not a kubeconfig (empty, or not a YAML mapping)")


def _configuration_problem(exc: Exception) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError):
        name = f"{exc.filename}: " if exc.filename else ""
        return name + _file_problem(exc)
    text = str(exc)
    if text.startswith("File does not exist"):  # kubernetes-asyncio's words for a missing file
        return f"{text.partition(':')[2].strip()}: no such file"
    return text


def _file_problem(exc: OSError) -> str:
    """A certificate or configuration file that could not be used, in words."""
    if isinstance(exc, ssl.SSLError):
        if exc.reason == "NO_CERTIFICATE_OR_CRL_FOUND":
            return "not a PEM certificate"
        if exc.reason == "KEY_VALUES_MISMATCH":
            return "the key does not belong to the certificate"
        return f"not a usable certificate or key ({exc.reason or exc})"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return (exc.strerror or str(exc)).lower()


def _verification(configuration: Configuration, origin: str) -> ssl.SSLContext | bool:
    """httpx's `verify`: the configured CA (and client certificate) as an SSL context."""
    if not configuration.verify_ssl:
        return False
    if not configuration.ssl_ca_cert:
        return True
    try:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    except OSError as exc:
        problem = _file_problem(exc)
        raise ApiError(
            0, f"{origin}: certificate authority {configuration.ssl_ca_cert}: {problem}"
        ) from None
    if configuration.cert_file:
        try:
            context.load_cert_chain(configuration.cert_file, configuration.key_file)
        except OSError as exc:
            problem = _file_problem(exc)
            raise ApiError(
                0, f"{origin}: client certificate {configuration.cert_file}: {problem}"
            ) from None
    return context


def _transport_problem(exc: httpx.HTTPError, host: str) -> str:
    """Why no HTTP answer came: refused, DNS, TLS, timeout (never an HTTP status)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "connecting timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    link: BaseException | None = exc
    while link is not None:
        if isinstance(link, ssl.SSLCertVerificationError):
            return f"TLS: the server's certificate is not trusted ({link.verify_message})"
        if isinstance(link, ssl.SSLError):
            return f"TLS handshake failed ({link.reason or link})"
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
