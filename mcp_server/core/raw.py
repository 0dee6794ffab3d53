"""The Prometheus HTTP API's JSON as it arrives: the shapes Prometheus documents, typed.

`backends.prometheus` hands every answer's `data` over as `Json`; readers take it as one of
these shapes with `fields` (one object) and `objects` (a list of them). The shapes are what
Prometheus documents, not a promise: any field may be missing, null or of another type in
what a Prometheus-compatible backend sends, so `results.converting` still reads every value
defensively. Only the fields proms-mcp reads are declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict, TypeVar, cast

Json = None | bool | int | float | str | list["Json"] | dict[str, "Json"]
"""Any JSON value, as `json.loads` gives it."""

Labels = dict[str, str]

T = TypeVar("T", bound=Mapping[str, object])


def fields(value: object, shape: type[T]) -> T:
    """`value` as the object `shape` documents; an empty one when it is not an object."""
    return cast(T, value if isinstance(value, dict) else {})


def elements(value: Json) -> list[Json]:
    """`value` if it is a list (label names, label values, series), else an empty one."""
    return value if isinstance(value, list) else []


def objects(value: object, shape: type[T]) -> list[T]:
    """`value` as a list of `shape` objects: empty when it is not a list, and an element
    that is not an object read as an empty one."""
    if not isinstance(value, list):
        return []
    return [fields(item, shape) for item in value]


Point = list[float | str]
"""[unix time, "value"]; the value is a string, so NaN and ±Inf survive JSON."""


class Sample(TypedDict, total=False):
    """An element of an instant vector (`/api/v1/query`)."""

    metric: Labels
    value: Point


class Series(TypedDict, total=False):
    """An element of a range vector (`/api/v1/query_range`)."""

    metric: Labels
    values: list[Point]


class QueryData(TypedDict, total=False):
    """`/api/v1/query` and `/api/v1/query_range`: `result` is a list of Sample (vector) or
    Series (matrix), or one [time, "value"] pair (scalar, string)."""

    resultType: str
    result: Json


class Alert(TypedDict, total=False):
    labels: Labels
    annotations: Labels
    state: str
    activeAt: str
    value: str


class AlertsData(TypedDict, total=False):
    """`/api/v1/alerts`."""

    alerts: list[Alert]


class Rule(TypedDict, total=False):
    name: str
    query: str
    type: str
    health: str
    lastError: str
    lastEvaluation: str
    evaluationTime: float
    state: str
    duration: float
    labels: Labels
    alerts: list[Alert]


class RuleGroup(TypedDict, total=False):
    name: str
    file: str
    interval: float
    rules: list[Rule]


class RulesData(TypedDict, total=False):
    """`/api/v1/rules`."""

    groups: list[RuleGroup]


class Target(TypedDict, total=False):
    labels: Labels
    discoveredLabels: Labels
    scrapePool: str
    scrapeUrl: str
    health: str
    lastError: str
    lastScrape: str
    lastScrapeDuration: float


class TargetsData(TypedDict, total=False):
    """`/api/v1/targets`."""

    activeTargets: list[Target]
    droppedTargets: list[Target]
    droppedTargetCounts: dict[str, int]


class HeadStats(TypedDict, total=False):
    numSeries: int
    numLabelPairs: int
    chunkCount: int
    minTime: int
    maxTime: int


class TopEntry(TypedDict, total=False):
    name: str
    value: int


class TsdbStatus(TypedDict, total=False):
    """`/api/v1/status/tsdb`; its top-N lists are lists of TopEntry."""

    headStats: HeadStats
    seriesCountByMetricName: list[TopEntry]
    labelValueCountByLabelName: list[TopEntry]
    memoryInBytesByLabelName: list[TopEntry]
    seriesCountByLabelValuePair: list[TopEntry]


class BuildInfo(TypedDict, total=False):
    """`/api/v1/status/buildinfo`; Mimir adds `application`."""

    version: str
    revision: str
    branch: str
    buildDate: str
    goVersion: str
    application: str


class RuntimeInfo(TypedDict, total=False):
    """`/api/v1/status/runtimeinfo`."""

    startTime: str
    storageRetention: str
    reloadConfigSuccess: bool
    lastConfigTime: str
    goroutineCount: int
    GOMAXPROCS: int
    corruptionCount: int


class Config(TypedDict, total=False):
    """`/api/v1/status/config`: the loaded configuration as YAML text."""

    yaml: str


class MetadataEntry(TypedDict, total=False):
    """One entry of `/api/v1/metadata` (which maps each metric to a list of them)."""

    type: str
    help: str
    unit: str


class Exemplar(TypedDict, total=False):
    labels: Labels
    value: str
    timestamp: float


class ExemplarSeries(TypedDict, total=False):
    """An element of `/api/v1/query_exemplars`."""

    seriesLabels: Labels
    exemplars: list[Exemplar]
