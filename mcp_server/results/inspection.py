"""Output models of the inspection tools: the output schemas agents see.

Times are RFC 3339 as the backend wrote them (fractions of a second kept), durations
seconds as measured or Prometheus durations (`5m`); optional fields left empty are dropped
from the answer. The conversion from the backend's JSON is `converting`.
"""

from __future__ import annotations

from pydantic import Field

from . import models


class Alert(models.Result):
    name: str = Field(description="alertname")
    state: str = Field(description="firing or pending")
    labels: dict[str, str] | None = Field(None, description="labels except alertname")
    annotations: dict[str, str] | None = None
    active_at: str | None = Field(None, description="when it became pending")
    value: models.Number | None = Field(None, description="the rule expression's value")
    group: str | None = Field(None, description="its rule's group; the rule is in `rules`")
    datasource: str | None = Field(None, description="in a fleet answer: where it fires")


class AlertRule(models.Result):
    group: str
    name: str
    query: str
    for_duration: str | None = Field(None, description="how long it pends before firing")


class AlertList(models.Result):
    datasource: str
    alerts: list[Alert] = Field(description="firing first, then pending")
    rules: list[AlertRule] | None = Field(None, description="the rules of these alerts, once")
    total: int = Field(description="alerts matching the state filter")
    by_state: dict[str, int] = Field(description="all alerts per state, before filtering")
    truncated: models.Truncation | None = None
    note: str | None = None
    hint: str | None = None


class Rule(models.Result):
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


class RuleGroup(models.Result):
    name: str
    file: str | None = None
    interval_seconds: float | None = None


class RuleList(models.Result):
    datasource: str
    rules: list[Rule] = Field(description="failing (health err) first, then backend order")
    groups: list[RuleGroup] = Field(description="the groups of these rules")
    total: int = Field(description="rules matching the filters")
    by_health: dict[str, int] = Field(description="matching rules per health")
    truncated: models.Truncation | None = None
    hint: str | None = None


class Target(models.Result):
    job: str
    instance: str
    health: str = Field(description="up, down or unknown")
    scrape_url: str = Field(description="credentials replaced by REDACTED")
    last_error: str | None = None
    last_scrape: str | None = None
    last_scrape_seconds: float | None = Field(None, description="duration of the last scrape")


class TargetList(models.Result):
    datasource: str
    targets: list[Target] = Field(description="down first, then by job and instance")
    total: int = Field(description="targets matching the filters")
    by_health: dict[str, int] = Field(description="targets of the job filter per health")
    dropped: int | None = Field(None, description="discovered targets that relabelling dropped")
    truncated: models.Truncation | None = None
    note: str | None = None
    hint: str | None = None


class SeriesList(models.Result):
    datasource: str
    match: str
    start: str
    end: str
    series: list[dict[str, str]] = Field(description="label sets, sorted")
    total: int
    truncated: models.Truncation | None = None
    hint: str | None = None


class HeadStats(models.Result):
    series: int | None = None
    label_pairs: int | None = None
    chunks: int | None = None
    min_time: str | None = None
    max_time: str | None = None


class TsdbStatus(models.Result):
    datasource: str
    head: HeadStats | None = Field(None, description="the in-memory block: recent data")
    series_count_by_metric_name: dict[str, int] | None = None
    label_value_count_by_label_name: dict[str, int] | None = None
    memory_in_bytes_by_label_name: dict[str, int] | None = None
    series_count_by_label_value_pair: dict[str, int] | None = None
    hint: str | None = None


class BuildInfo(models.Result):
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


class Exemplar(models.Result):
    labels: dict[str, str] = Field(description="usually trace_id / span_id")
    value: models.Number
    time: models.Number = Field(description="unix seconds")


class ExemplarSeries(models.Result):
    labels: dict[str, str]
    exemplars: list[Exemplar] = Field(description="newest first")


class ExemplarList(models.Result):
    datasource: str
    query: str
    start: str
    end: str
    series: list[ExemplarSeries]
    total: int = Field(description="exemplars in the window")
    truncated: models.Truncation | None = Field(None, description="the newest were kept")
    hint: str | None = None
