"""HTTP client for one Prometheus-compatible API, and the pool that keeps one per datasource.

This is the seam where httpx meets the rest of the code: transport failures and Prometheus
error bodies are translated into `errors` here, once. Nothing raised from this module
carries a URL, a header or a secret: the caller names the datasource.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pydantic

from . import datasources, errors, identity, observability

logger = logging.getLogger(__name__)

Params = Sequence[tuple[str, str]]

_QUERY_PATHS = frozenset({"/api/v1/query", "/api/v1/query_range"})
_FORM_PATHS = _QUERY_PATHS | {"/api/v1/series", "/api/v1/labels"}
MAX_CONCURRENT_PER_DATASOURCE = 32
"""Requests in flight to one backend; the rest wait their turn (within their timeout)."""
_CACHE_LIMIT = 256
_CLIENT_MARGIN_SECONDS = 1.0
"""Client-side deadline = server-side timeout + this, so Prometheus's own message wins."""


@dataclass(frozen=True, slots=True)
class ApiResult:
    """The `data` of a successful answer, with Prometheus's warnings kept for the agent."""

    data: Any
    warnings: tuple[str, ...] = ()


class PrometheusClient:
    """Talks to one datasource; safe for concurrent use; closed by the pool."""

    def __init__(
        self,
        datasource: datasources.Datasource,
        *,
        default_timeout: float,
        max_response_bytes: int,
    ) -> None:
        self.datasource_id = datasource.id
        self.connection = datasource.connection
        self.timeout = self.connection.timeout_seconds or default_timeout
        self._max_bytes = max_response_bytes
        self._base = self.connection.url.rstrip("/")
        self._extra_params = tuple(self.connection.query_parameters)
        server_name = self.connection.tls.server_name
        self._extensions = {"sni_hostname": server_name} if server_name else None
        self._inflight: dict[tuple[object, ...], asyncio.Task[ApiResult]] = {}
        self._gate = asyncio.Semaphore(MAX_CONCURRENT_PER_DATASOURCE)
        self._cache: dict[tuple[object, ...], tuple[float, ApiResult]] = {}
        self._http = httpx.AsyncClient(
            headers={name: value.get_secret_value() for name, value in self.connection.headers},
            auth=_basic_auth(self.connection.basic_auth),
            verify=_ssl_context(self.connection.tls),
            timeout=httpx.Timeout(self.timeout + _CLIENT_MARGIN_SECONDS, connect=10.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(
        self,
        path: str,
        params: Params = (),
        *,
        timeout: float | None = None,
        bearer_token: str | None = None,
        cache_seconds: float = 0.0,
    ) -> ApiResult:
        """Call an API path such as `/api/v1/query`; queries go as POST unless told GET.

        With `cache_seconds`, a successful answer is reused for that long (discovery
        catalogues: metric names and label values change slowly and cost the backend).

        Identical requests already in flight share one upstream request (agents fan out the
        same query), and at most MAX_CONCURRENT_PER_DATASOURCE go to one backend at once, so
        a slow backend queues its own callers instead of starving everyone's connections.
        """
        effective_timeout = min(timeout or self.timeout, self.timeout)
        if bearer_token is None and self.connection.forward_caller_token:
            bearer_token = identity.token.get()
        key = (path, tuple(params), effective_timeout, bearer_token)
        if cache_seconds:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > time.monotonic():
                observability.UPSTREAM_CACHE_HITS.labels(self.datasource_id, path).inc()
                return cached[1]
        shared = self._inflight.get(key)
        if shared is None:
            shared = asyncio.get_running_loop().create_task(
                self._fetch(path, params, effective_timeout, bearer_token),
                name=f"upstream-{self.datasource_id}",
            )
            self._inflight[key] = shared
            shared.add_done_callback(lambda done: self._settle(key, done))
        else:
            observability.UPSTREAM_COALESCED.labels(self.datasource_id, path).inc()
        answer = await asyncio.shield(shared)
        if cache_seconds:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = (time.monotonic() + cache_seconds, answer)
        return answer

    def _settle(self, key: tuple[object, ...], done: asyncio.Task[ApiResult]) -> None:
        self._inflight.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved here: every waiter may have gone away

    async def _fetch(
        self, path: str, params: Params, effective_timeout: float, bearer_token: str | None
    ) -> ApiResult:
        all_params: list[tuple[str, str | int | float | bool | None]] = [
            *params,
            *self._extra_params,
        ]
        if path in _QUERY_PATHS:
            all_params.append(("timeout", _seconds(effective_timeout)))
        method = "POST" if path in _FORM_PATHS and self.connection.http_method == "POST" else "GET"
        request = self._http.build_request(
            method,
            self._base + path,
            params=all_params if method == "GET" else None,
            data=_form(all_params) if method == "POST" else None,
            headers={"Authorization": f"Bearer {bearer_token}"} if bearer_token else None,
            timeout=httpx.Timeout(effective_timeout + _CLIENT_MARGIN_SECONDS, connect=10.0),
            extensions=self._extensions,
        )
        started = time.perf_counter()
        status = "error"
        try:
            try:  # waiting for a turn counts against the caller's timeout too
                async with asyncio.timeout(effective_timeout + _CLIENT_MARGIN_SECONDS):
                    async with self._gate:
                        status_code, body = await self._send(request, effective_timeout)
            except TimeoutError:
                raise _timeout(effective_timeout) from None
            status = str(status_code)
            return _decode(status_code, body, effective_timeout)
        finally:
            observability.UPSTREAM_REQUESTS.labels(self.datasource_id, path, status).inc()
            observability.UPSTREAM_LATENCY.labels(self.datasource_id, path).observe(
                time.perf_counter() - started
            )

    async def _send(self, request: httpx.Request, timeout: float) -> tuple[int, bytes]:
        try:
            async with asyncio.timeout(timeout + _CLIENT_MARGIN_SECONDS):
                response = await self._http.send(request, stream=True)
                try:
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > self._max_bytes:
                        raise self._too_large()
                    chunks = bytearray()
                    async for chunk in response.aiter_bytes():
                        chunks += chunk
                        if len(chunks) > self._max_bytes:
                            raise self._too_large()
                    return response.status_code, bytes(chunks)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise _timeout(timeout) from None
        except httpx.TimeoutException:
            raise _timeout(timeout) from None
        except httpx.ConnectError as exc:
            raise errors.BackendUnavailable(_describe_connect_error(exc)) from None
        except httpx.TransportError as exc:
            raise errors.BackendUnavailable(
                f"the connection to the backend failed ({type(exc).__name__}); retry later"
            ) from None

    def _too_large(self) -> errors.ResponseTooLarge:
        return errors.ResponseTooLarge(
            f"the backend's answer is larger than {_size(self._max_bytes)}; "
            "narrow the query (fewer series with label matchers, a shorter range or a "
            "larger step)"
        )


def _form(params: Sequence[tuple[str, object]]) -> dict[str, list[str]]:
    """httpx form bodies take repeated keys (match[]) as lists."""
    form: dict[str, list[str]] = {}
    for key, value in params:
        form.setdefault(key, []).append(str(value))
    return form


def _seconds(value: float) -> str:
    """Plain decimal seconds: Prometheus rejects fractional durations such as `2.5s`."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _size(count: int) -> str:
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


def _timeout(seconds: float) -> errors.UpstreamTimeout:
    return errors.UpstreamTimeout(
        f"no answer within {seconds:g}s; narrow the query (label matchers, shorter range, "
        "larger step) or pass a larger timeout"
    )


def _describe_connect_error(exc: httpx.ConnectError) -> str:
    text = str(exc).lower()
    if "certificate" in text or "ssl" in text or "tls" in text:
        return (
            "TLS handshake with the backend failed (certificate not trusted or wrong "
            "name); check the datasource's CA / serverName / tlsSkipVerify settings"
        )
    if "name or service not known" in text or "nodename" in text or "getaddrinfo" in text:
        return "the backend's host name does not resolve; check the datasource URL"
    return "the backend refused the connection or is down; retry later"


def _decode(status_code: int, body: bytes, timeout: float) -> ApiResult:
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("status") == "success" and status_code < 300:
        warnings = payload.get("warnings") or ()
        return ApiResult(data=payload.get("data"), warnings=tuple(str(w) for w in warnings))
    if isinstance(payload, dict) and payload.get("status") == "error":
        error_type = str(payload.get("errorType", "unknown"))
        message = str(payload.get("error", "")).strip() or f"HTTP {status_code}"
        if error_type == "timeout":
            raise errors.UpstreamTimeout(f"Prometheus: {message}")
        if error_type == "unavailable" or status_code >= 500:
            raise errors.BackendUnavailable(f"Prometheus ({error_type}): {message}")
        raise errors.QueryRejected(
            f"Prometheus ({error_type}): {message}",
            error_type=error_type,
            status_code=status_code,
        )
    if status_code in (401, 403):
        raise errors.UpstreamUnauthorized(
            f"the backend answered HTTP {status_code}: the datasource's credentials are "
            "missing, wrong or lack permission"
        )
    if status_code == 404:
        raise errors.EndpointNotFound(
            "the backend answered HTTP 404: this API is not served there; check that the "
            "datasource URL is the Prometheus API base (with any sub-path) and that the "
            "backend supports this endpoint"
        )
    if status_code == 429:
        raise errors.BackendUnavailable("the backend is rate limiting (HTTP 429); retry later")
    if status_code >= 500:
        raise errors.BackendUnavailable(f"the backend answered HTTP {status_code}; retry later")
    raise errors.BadUpstreamResponse(
        f"the backend answered HTTP {status_code} with a body that is not a Prometheus API "
        "response; check the datasource URL"
    )


def _basic_auth(basic: datasources.BasicAuth | None) -> httpx.BasicAuth | None:
    if basic is None:
        return None
    return httpx.BasicAuth(basic.username, basic.password.get_secret_value())


def _ssl_context(tls: datasources.TLSSettings) -> ssl.SSLContext | bool:
    """A context only when something differs from the system default (creating one costs).

    `serverName` is applied per request as httpcore's `sni_hostname` extension.
    """
    if replace(tls, server_name=None) == datasources.TLSSettings():
        return True
    if tls.insecure_skip_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif tls.ca_pem is not None:
        context = ssl.create_default_context(cadata=tls.ca_pem.get_secret_value())
    else:
        context = ssl.create_default_context()
    if tls.client_cert_pem is not None and tls.client_key_pem is not None:
        _load_client_pair(context, tls.client_cert_pem.get_secret_value(), tls.client_key_pem)
    return context


def _load_client_pair(context: ssl.SSLContext, cert_pem: str, key_pem: pydantic.SecretStr) -> None:
    """ssl only loads key pairs from files: write them to a private file and remove it at once."""
    with tempfile.TemporaryDirectory(prefix="proms-mcp-tls-") as folder:
        path = os.path.join(folder, "pair.pem")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(cert_pem.strip() + "\n" + key_pem.get_secret_value().strip() + "\n")
        try:
            context.load_cert_chain(path)
        except (ssl.SSLError, ValueError) as exc:
            raise errors.ConfigurationError(
                "the TLS client certificate and key do not form a valid pair"
            ) from exc


class ClientPool:
    """One pooled client per datasource, rebuilt only when its Connection changes.

    A replaced client is closed after a grace period so calls already using it finish.
    """

    def __init__(self, *, default_timeout: float, max_response_bytes: int) -> None:
        self._default_timeout = default_timeout
        self._max_bytes = max_response_bytes
        self._clients: dict[datasources.DatasourceId, PrometheusClient] = {}
        self._retiring: dict[asyncio.Task[None], PrometheusClient] = {}

    def client_for(self, datasource: datasources.Datasource) -> PrometheusClient:
        client = self._clients.get(datasource.id)
        if client is not None and client.connection == datasource.connection:
            return client
        fresh = PrometheusClient(
            datasource, default_timeout=self._default_timeout, max_response_bytes=self._max_bytes
        )
        self._clients[datasource.id] = fresh
        if client is not None:
            self._retire(client)
        return fresh

    def prune(self, live: Mapping[datasources.DatasourceId, datasources.Datasource]) -> None:
        """Drop clients of datasources that are gone or changed (called on each new snapshot)."""
        for datasource_id, client in list(self._clients.items()):
            current = live.get(datasource_id)
            if current is None or current.connection != client.connection:
                del self._clients[datasource_id]
                self._retire(client)

    def _retire(self, client: PrometheusClient) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (shutdown or a reload thread): the client is garbage-collected
        task = loop.create_task(self._close_later(client), name=f"retire-{client.datasource_id}")
        self._retiring[task] = client
        task.add_done_callback(lambda done: self._retiring.pop(done, None))

    async def _close_later(self, client: PrometheusClient) -> None:
        await asyncio.sleep(client.timeout + _CLIENT_MARGIN_SECONDS)
        await client.aclose()

    async def aclose(self) -> None:
        clients = list(self._clients.values()) + list(self._retiring.values())
        for task in list(self._retiring):
            task.cancel()
        self._clients.clear()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.aclose()
