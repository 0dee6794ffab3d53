"""Alertmanager's API v2, read-only: alerts, alert groups, silences and status.

The transport is the datasource's pooled client (`prometheus.PrometheusClient`: the same
auth, TLS, headers, timeouts and coalescing as every backend); what differs is the answer.
Alertmanager sends bare JSON and refuses with a JSON string (`"bad matcher format: ..."`)
or go-swagger's `{"code", "message"}`: `decode` turns those into our errors here, once, with
the backend's words JSON-quoted. Nothing here writes: there is no way to create, edit or
expire a silence.

API facts (0.25): `filter` takes one matcher per repeated parameter; `active`, `silenced`
and `inhibited` are include flags, all true by default, so one request sees every alert;
an alert's state is `status.state` (`active`, `suppressed`, `unprocessed`) with
`silencedBy` (silence ids) and `inhibitedBy` (fingerprints of the inhibiting alerts),
recomputed on every request; expired silences stay listed until garbage-collected.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, NotRequired, TypedDict, TypeVar

import yaml

from ..core import errors, hygiene
from ..promql import matchers
from ..sources import datasources
from . import prometheus

Item = TypeVar("Item")


class RawMatcher(TypedDict):
    name: str
    value: str
    isRegex: bool
    isEqual: NotRequired[bool]


class RawStatus(TypedDict):
    state: str
    silencedBy: NotRequired[list[str]]
    inhibitedBy: NotRequired[list[str]]


class RawAlert(TypedDict, total=False):
    labels: dict[str, str]
    annotations: dict[str, str]
    startsAt: str
    endsAt: str
    updatedAt: str
    fingerprint: str
    generatorURL: str
    receivers: list[dict[str, str]]
    status: RawStatus


class RawSilence(TypedDict, total=False):
    id: str
    status: dict[str, str]
    matchers: list[RawMatcher]
    startsAt: str
    endsAt: str
    updatedAt: str
    createdBy: str
    comment: str


class RawGroup(TypedDict, total=False):
    labels: dict[str, str]
    receiver: dict[str, str]
    alerts: list[RawAlert]


def decode(status_code: int, body: bytes) -> prometheus.ApiResult:
    """An Alertmanager answer as `ApiResult.data`, or the error it means."""
    try:
        payload: Any = json.loads(body) if body.strip() else None
    except ValueError:
        payload = _NOT_JSON
    if 200 <= status_code < 300:
        if payload is None:
            raise errors.EmptyResponse(f"the Alertmanager answered HTTP {status_code}, no body")
        if payload is _NOT_JSON:
            raise errors.BadUpstreamResponse(
                f"the backend answered HTTP {status_code} with a body that is not an "
                "Alertmanager API answer; check the datasource URL (the Alertmanager's base URL)"
            )
        return prometheus.ApiResult(data=payload)
    text = _error_text(payload)
    said = f": {hygiene.quoted(text)}" if text else ""
    prometheus.refuse_unreachable_api(
        status_code,
        answered="the Alertmanager",
        not_served="it does not serve Alertmanager's API v2 there; "
        "check that the datasource URL is the Alertmanager's base URL",
    )
    if status_code == 429 or status_code >= 500:
        raise errors.BackendUnavailable(f"the Alertmanager answered HTTP {status_code}{said}")
    raise errors.QueryRejected(
        f"Alertmanager (HTTP {status_code}){said}",
        error_type="bad_data",
        status_code=status_code,
        text=text,
    )


_NOT_JSON = object()


def _error_text(payload: Any) -> str:
    if isinstance(payload, str):
        return payload.strip()
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return str(payload["message"]).strip()
    return ""


@dataclass(frozen=True, slots=True)
class Listing(Generic[Item]):
    """One of Alertmanager's list endpoints, typed by the raw item it lists."""

    path: str


ALERTS: Listing[RawAlert] = Listing("/api/v2/alerts")
"""Every alert Alertmanager holds that matches the matchers, in every state."""
GROUPS: Listing[RawGroup] = Listing("/api/v2/alerts/groups")
"""Alert groups as the routing tree forms them (one per receiver and group key)."""
SILENCES: Listing[RawSilence] = Listing("/api/v2/silences")
"""Every silence, expired ones included (the caller decides which to show)."""


async def listed(
    datasource: datasources.Datasource,
    client: prometheus.PrometheusClient,
    listing: Listing[Item],
    selected: Sequence[matchers.Matcher] = (),
) -> list[Item]:
    """The items of `listing` that match `selected` (Alertmanager applies the filter)."""
    data = await _get(datasource, client, listing.path, selected)
    if not isinstance(data, list):
        raise _not_an_answer(datasource)
    items: list[Any] = [item for item in data if isinstance(item, dict)]  # typed by `listing`
    return items


async def status(
    datasource: datasources.Datasource,
    client: prometheus.PrometheusClient,
    *,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Version, uptime, cluster and the loaded configuration (secrets masked by
    Alertmanager itself); cached briefly, as it changes only on reloads."""
    answer = await _get(datasource, client, "/api/v2/status", (), timeout=timeout, cache=15.0)
    if not isinstance(answer, dict):
        raise _not_an_answer(datasource)
    return answer


async def _get(
    datasource: datasources.Datasource,
    client: prometheus.PrometheusClient,
    path: str,
    selected: Sequence[matchers.Matcher],
    *,
    timeout: float | None = None,
    cache: float = 0.0,
) -> Any:
    params = [("filter", str(m)) for m in selected]
    try:
        answer = await client.get(
            path, params, timeout=timeout, cache_seconds=cache, decoder=decode
        )
    except errors.EndpointNotFound:
        raise errors.Unsupported(
            f"datasource {hygiene.quoted(datasource.id)} does not serve Alertmanager's API v2 "
            "(HTTP 404); check that its URL is the Alertmanager's base URL"
        ) from None
    return answer.data


def _not_an_answer(datasource: datasources.Datasource) -> errors.BadUpstreamResponse:
    return errors.BadUpstreamResponse(
        f"datasource {hygiene.quoted(datasource.id)} answered with JSON that is not an "
        "Alertmanager API v2 answer; check that its URL is the Alertmanager's base URL"
    )


def inhibit_rules(status_data: dict[str, Any]) -> list[Any]:
    """The inhibition rules of the configuration Alertmanager loaded (its status carries
    the YAML); an unreadable one has none we can see."""
    config = status_data.get("config")
    original = config.get("original") if isinstance(config, dict) else None
    try:
        parsed = yaml.safe_load(original) if isinstance(original, str) else None
    except yaml.YAMLError:
        return []
    rules = parsed.get("inhibit_rules") if isinstance(parsed, dict) else None
    return rules if isinstance(rules, list) else []
