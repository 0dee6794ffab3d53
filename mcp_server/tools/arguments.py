"""What every tool takes: argument types (with the descriptions agents read in tools/list)
and the checks of names and patterns, before anything reaches a backend."""

from __future__ import annotations

import re

from ..core import errors

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def check_metric_name(name: str, *, argument: str = "metric_name") -> str:
    text = name.strip()
    if not text:
        raise errors.InvalidArgument(f"{argument} is empty; pass a metric name such as up")
    if not _METRIC_NAME.match(text):
        raise errors.InvalidArgument(
            f"{argument}={name!r} is not a metric name (letters, digits, _ and :, not "
            "starting with a digit); for patterns use find_metrics_by_pattern"
        )
    return text


def check_label_name(name: str, *, argument: str = "label_name") -> str:
    text = name.strip()
    if not text:
        raise errors.InvalidArgument(f"{argument} is empty; pass a label name such as job")
    if not _LABEL_NAME.match(text):
        raise errors.InvalidArgument(
            f"{argument}={name!r} is not a label name (letters, digits and _, not starting "
            "with a digit)"
        )
    return text


def check_regex(pattern: str, *, argument: str = "pattern") -> str:
    """RE2 syntax is checked by Prometheus itself; here only what would break the matcher."""
    text = pattern.strip()
    if not text:
        raise errors.InvalidArgument(f"{argument} is empty; pass a regular expression")
    if len(text) > 1024:
        raise errors.InvalidArgument(f"{argument} is longer than 1024 characters")
    return text
