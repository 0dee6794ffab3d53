"""The inspection tools' answers converted from the backend's JSON.

Every backend string is cleaned, and URLs (target addresses, errors quoting them) lose their
credentials: userinfo, and the values of query parameters whose names look secret (token,
password, key, auth, ...). A backend's JSON may lack anything: the readers at the end take
whatever shape arrives and give what is there.
"""

from __future__ import annotations

import collections
import json
import math
import re
import urllib.parse
from typing import Any

from ..core import hygiene, timespec
from . import inspection, models

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

RuleIndex = dict[tuple[str, ...], inspection.AlertRule]
"""inspection.Alert label set -> its rule; a rule whose name is unique also under ("", name)."""


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
    by_name: dict[str, list[inspection.AlertRule]] = collections.defaultdict(list)
    for raw_group in items(raw_groups):
        group = hygiene.clean(mapping(raw_group).get("name", ""))
        for raw in items(mapping(raw_group).get("rules")):
            rule = mapping(raw)
            if rule.get("type") != "alerting":
                continue
            ref = inspection.AlertRule(
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


def alert(raw: Any, rules: RuleIndex) -> inspection.Alert:
    item = mapping(raw)
    all_labels = labels(item.get("labels"))
    name = all_labels.pop("alertname", "")
    ref = rules.get(raw_key(item.get("labels"))) or rules.get(("", name))
    return inspection.Alert(
        name=name,
        state=hygiene.clean(item.get("state", "")),
        labels=all_labels or None,
        annotations=labels(item.get("annotations")) or None,
        active_at=moment(item.get("activeAt")),
        value=models.number(item["value"]) if "value" in item else None,
        group=ref.group if ref else None,
    )


def rule_group(raw: Any) -> inspection.RuleGroup:
    group = mapping(raw)
    return inspection.RuleGroup(
        name=hygiene.clean(group.get("name", "")),
        file=text(group.get("file")),
        interval_seconds=seconds(group.get("interval")) or None,
    )


def rule(raw: Any, group: str) -> inspection.Rule:
    item = mapping(raw)
    kind = str(item.get("type", ""))
    alerting = kind == "alerting"
    states = collections.Counter(mapping(a).get("state") for a in items(item.get("alerts")))
    error = item.get("lastError")
    return inspection.Rule(
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


def target(raw: Any) -> inspection.Target:
    item = mapping(raw)
    target_labels = mapping(item.get("labels"))
    error = item.get("lastError")
    return inspection.Target(
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


def head_stats(raw: Any) -> inspection.HeadStats | None:
    head = mapping(raw)
    if not head:
        return None
    min_ms, max_ms = integer(head.get("minTime")), integer(head.get("maxTime"))
    span = min_ms is not None and max_ms is not None and 0 < min_ms <= max_ms
    return inspection.HeadStats(
        series=integer(head.get("numSeries")),
        label_pairs=integer(head.get("numLabelPairs")),
        chunks=integer(head.get("chunkCount")),
        min_time=timespec.isoformat(min_ms / 1000) if span and min_ms else None,
        max_time=timespec.isoformat(max_ms / 1000) if span and max_ms else None,
    )


def top(raw: Any, limit: int) -> dict[str, int]:
    entries = [mapping(e) for e in items(raw)][:limit]
    return {hygiene.clean(e.get("name", "")): integer(e.get("value")) or 0 for e in entries}


def build_info(datasource: str, build: Any, runtime: Any, note: str | None) -> inspection.BuildInfo:
    b, r = mapping(build), mapping(runtime)
    reloaded = r.get("reloadConfigSuccess")
    return inspection.BuildInfo(
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


def exemplar_series(raw: Any, limit: int) -> tuple[list[inspection.ExemplarSeries], int]:
    """Series with their exemplars, keeping the newest `limit` exemplars; and the total."""
    found = [
        (labels(mapping(series).get("seriesLabels")), _exemplar(item))
        for series in items(raw)
        for item in items(mapping(series).get("exemplars"))
    ]
    found.sort(key=lambda pair: _newest_first(pair[1].time))
    grouped: dict[str, tuple[dict[str, str], list[inspection.Exemplar]]] = {}
    for series_labels, exemplar in found[:limit]:
        grouped.setdefault(label_key(series_labels), (series_labels, []))[1].append(exemplar)
    shaped = [inspection.ExemplarSeries(labels=k, exemplars=v) for k, v in grouped.values()]
    return shaped, len(found)


def _exemplar(raw: Any) -> inspection.Exemplar:
    item = mapping(raw)
    return inspection.Exemplar(
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
