"""Tool output models (the output schemas agents see), sample values as JSON numbers, and
the page of a capped list.

Sample values become numbers (non-finite ones stay the strings "NaN", "+Inf", "-Inf" since
JSON has no such numbers), and every capped list says in `truncated` what was left out and
how to narrow (`page`, the epilogue of every listing tool).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ..core import hygiene

Number = int | float | str
T = TypeVar("T")


class Result(BaseModel):
    """What every tool result model is: frozen, with the fields agents see in their order."""

    model_config = ConfigDict(frozen=True)


class Truncation(Result):
    """Present only when something was left out."""

    returned: int = Field(description="items in this result")
    total: int = Field(description="items the backend had")
    hint: str = Field(description="how to ask for less, or for the rest")


class DatasourceInfo(Result):
    id: str = Field(description="pass as datasource_id")
    name: str
    type: str = Field(description="Prometheus, Thanos, Mimir, Cortex or VictoriaMetrics")
    uid: str | None = None
    description: str | None = None
    labels: dict[str, str] | None = None
    source: str = Field(description="where it is declared: file, configmap or custom resource")


class UnavailableDatasource(Result):
    id: str = Field(description="declared with this id, but not served")
    source: str = Field(description="where it is declared: file, configmap or custom resource")
    reason: str = Field(description="why it is not served, and the fix")


class DatasourceList(Result):
    datasources: list[DatasourceInfo]
    total: int = Field(description="datasources that match, on every page")
    unavailable: list[UnavailableDatasource] | None = None
    counts: dict[str, dict[str, int]] | None = Field(
        default=None, description="matching datasources per label value: narrow with labels"
    )
    next_cursor: str | None = Field(default=None, description="pass as cursor for the next page")
    truncated: Truncation | None = Field(
        default=None, description="the page was shortened to fit the token budget"
    )
    hint: str | None = None


class MetricList(Result):
    datasource: str
    metrics: list[str]
    total: int
    truncated: Truncation | None = None


class MetadataEntry(Result):
    type: str
    help: str
    unit: str | None = None


class MetricMetadata(Result):
    datasource: str
    metric: str
    metadata: list[MetadataEntry]
    hint: str | None = None


class Truncated(Result):
    """Series left out, and which were kept: the stated criterion, not backend order."""

    returned: int
    total: int
    criterion: str = Field(description="which series were kept")
    hint: str


class Summarized(Result):
    """What was done to fit the token budget, in the order it was done."""

    budget_tokens: int
    full_tokens: int = Field(description="estimated tokens of the complete answer")
    actions: list[str]
    hint: str


class Sample(Result):
    labels: dict[str, str]
    value: Number


class ValueSummary(Result):
    """Over every series of an instant result, including those not returned."""

    count: int = Field(description="series")
    min: Number | None = None
    max: Number | None = None
    mean: Number | None = None
    sum: Number | None = None
    non_finite: int | None = Field(None, description="NaN or Inf values, left out of the stats")


class InstantResult(Result):
    datasource: str
    query: str
    time: str = Field(description="evaluation time, RFC 3339")
    result_type: str = Field(description="vector, scalar or string")
    common_labels: dict[str, str] | None = Field(None, description="labels every series has")
    series: list[Sample] | None = None
    scalar: Number | None = Field(None, description="the value of a scalar or string result")
    total_series: int
    values: ValueSummary | None = None
    truncated: Truncation | Truncated | None = None
    warnings: list[str] | None = None
    hint: str | None = Field(None, description="why the result may be empty and what to try")
    suggestions: list[str] | None = None


class SeriesSummary(Result):
    """Statistics of one series over the window, from every point at the queried step."""

    points: int
    first: Number | None = None
    last: Number | None = None
    min: Number | None = None
    min_at: str | None = None
    max: Number | None = None
    max_at: str | None = None
    mean: Number | None = None
    change: Number | None = Field(None, description="last - first")
    non_finite: int | None = Field(None, description="NaN or Inf points, left out of the stats")


class RangeSeries(Result):
    labels: dict[str, str] | None = Field(None, description="besides common_labels")
    values: list[Number | None] | None = Field(
        None, description="values[i] is at start + i*step_seconds; null: no sample"
    )
    summary: SeriesSummary | None = None
    line: str | None = Field(None, description="sparkline, then first/last/min/max")


class RangeResult(Result):
    datasource: str
    query: str
    start: str
    end: str
    step_seconds: float
    result_type: str
    format: str = Field(description="points, summary, points+summary or text")
    common_labels: dict[str, str] | None = None
    series: list[RangeSeries]
    total_series: int
    summarized: Summarized | None = None
    truncated: Truncation | Truncated | None = None
    warnings: list[str] | None = None
    hint: str | None = None
    suggestions: list[str] | None = None


class LabelNames(Result):
    datasource: str
    metric: str
    labels: list[str]
    total: int
    hint: str | None = None


class LabelValues(Result):
    datasource: str
    label: str
    metric: str | None = None
    values: list[str]
    total: int
    truncated: Truncation | None = None
    hint: str | None = None


def number(raw: object) -> Number:
    """Prometheus sample strings to JSON numbers, keeping non-finite values readable."""
    if not isinstance(raw, int | float | str):
        return hygiene.clean(raw)
    try:
        value = float(raw)
    except ValueError:
        return hygiene.clean(raw)
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """The epilogue of every listing tool: what is shown of `total` items, what was left out
    and how to narrow, and a hint when there is nothing to show."""

    items: list[T]
    total: int
    truncated: Truncation | None
    hint: str | None

    def fields(self, name: str) -> dict[str, object]:
        """The page as a result's fields: the items under `name`, then `total`,
        `truncated` and (when there is one) `hint`."""
        fields: dict[str, object] = {name: self.items, "total": self.total}
        fields["truncated"] = self.truncated
        if self.hint is not None:
            fields["hint"] = self.hint
        return fields


def page(
    items: Sequence[T],
    limit: int,
    *,
    narrow: str,
    empty: str | None = None,
    unmatched: str | None = None,
    filtered: object = False,
) -> Page[T]:
    """The first `limit` items; `narrow` says how to ask for less, `empty` what to try when
    there are none, or `unmatched` when the caller's filters (`filtered`) left none."""
    empty = unmatched if filtered else empty
    truncated = None
    if len(items) > limit:
        truncated = Truncation(returned=limit, total=len(items), hint=narrow)
    return Page(list(items[:limit]), len(items), truncated, None if items else empty)


def tally(values: Iterable[str]) -> dict[str, int]:
    """How many of each value: a list's by_state or by_health, over every matching item."""
    return dict(collections.Counter(values))
