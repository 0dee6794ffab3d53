"""HTTP client for one Prometheus-compatible API (or Alertmanager's API v2, whose answers
`alertmanager` decodes).

This is the seam where the HTTP client (aiohttp) meets the rest of the code: transport
failures and Prometheus error bodies are translated into `errors` here, once: a parse error
in PromQL the agent wrote becomes `InvalidQuery` with Prometheus's line and column
(`promql_errors`), any other refusal `QueryRejected`. Nothing raised from this module carries
a URL, a header or a secret: the caller names the datasource.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import socket
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
from aiohttp import abc

from ..auth import identity
from ..core import caching, errors, hygiene, observability, raw
from ..promql import syntax_errors
from ..sources import datasources
from . import connections, destinations, tenancy

logger = logging.getLogger(__name__)

Params = Sequence[tuple[str, str]]

_QUERY_PATHS = frozenset({"/api/v1/query", "/api/v1/query_range"})
_FORM_PATHS = _QUERY_PATHS | {"/api/v1/series", "/api/v1/labels", "/api/v1/format_query"}
MAX_CONCURRENT_PER_DATASOURCE = 32
"""Requests in flight to one backend; the rest wait their turn (within their timeout)."""
_CACHE_LIMIT = 256
CLIENT_MARGIN_SECONDS = 1.0
"""Client-side deadline = server-side timeout + this, so Prometheus's own message wins."""


@dataclass(frozen=True, slots=True)
class ApiResult:
    """The `data` of a successful answer, with Prometheus's warnings kept for the agent."""

    data: raw.Json
    """Read it as the shape Prometheus documents for the API with `raw.fields` or
    `raw.objects`: this is where untyped JSON ends."""
    warnings: tuple[str, ...] = ()


Decoder = Callable[[int, bytes], ApiResult]
"""How an API other than Prometheus's turns a status and body into an answer or our error
(`alertmanager.decode`); without one, Prometheus's `{"status": ..., "data": ...}` envelope."""


class PrometheusClient:
    """Talks to one datasource; safe for concurrent use; closed by the pool.

    aiohttp rather than httpx: on this hot path httpx (httpcore over anyio) cost 2.8 M
    instructions per request against aiohttp's 0.8 M, a quarter of a whole tool call.
    """

    def __init__(
        self,
        datasource: datasources.Datasource,
        *,
        default_timeout: float,
        max_response_bytes: int,
        dns: abc.AbstractResolver | None = None,
        sessions: connections.Sessions | None = None,
    ) -> None:
        """`sessions`: the pools shared per origin (the ClientPool's); without, this client
        has pools of its own. `dns` replaces the system's resolver of its own pools."""
        self.datasource_id = datasource.id
        self.connection = datasource.connection
        self.timeout = self.connection.timeout_seconds or default_timeout
        self._max_bytes = max_response_bytes
        self._base = self.connection.url.rstrip("/")
        self._extra_params = tuple(self.connection.query_parameters)
        self._gate = asyncio.Semaphore(MAX_CONCURRENT_PER_DATASOURCE)
        self._answers: caching.Cache[tuple[object, ...], ApiResult] = caching.Cache(
            limit=_CACHE_LIMIT
        )
        self._headers = _static_headers(self.connection)
        self._policy = self.connection.egress_policy
        self._refused = self._policy is not None and (
            destinations.literal_refusal(self._policy, self._base, self.datasource_id) is not None
        )
        self._own_sessions = sessions is None
        self._sessions = sessions or connections.Sessions(dns=dns)
        self.origin = connections.Origin.of(self.connection)
        self._closed = False
        self.flavour: object | None = None
        """What `backends.flavour` detected, kept for as long as this connection lives."""

    @property
    def is_closed(self) -> bool:
        return self._closed

    def _session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise errors.BackendUnavailable("the datasource changed; retry")
        return self._sessions.session(self.origin)

    async def aclose(self) -> None:
        self._closed = True
        if self._own_sessions:  # shared pools are the ClientPool's to close
            await self._sessions.aclose()

    async def get(
        self,
        path: str,
        params: Params = (),
        *,
        timeout: float | None = None,
        bearer_token: str | None = None,
        cache_seconds: float = 0.0,
        refresh: bool = False,
        agent_promql: bool = False,
        decoder: Decoder | None = None,
    ) -> ApiResult:
        """Call an API path such as `/api/v1/query`; queries go as POST unless told GET.

        With `cache_seconds`, a successful answer is reused for that long (discovery
        catalogues: metric names and label values change slowly and cost the backend);
        `refresh` skips a cached answer but caches the new one (to confirm what a cached
        answer says is missing, and to keep later readers from repeating it).

        With `agent_promql`, the request carries PromQL exactly as the agent wrote it, so a
        parse error Prometheus reports is the agent's to fix, at the position it names
        (`InvalidQuery`); without it (PromQL we built or wrapped) it stays `QueryRejected`.

        Identical requests already in flight share one upstream request (agents fan out the
        same query), and at most MAX_CONCURRENT_PER_DATASOURCE go to one backend at once, so
        a slow backend queues its own callers instead of starving everyone's connections.
        """
        effective_timeout = min(timeout or self.timeout, self.timeout)
        if bearer_token is None and self.connection.forward_caller_token:
            bearer_token = identity.token.get()
        shaped = tenancy.shape(self.connection.tenancy, self._base, path, self.datasource_id)
        key = (path, tuple(params), effective_timeout, bearer_token, decoder, shaped)
        if cache_seconds and not refresh:
            cached = self._answers.fresh(key)
            if cached is not None:
                observability.UPSTREAM_CACHE_HITS.labels(self.datasource_id, path).inc()
                return cached
        try:
            answer = await self._answers.share(
                key,
                lambda: self._fetch(path, params, effective_timeout, bearer_token, decoder, shaped),
                name=f"upstream-{self.datasource_id}",
                joined=lambda: self._coalesced(path),
            )
        except errors.QueryRejected as exc:
            invalid = syntax_errors.from_prometheus(exc.text) if agent_promql else None
            if invalid is None:
                raise
            raise invalid from None
        self._answers.keep(key, answer, cache_seconds)
        return answer

    def _coalesced(self, path: str) -> None:
        observability.UPSTREAM_COALESCED.labels(self.datasource_id, path).inc()

    async def _fetch(
        self,
        path: str,
        params: Params,
        effective_timeout: float,
        bearer_token: str | None,
        decoder: Decoder | None,
        shaped: tenancy.Shaped,
    ) -> ApiResult:
        all_params: list[tuple[str, str | int | float | bool | None]] = [
            *params,
            *self._extra_params,
            *shaped.params,
        ]
        if path in _QUERY_PATHS:
            all_params.append(("timeout", _seconds(effective_timeout)))
        posts = path in _FORM_PATHS and self.connection.http_method == "POST"
        method = "POST" if posts and not shaped.get_only else "GET"
        url = shaped.base + path
        headers: dict[str, str] = dict(shaped.headers)
        if method == "POST":
            body: bytes | None = urllib.parse.urlencode(all_params).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            body = None
            if all_params:
                url += "?" + urllib.parse.urlencode(all_params)
        if bearer_token and self.connection.basic_auth is None:  # basic auth wins, as before
            headers["Authorization"] = f"Bearer {bearer_token}"
        started = time.perf_counter()
        status = "error"
        try:
            try:  # waiting for a turn counts against the caller's timeout too
                async with asyncio.timeout(effective_timeout + CLIENT_MARGIN_SECONDS):
                    async with self._gate:
                        status_code, answer = await self._send(method, url, body, headers)
            except TimeoutError:
                raise _timeout(effective_timeout) from None
            status = str(status_code)
            return (decoder or _decode)(status_code, answer)
        finally:
            observability.UPSTREAM_REQUESTS.labels(self.datasource_id, path, status).inc()
            observability.UPSTREAM_LATENCY.labels(self.datasource_id, path).observe(
                time.perf_counter() - started
            )

    async def _send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """One exchange; the caller's `asyncio.timeout` bounds it (and the wait for a turn)."""
        if self._refused:
            raise destinations.not_allowed()
        try:
            async with self._session().request(
                method,
                url,
                data=body,
                headers={**self._headers, **headers},
                allow_redirects=False,
                server_hostname=self.connection.tls.server_name,
            ) as response:
                declared = response.content_length
                if declared is not None and declared > self._max_bytes:
                    raise self._too_large()
                chunks = bytearray()
                async for chunk in response.content.iter_any():
                    chunks += chunk
                    if len(chunks) > self._max_bytes:
                        raise self._too_large()
                return response.status, bytes(chunks)
        except aiohttp.ClientConnectorError as exc:
            if destinations.refused(exc):
                raise destinations.not_allowed() from None
            raise errors.BackendUnavailable(_describe_connect_error(exc)) from None
        except aiohttp.ClientError as exc:
            raise errors.BackendUnavailable(
                f"the connection to the backend failed ({type(exc).__name__}); retry later"
            ) from None

    def _too_large(self) -> errors.ResponseTooLarge:
        return errors.ResponseTooLarge(
            f"the backend's answer is larger than {_size(self._max_bytes)}; "
            "narrow the query (fewer series with label matchers, a shorter range or a "
            "larger step)"
        )


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


def _describe_connect_error(exc: aiohttp.ClientConnectorError) -> str:
    if isinstance(exc, aiohttp.ClientSSLError):
        return (
            "TLS handshake with the backend failed (certificate not trusted or wrong "
            "name); check the datasource's CA / serverName / tlsSkipVerify settings"
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(
        exc.os_error, socket.gaierror
    ):
        return "the backend's host name does not resolve; check the datasource URL"
    return "the backend refused the connection or is down; retry later"


_ERROR_TYPE = re.compile(r"[a-z_]{1,32}")


def refuse_unreachable_api(status_code: int, *, answered: str, not_served: str) -> None:
    """What HTTP 401, 403 and 404 mean from any backend we read: the datasource's
    credentials, or a URL that is not the API's base (`not_served` says which base)."""
    if status_code in (401, 403):
        raise errors.UpstreamUnauthorized(
            f"{answered} answered HTTP {status_code}: the datasource's credentials are "
            "missing, wrong or lack permission"
        )
    if status_code == 404:
        raise errors.EndpointNotFound(f"the backend answered HTTP 404: {not_served}")


def _decode(status_code: int, body: bytes) -> ApiResult:
    try:
        payload: raw.Json = json.loads(body) if body else None
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("status") == "success" and status_code < 300:
        warnings = payload.get("warnings")
        shown = tuple(str(w) for w in warnings) if isinstance(warnings, list) else ()
        return ApiResult(data=payload.get("data"), warnings=shown)
    if isinstance(payload, dict) and payload.get("status") == "error":
        error_type = str(payload.get("errorType", "unknown"))
        if not _ERROR_TYPE.fullmatch(error_type):
            error_type = "unknown"  # a word we print bare, so it must be one
        backend_text = str(payload.get("error", "")).strip()
        message = hygiene.quoted(backend_text) if backend_text else f"HTTP {status_code}"
        if error_type == "timeout":
            raise errors.UpstreamTimeout(f"Prometheus: {message}")
        if error_type == "unavailable" or status_code >= 500:
            raise errors.BackendUnavailable(f"Prometheus ({error_type}): {message}")
        raise errors.QueryRejected(
            f"Prometheus ({error_type}): {message}",
            error_type=error_type,
            status_code=status_code,
            text=backend_text,
        )
    refuse_unreachable_api(
        status_code,
        answered="the backend",
        not_served="this API is not served there; check that the datasource URL is the "
        "Prometheus API base (with any sub-path) and that the backend supports this endpoint",
    )
    if status_code < 300 and not body.strip():
        raise errors.EmptyResponse(
            f"the backend answered HTTP {status_code} with an empty body instead of a "
            "Prometheus API response; check the datasource URL"
        )
    if status_code == 429:
        raise errors.BackendUnavailable("the backend is rate limiting (HTTP 429); retry later")
    if status_code >= 500:
        raise errors.BackendUnavailable(f"the backend answered HTTP {status_code}; retry later")
    raise errors.BadUpstreamResponse(
        f"the backend answered HTTP {status_code} with a body that is not a Prometheus API "
        "response; check the datasource URL"
    )


def _static_headers(connection: datasources.Connection) -> dict[str, str]:
    """Configured headers and basic auth, sent with every request."""
    headers = {name: value.get_secret_value() for name, value in connection.headers}
    basic = connection.basic_auth
    if basic is not None:
        pair = f"{basic.username}:{basic.password.get_secret_value()}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    return headers
