"""Output models of the PromQL help tools (check_promql, estimate_query_cost): the output
schemas agents see."""

from __future__ import annotations

from pydantic import Field

from . import models


class LintFinding(models.Result):
    severity: str = Field(description="error, warning or info")
    rule: str
    message: str = Field(description="what is wrong, and the fix")
    inferred: bool | None = Field(
        None, description="rests on a guess: a type from the name or an assumed scrape interval"
    )


class PromqlCheck(models.Result):
    valid: bool
    error: str | None = Field(None, description="why it does not parse")
    line: int | None = Field(None, description="where, as the datasource's parser says")
    column: int | None = Field(None, description="from 1, in bytes")
    hint: str | None = Field(None, description="a fix, where one is known")
    prettified: str | None = Field(None, description="canonical layout, when not the input's")
    result_type: str | None = None
    steps: list[str] | None = Field(
        None,
        description="what it computes, bottom-up; a step works on the one before unless it "
        "names #n",
    )
    metrics: dict[str, str] | None = Field(None, description="metric -> type the lint used")
    windows: list[str] | None = None
    findings: list[LintFinding] | None = Field(None, description="empty: nothing looks wrong")
    basis: str | None = Field(None, description="where types and the scrape interval came from")


class SelectorCost(models.Result):
    selector: str
    series: int = Field(description="most series present at once in the window")


class ToolCost(models.Result):
    series: int
    points: int = Field(description="samples in the full result")
    tokens: int = Field(description="size of the full result before budget shaping")
    verdict: str = Field(description="fine, over budget, far over budget, or refused")


class QueryCost(models.Result):
    datasource: str
    start: str
    end: str
    step: str = Field(description="query_range's step: the one given, or its default")
    points_per_series: int
    budget_tokens: int
    selectors: list[SelectorCost] | None = None
    query_instant: ToolCost = Field(description="evaluated at end")
    query_range: ToolCost
    advice: list[str] | None = None
    note: str
