"""Output models of the inspection tools (the output schemas agents see), and their
conversion from the backend's JSON.

Times are RFC 3339 as the backend wrote them (fractions of a second kept), durations
seconds as measured or Prometheus durations (`5m`);
optional fields left empty are dropped from the answer. Every backend string is cleaned,
and URLs (target addresses, errors quoting them) lose their credentials: userinfo, and the
values of query parameters whose names look secret (token, password, key, auth, ...).
"""

from __future__ import annotations

import collections
import json
import math
import re
import urllib.parse
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..core import hygiene, timespec
from . import models


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Alert(_Result):
    name: str = Field(description="alertname")
    state: str = Field(description="firing or pending")
    labels: dict[str, str] | None = Field(None, description="labels except alertname")
    annotations: dict[str, str] | None = None
    active_at: str | None = Field(None, description="when it became pending")
    value: models.Number | None = Field(None, description="the rule expression's value")
    group: str | None = Field(None, description="its rule's group; the rule is in `rules`")


class AlertRule(_Result):
    group: str
    name: str
    query: str
    for_duration: str | None = Field(None, description="how long it pends before firing")


class AlertList(_Result):
    datasource: str
    alerts: list[Alert] = Field(description="firing first, then pending")
    rules: list[AlertRule] | None = Field(None, description="the rules of these alerts, once")
    total: int = Field(description="alerts matching the state filter")
    by_state: dict[str, int] = Field(description="all alerts per state, before filtering")
    truncated: models.Truncation | None = None
    note: str | None = None
    hint: str | None = None


class Rule(_Result):
    name: str
    type: str = Field(description="alert or record")
    group: str
    query: str
    health: str = Field(description="ok, err or unknown")
    last_error: str | None = None
    last_evaluation: str | None = None
    evaluation_seconds: float | None = None
    state: str | None = Field(None, description="alerts: firing, pending or inactive")
    firing: int | None = Field(None, description="alerts firing now (omitted when 0)")
    pending: int | None = Field(None, description="alerts pending now (omitted when 0)")
    for_duration: str | None = None


class RuleGroup(_Result):
    name: str
    file: str | None = None
    interval_seconds: float | None = None


class RuleList(_Result):
    datasource: str
    rules: list[Rule] = Field(description="failing (health err) first, then backend order")
    groups: list[RuleGroup] = Field(description="the groups of these rules")
    total: int = Field(description="rules matching the filters")
    by_health: dict[str, int] = Field(description="matching rules per health")
    truncated: models.Truncation | None = None
    hint: str | None = None


class Target(_Result):
    job: str
    instance: str
    health: str = Field(description="up, down or unknown")
    scrape_url: str = Field(description="credentials replaced by REDACTED")
    last_error: str | None = None
    last_scrape: str | None = None
    last_scrape_seconds: float | None = Field(None, description="duration of the last scrape")


class TargetList(_Result):
    datasource: str
    targets: list[Target] = Field(description="down first, then by job and instance")
    total: int = Field(description="targets matching the filters")
    by_health: dict[str, int] = Field(description="targets of the job filter per health")
    dropped: int | None = Field(None, description="discovered targets that relabelling dropped")
    truncated: models.Truncation | None = None
    note: str | None = None
    hint: str | None = None


class SeriesList(_Result):
    datasource: str
    match: str
    start: str
    end: str
    series: list[dict[str, str]] = Field(description="label sets, sorted")
    total: int
    truncated: models.Truncation | None = None
    hint: str | None = None


class HeadStats(_Result):
    series: int | None = None
    label_pairs: int | None = None
    chunks: int | None = None
    min_time: str | None = None
    max_time: str | None = None


class TsdbStatus(_Result):
    datasource: str
    head: HeadStats | None = Field(None, description="the in-memory block: recent data")
    series_count_by_metric_name: dict[str, int] | None = None
    label_value_count_by_label_name: dict[str, int] | None = None
    memory_in_bytes_by_label_name: dict[str, int] | None = None
    series_count_by_label_value_pair: dict[str, int] | None = None
    hint: str | None = None


class BuildInfo(_Result):
    datasource: str
    version: str | None = None
    revision: str | None = None
    branch: str | None = None
    build_date: str | None = None
    go_version: str | None = None
    start_time: str | None = None
    storage_retention: str | None = None
    reload_config_success: bool | None = None
    last_config_time: str | None = None
    goroutines: int | None = None
    gomaxprocs: int | None = None
    corruption_count: int | None = None
    note: str | None = None


class Exemplar(_Result):
    labels: dict[str, str] = Field(description="usually trace_id / span_id")
    value: models.Number
    time: models.Number = Field(description="unix seconds")


class ExemplarSeries(_Result):
    labels: dict[str, str]
    exemplars: list[Exemplar] = Field(description="newest first")


class ExemplarList(_Result):
    datasource: str
    query: str
    start: str
    end: str
    series: list[ExemplarSeries]
    total: int = Field(description="exemplars in the window")
    truncated: models.Truncation | None = Field(None, description="the newest were kept")
    hint: str | None = None


# --- conversion from the backend's JSON ------------------------------------------------------

REDACTED = "REDACTED"
_SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|key|auth|sig|credential|session|cookie|bearer|jwt|private", re.I
)
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_MOMENT = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:\d\d)$")
_RULE_TYPES = {"alerting": "alert", "recording": "record"}
TSDB_LISTS = (
    ("seriesCountByMetricName", "series_count_by_metric_name"),
    ("labelValueCountByLabelName", "label_value_count_by_label_name"),
    ("memoryInBytesByLabelName", "memory_in_bytes_by_label_name"),
    ("seriesCountByLabelValuePair", "series_count_by_label_value_pair"),
)
"""(Prometheus's name, ours) of the TSDB status top-N lists."""

RuleIndex = dict[tuple[str, ...], AlertRule]
"""Alert label set -> its rule; a rule whose name is unique also under ("", name)."""


def redact_url(url: str) -> str:
    """The URL without userinfo and without the values of secret-looking query parameters."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(_redact_parameter(p) for p in parts.query.split("&")) if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_parameter(pair: str) -> str:
    name, separator, _ = pair.partition("=")
    if separator and _SECRET_NAME.search(urllib.parse.unquote_plus(name)):
        return f"{name}={REDACTED}"
    return pair


def redact_text(text: str) -> str:
    """Every URL inside `text` (Go errors quote the scrape URL) passed through redact_url."""
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def rule_index(raw_groups: Any) -> RuleIndex:
    index: RuleIndex = {}
    by_name: dict[str, list[AlertRule]] = collections.defaultdict(list)
    for raw_group in items(raw_groups):
        group = hygiene.clean(mapping(raw_group).get("name", ""))
        for raw in items(mapping(raw_group).get("rules")):
            rule = mapping(raw)
            if rule.get("type") != "alerting":
                continue
            ref = AlertRule(
                group=group,
                name=hygiene.clean(rule.get("name", "")),
                query=hygiene.clean(rule.get("query", "")),
                for_duration=duration(rule.get("duration")),
            )
            by_name[ref.name].append(ref)
            for alert in items(rule.get("alerts")):
                index[raw_key(mapping(alert).get("labels"))] = ref
    for name, refs in by_name.items():
        if len(refs) == 1:  # alerts the rule did not list (it was evaluated in between)
            index[("", name)] = refs[0]
    return index


def alert(raw: Any, rules: RuleIndex) -> Alert:
    item = mapping(raw)
    all_labels = labels(item.get("labels"))
    name = all_labels.pop("alertname", "")
    ref = rules.get(raw_key(item.get("labels"))) or rules.get(("", name))
    return Alert(
        name=name,
        state=hygiene.clean(item.get("state", "")),
        labels=all_labels or None,
        annotations=labels(item.get("annotations")) or None,
        active_at=moment(item.get("activeAt")),
        value=models.number(item["value"]) if "value" in item else None,
        group=ref.group if ref else None,
    )


def rule_group(raw: Any) -> RuleGroup:
    group = mapping(raw)
    return RuleGroup(
        name=hygiene.clean(group.get("name", "")),
        file=text(group.get("file")),
        interval_seconds=seconds(group.get("interval")) or None,
    )


def rule(raw: Any, group: str) -> Rule:
    item = mapping(raw)
    kind = str(item.get("type", ""))
    alerting = kind == "alerting"
    states = collections.Counter(mapping(a).get("state") for a in items(item.get("alerts")))
    error = item.get("lastError")
    return Rule(
        name=hygiene.clean(item.get("name", "")),
        type=_RULE_TYPES.get(kind, hygiene.clean(kind)),
        group=group,
        query=hygiene.clean(item.get("query", "")),
        health=hygiene.clean(item.get("health", "unknown")),
        last_error=redact_text(hygiene.clean(error)) if error else None,
        last_evaluation=moment(item.get("lastEvaluation")),
        evaluation_seconds=seconds(item.get("evaluationTime")),
        state=hygiene.clean(item["state"]) if alerting and item.get("state") else None,
        firing=states["firing"] or None,
        pending=states["pending"] or None,
        for_duration=duration(item.get("duration")) if alerting else None,
    )


def target(raw: Any) -> Target:
    item = mapping(raw)
    target_labels = mapping(item.get("labels"))
    error = item.get("lastError")
    return Target(
        job=hygiene.clean(target_labels.get("job", item.get("scrapePool", ""))),
        instance=hygiene.clean(target_labels.get("instance", "")),
        health=hygiene.clean(item.get("health", "unknown")),
        scrape_url=redact_url(hygiene.clean(item.get("scrapeUrl", ""))),
        last_error=redact_text(hygiene.clean(error)) if error else None,
        last_scrape=moment(item.get("lastScrape")),
        last_scrape_seconds=seconds(item.get("lastScrapeDuration")),
    )


def dropped_count(data: dict[str, Any], job: str | None) -> int:
    """Per-pool counts where the backend gives them (Prometheus 2.47+), else the list."""
    counts = data.get("droppedTargetCounts")
    if isinstance(counts, dict) and counts:
        return sum(integer(n) or 0 for pool, n in counts.items() if job is None or pool == job)
    dropped = [mapping(t) for t in items(data.get("droppedTargets"))]
    if job is None:
        return len(dropped)
    return sum(
        job in (t.get("scrapePool"), mapping(t.get("discoveredLabels")).get("job")) for t in dropped
    )


def head_stats(raw: Any) -> HeadStats | None:
    head = mapping(raw)
    if not head:
        return None
    min_ms, max_ms = integer(head.get("minTime")), integer(head.get("maxTime"))
    span = min_ms is not None and max_ms is not None and 0 < min_ms <= max_ms
    return HeadStats(
        series=integer(head.get("numSeries")),
        label_pairs=integer(head.get("numLabelPairs")),
        chunks=integer(head.get("chunkCount")),
        min_time=timespec.isoformat(min_ms / 1000) if span and min_ms else None,
        max_time=timespec.isoformat(max_ms / 1000) if span and max_ms else None,
    )


def top(raw: Any, limit: int) -> dict[str, int]:
    entries = [mapping(e) for e in items(raw)][:limit]
    return {hygiene.clean(e.get("name", "")): integer(e.get("value")) or 0 for e in entries}


def build_info(datasource: str, build: Any, runtime: Any, note: str | None) -> BuildInfo:
    b, r = mapping(build), mapping(runtime)
    reloaded = r.get("reloadConfigSuccess")
    return BuildInfo(
        datasource=datasource,
        version=text(b.get("version")),
        revision=text(b.get("revision")),
        branch=text(b.get("branch")),
        build_date=text(b.get("buildDate")),
        go_version=text(b.get("goVersion")),
        start_time=moment(r.get("startTime")),
        storage_retention=text(r.get("storageRetention")),
        reload_config_success=reloaded if isinstance(reloaded, bool) else None,
        last_config_time=moment(r.get("lastConfigTime")),
        goroutines=integer(r.get("goroutineCount")),
        gomaxprocs=integer(r.get("GOMAXPROCS")),
        corruption_count=integer(r.get("corruptionCount")),
        note=note,
    )


def exemplar_series(raw: Any, limit: int) -> tuple[list[ExemplarSeries], int]:
    """Series with their exemplars, keeping the newest `limit` exemplars; and the total."""
    found = [
        (labels(mapping(series).get("seriesLabels")), _exemplar(item))
        for series in items(raw)
        for item in items(mapping(series).get("exemplars"))
    ]
    found.sort(key=lambda pair: _newest_first(pair[1].time))
    grouped: dict[str, tuple[dict[str, str], list[Exemplar]]] = {}
    for series_labels, exemplar in found[:limit]:
        grouped.setdefault(label_key(series_labels), (series_labels, []))[1].append(exemplar)
    shaped = [ExemplarSeries(labels=k, exemplars=v) for k, v in grouped.values()]
    return shaped, len(found)


def _exemplar(raw: Any) -> Exemplar:
    item = mapping(raw)
    return Exemplar(
        labels=labels(item.get("labels")),
        value=models.number(item.get("value")),
        time=models.number(item.get("timestamp")),
    )


def _newest_first(time: models.Number) -> float:
    return -time if isinstance(time, int | float) else math.inf


# --- defensive readers: a backend's JSON may lack anything ----------------------------------


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def labels(raw: Any) -> dict[str, str]:
    return {hygiene.clean(k): hygiene.clean(v) for k, v in mapping(raw).items()}


def label_key(label_set: dict[str, str] | None) -> str:
    return json.dumps(label_set or {}, sort_keys=True)


def raw_key(raw: Any) -> tuple[str, ...]:
    return tuple(f"{k}={v}" for k, v in sorted(mapping(raw).items()))


def text(raw: Any) -> str | None:
    return hygiene.clean(raw) if raw not in (None, "") else None


def moment(raw: Any) -> str | None:
    """Backend timestamps as written (every fractional digit kept); Go's zero time (never
    happened) to None."""
    if not isinstance(raw, str) or not raw:
        return None
    match = _MOMENT.match(raw)
    if match is None:
        return hygiene.clean(raw)
    if match.group(1).startswith("0001-"):
        return None
    return match.group(1) + match.group(2)


def seconds(raw: Any) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None  # as the backend measured it, unrounded


def duration(raw: Any) -> str | None:
    value = seconds(raw)
    return timespec.format_duration(value) if value and value > 0 else None


def integer(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError, OverflowError):
        return None
