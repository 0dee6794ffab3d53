"""What tools take: the argument types agents read in tools/list (their descriptions are
product text, and cost tokens in every session), and the checks of names and patterns made
before anything reaches a backend."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

from ..core import errors
from ..results import budget

DatasourceId = Annotated[str, Field(description="id from list_datasources")]
TimeArg = Annotated[
    str | float | None,
    Field(description="RFC 3339, unix seconds, or now-1h"),
]
Limit = Annotated[int, Field(ge=1, le=10_000, description="maximum items to return")]
MaxTokens = Annotated[
    int | None,
    Field(ge=budget.MIN_MAX_TOKENS, description="lower this result's token budget"),
]
PromQL = Annotated[str, Field(description="PromQL expression")]
MetricName = Annotated[str, Field(description="exact metric name")]

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def check_metric_name(name: str, *, argument: str = "metric_name") -> str:
    return _checked_name(
        name,
        argument,
        _METRIC_NAME,
        what="metric name",
        example="up",
        rule="letters, digits, _ and :, not starting with a digit",
        advice="; for patterns use find_metrics_by_pattern",
    )


def check_label_name(name: str, *, argument: str = "label_name") -> str:
    return _checked_name(
        name,
        argument,
        _LABEL_NAME,
        what="label name",
        example="job",
        rule="letters, digits and _, not starting with a digit",
    )


def _checked_name(
    name: str,
    argument: str,
    pattern: re.Pattern[str],
    *,
    what: str,
    example: str,
    rule: str,
    advice: str = "",
) -> str:
    text = name.strip()
    if not text:
        raise errors.InvalidArgument(f"{argument} is empty; pass a {what} such as {example}")
    if not pattern.match(text):
        raise errors.InvalidArgument(f"{argument}={name!r} is not a {what} ({rule}){advice}")
    return text


def check_regex(pattern: str, *, argument: str = "pattern") -> str:
    """RE2 syntax is checked by Prometheus itself; here only what would break the matcher."""
    text = pattern.strip()
    if not text:
        raise errors.InvalidArgument(f"{argument} is empty; pass a regular expression")
    if len(text) > 1024:
        raise errors.InvalidArgument(f"{argument} is longer than 1024 characters")
    return text
