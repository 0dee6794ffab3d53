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

from ..core import hygiene, raw, timespec
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


def rule_index(groups: list[raw.RuleGroup]) -> RuleIndex:
    index: RuleIndex = {}
    by_name: dict[str, list[inspection.AlertRule]] = collections.defaultdict(list)
    for raw_group in groups:
        group = hygiene.clean(raw_group.get("name", ""))
        for rule in raw.objects(raw_group.get("rules"), raw.Rule):
            if rule.get("type") != "alerting":
                continue
            ref = inspection.AlertRule(
                group=group,
                name=hygiene.clean(rule.get("name", "")),
                query=hygiene.clean(rule.get("query", "")),
                for_duration=duration(rule.get("duration")),
            )
            by_name[ref.name].append(ref)
            for raw_alert in raw.objects(rule.get("alerts"), raw.Alert):
                index[raw_key(raw_alert.get("labels"))] = ref
    for name, refs in by_name.items():
        if len(refs) == 1:  # alerts the rule did not list (it was evaluated in between)
            index[("", name)] = refs[0]
    return index


def alert(item: raw.Alert, rules: RuleIndex) -> inspection.Alert:
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


def rule_group(group: raw.RuleGroup) -> inspection.RuleGroup:
    return inspection.RuleGroup(
        name=hygiene.clean(group.get("name", "")),
        file=text(group.get("file")),
        interval_seconds=seconds(group.get("interval")) or None,
    )


def rule(item: raw.Rule, group: str) -> inspection.Rule:
    kind = str(item.get("type", ""))
    alerting = kind == "alerting"
    alerts = raw.objects(item.get("alerts"), raw.Alert)
    states = collections.Counter(a.get("state") for a in alerts)
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


def target(item: raw.Target) -> inspection.Target:
    target_labels = raw.fields(item.get("labels"), raw.Labels)
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


def dropped_count(data: raw.TargetsData, job: str | None) -> int:
    """Per-pool counts where the backend gives them (Prometheus 2.47+), else the list."""
    counts = data.get("droppedTargetCounts")
    if isinstance(counts, dict) and counts:
        return sum(integer(n) or 0 for pool, n in counts.items() if job is None or pool == job)
    dropped = raw.objects(data.get("droppedTargets"), raw.Target)
    if job is None:
        return len(dropped)
    return sum(
        job in (t.get("scrapePool"), raw.fields(t.get("discoveredLabels"), raw.Labels).get("job"))
        for t in dropped
    )


def head_stats(value: object) -> inspection.HeadStats | None:
    head = raw.fields(value, raw.HeadStats)
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


def top(value: object, limit: int) -> dict[str, int]:
    entries = raw.objects(value, raw.TopEntry)[:limit]
    return {hygiene.clean(e.get("name", "")): integer(e.get("value")) or 0 for e in entries}


def build_info(
    datasource: str, build: raw.BuildInfo, runtime: raw.RuntimeInfo, note: str | None
) -> inspection.BuildInfo:
    reloaded = runtime.get("reloadConfigSuccess")
    return inspection.BuildInfo(
        datasource=datasource,
        version=text(build.get("version")),
        revision=text(build.get("revision")),
        branch=text(build.get("branch")),
        build_date=text(build.get("buildDate")),
        go_version=text(build.get("goVersion")),
        start_time=moment(runtime.get("startTime")),
        storage_retention=text(runtime.get("storageRetention")),
        reload_config_success=reloaded if isinstance(reloaded, bool) else None,
        last_config_time=moment(runtime.get("lastConfigTime")),
        goroutines=integer(runtime.get("goroutineCount")),
        gomaxprocs=integer(runtime.get("GOMAXPROCS")),
        corruption_count=integer(runtime.get("corruptionCount")),
        note=note,
    )


def exemplar_series(
    all_series: list[raw.ExemplarSeries], limit: int
) -> tuple[list[inspection.ExemplarSeries], int]:
    """Series with their exemplars, keeping the newest `limit` exemplars; and the total."""
    found = [
        (labels(series.get("seriesLabels")), _exemplar(item))
        for series in all_series
        for item in raw.objects(series.get("exemplars"), raw.Exemplar)
    ]
    found.sort(key=lambda pair: _newest_first(pair[1].time))
    grouped: dict[str, tuple[dict[str, str], list[inspection.Exemplar]]] = {}
    for series_labels, exemplar in found[:limit]:
        grouped.setdefault(label_key(series_labels), (series_labels, []))[1].append(exemplar)
    shaped = [inspection.ExemplarSeries(labels=k, exemplars=v) for k, v in grouped.values()]
    return shaped, len(found)


def _exemplar(item: raw.Exemplar) -> inspection.Exemplar:
    return inspection.Exemplar(
        labels=labels(item.get("labels")),
        value=models.number(item.get("value")),
        time=models.number(item.get("timestamp")),
    )


def _newest_first(time: models.Number) -> float:
    return -time if isinstance(time, int | float) else math.inf


# --- defensive readers: a backend's JSON may lack anything, or hold another type ------------


def labels(value: object) -> dict[str, str]:
    return {hygiene.clean(k): hygiene.clean(v) for k, v in raw.fields(value, raw.Labels).items()}


def label_key(label_set: dict[str, str] | None) -> str:
    return json.dumps(label_set or {}, sort_keys=True)


def raw_key(value: object) -> tuple[str, ...]:
    pairs = raw.fields(value, raw.Labels).items()
    return tuple(f"{k}={v}" for k, v in sorted(pairs, key=lambda pair: pair[0]))


def text(value: object) -> str | None:
    return hygiene.clean(value) if value not in (None, "") else None


def moment(value: object) -> str | None:
    """Backend timestamps as written (every fractional digit kept); Go's zero time (never
    happened) to None."""
    if not isinstance(value, str) or not value:
        return None
    match = _MOMENT.match(value)
    if match is None:
        return hygiene.clean(value)
    if match.group(1).startswith("0001-"):
        return None
    return match.group(1) + match.group(2)


def seconds(value: object) -> float | None:
    if not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None  # as the backend measured it, unrounded


def duration(value: object) -> str | None:
    number = seconds(value)
    return timespec.format_duration(number) if number and number > 0 else None


def integer(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return int(value)
    except (ValueError, OverflowError):
        return None
