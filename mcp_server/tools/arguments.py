"""What tools take: the argument types agents read in tools/list (their descriptions are
product text, and cost tokens in every session), and the checks of names and patterns made
before anything reaches a backend."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from ..core import errors
from ..results import budget

DatasourceId = Annotated[str, Field(description="id from list_datasources")]
OneDatasource = Annotated[
    str | None, Field(description="id from list_datasources; or datasources/labels for many")
]
TimeArg = Annotated[
    str | float | None,
    Field(description="RFC 3339, unix seconds, or now-1h"),
]
Limit = Annotated[int, Field(ge=1, le=10_000, description="maximum items to return")]
MaxTokens = Annotated[
    int | None,
    Field(ge=budget.MIN_MAX_TOKENS, description="lower this result's token budget"),
]
Datasources = Annotated[
    str | list[str] | None,
    Field(description='ids or globs, e.g. ["prod-*", "team-a/*"]'),
]
Labels = Annotated[
    str | dict[str, str] | None,
    Field(description='all must match, e.g. "env=prod,team=payments"; also namespace=, type='),
]
Namespace = Annotated[
    str | None,
    Field(
        description="for OpenShift tenancy datasources: the namespace to read",
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    ),
]
PromQL = Annotated[str, Field(description="PromQL expression")]
MetricName = Annotated[str, Field(description="exact metric name")]


_LABEL_RULE = "letters, digits and _, not starting with a digit"


@dataclass(frozen=True, slots=True)
class _Name:
    """A kind of PromQL name, and how to say that an argument is not one."""

    pattern: re.Pattern[str]
    what: str
    example: str
    rule: str
    advice: str = ""

    def check(self, name: str, argument: str) -> str:
        text = name.strip()
        if not text:
            raise errors.InvalidArgument(
                f"{argument} is empty; pass a {self.what} such as {self.example}"
            )
        if not self.pattern.match(text):
            raise errors.InvalidArgument(
                f"{argument}={name!r} is not a {self.what} ({self.rule}){self.advice}"
            )
        return text


_METRIC = _Name(
    re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"),
    what="metric name",
    example="up",
    rule="letters, digits, _ and :, not starting with a digit",
    advice="; for patterns use find_metrics_by_pattern",
)
_LABEL = _Name(re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$"), "label name", "job", _LABEL_RULE)


def check_metric_name(name: str, *, argument: str = "metric_name") -> str:
    return _METRIC.check(name, argument)


def check_label_name(name: str, *, argument: str = "label_name") -> str:
    return _LABEL.check(name, argument)


def check_regex(pattern: str, *, argument: str = "pattern") -> str:
    """RE2 syntax is checked by Prometheus itself; here only what would break the matcher."""
    text = pattern.strip()
    if not text:
        raise errors.InvalidArgument(f"{argument} is empty; pass a regular expression")
    if len(text) > 1024:
        raise errors.InvalidArgument(f"{argument} is longer than 1024 characters")
    return text
