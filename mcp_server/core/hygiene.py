"""Text hygiene: backend strings (label values, HELP text, annotations, error text) are data.

Every string a backend sends passes through `clean` before an agent or a CR status sees it,
and appears in our own prose only `quoted` (a JSON string literal that can never close a
quote of ours). `name` and `selector` write metric and label names the way a PromQL selector
does. Results, backends, PromQL help and the operator all use these; nothing here imports
anything of ours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# Backend strings (label values, HELP text, annotations, error text) are data and must not
# be able to fake structure or hide text: control characters, bidirectional overrides and
# isolates become spaces; zero-width characters, bidi marks, line and paragraph separators
# and Unicode tag characters are removed.
_UNSAFE: dict[int, str | None] = {c: " " for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))}
_UNSAFE.update({c: " " for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_UNSAFE.update(
    dict.fromkeys(
        (
            *range(0x200B, 0x200E),  # zero-width space, non-joiner, joiner
            0x2060,  # word joiner
            0xFEFF,  # zero-width no-break space (BOM)
            0x200E,  # left-to-right mark
            0x200F,  # right-to-left mark
            0x061C,  # Arabic letter mark
            0x2028,  # line separator
            0x2029,  # paragraph separator
            *range(0xE0000, 0xE0080),  # tag characters
        )
    )
)


def clean(text: object) -> str:
    return str(text).translate(_UNSAFE)


def quoted(text: object) -> str:
    """Backend text as it may appear in prose (hints, messages, text lines): cleaned and
    JSON-quoted, so it reads as one string literal and can never close a quote of ours."""
    return json.dumps(clean(text), ensure_ascii=False)


_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def name(text: str) -> str:
    """A metric or label name as a selector writes it: bare when it is a classic PromQL
    identifier (which can carry nothing but letters, digits, `_` and `:`), else quoted."""
    return text if _IDENTIFIER.fullmatch(text) else quoted(text)


def selector(label_set: Mapping[str, str]) -> str:
    """A label set in PromQL selector syntax, the text-line format of our answers:
    `metric{label="value",...}`. Every value is `quoted` (JSON string escaping, which PromQL
    reads too); a name that is not a classic identifier is quoted as Prometheus 3 writes it
    (`{"metric.name","label.name"="value"}`)."""
    metric = label_set.get("__name__", "")
    parts = [f"{name(k)}={quoted(v)}" for k, v in label_set.items() if k != "__name__"]
    if metric and not _IDENTIFIER.fullmatch(metric):
        parts.insert(0, quoted(metric))
        metric = ""
    if metric and not parts:
        return metric
    return f"{metric}{{{','.join(parts)}}}"


def labels(raw: Any) -> dict[str, str]:
    return {clean(k): clean(v) for k, v in (raw or {}).items()}
