"""Result budgets: no tool answer may cost an agent more than its budget of tokens.

The budget is MAX_RESULT_TOKENS for the server, lowered per call with `max_tokens`. Tools
that know their data degrade in their own documented steps (query_range: coarser step,
then summaries, then top series); everything else, and anything still too large, is cut
here by `fit`, which shortens the longest list and says so in `truncated`.

Tokens are estimated as UTF-8 bytes / 3: tokenizers average 3.5 to 4 bytes per token on
compact JSON, so the estimate errs towards smaller results, never towards a flooded context.
"""

from __future__ import annotations

import contextvars
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_TOKENS = 10_000
"""Well under the 25k-token cap of common clients, leaving room for the agent's own work."""
MIN_MAX_TOKENS = 200
BYTES_PER_TOKEN = 3

server_limit: contextvars.ContextVar[int] = contextvars.ContextVar(
    "server_limit", default=DEFAULT_MAX_TOKENS
)
"""MAX_RESULT_TOKENS of the server serving the call (set by `calls.ServerLimit`)."""
current: contextvars.ContextVar[int] = contextvars.ContextVar(
    "result_budget", default=DEFAULT_MAX_TOKENS
)
"""The budget of the tool call being served (set by `calls.guarded`)."""


def tokens(text: str) -> int:
    return math.ceil(len(text.encode()) / BYTES_PER_TOKEN)


def encode(data: Any) -> str:
    """The one JSON encoding of results: compact, UTF-8 kept (escapes cost tokens), and
    always valid JSON (a stray NaN or Inf float is written as Prometheus writes it)."""
    return _encoded(data)[1]


def _encoded(data: Any) -> tuple[Any, str]:
    """`data` and its text, both saying the same: NaN or Inf floats become strings in both."""
    try:
        return data, json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        finite = _finite(data)
        return finite, json.dumps(finite, ensure_ascii=False, separators=(",", ":"))


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return "NaN" if math.isnan(data) else ("+Inf" if data > 0 else "-Inf")
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def for_call(requested: int | None) -> int:
    server = server_limit.get()
    return server if requested is None else max(MIN_MAX_TOKENS, min(requested, server))


@dataclass(frozen=True, slots=True)
class Encoded:
    """An answer with its JSON text (`encode(data)`), from a tool that encoded it anyway to
    measure it: `calls` then cuts or sends it without encoding it again."""

    data: dict[str, Any]
    text: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> Encoded:
        return cls(*_encoded(data))

    @property
    def tokens(self) -> int:
        return tokens(self.text)


def fit(data: dict[str, Any], limit: int) -> dict[str, Any]:
    """`data` cut to `limit` tokens (see `fit_encoded`)."""
    return fit_encoded(data, limit)[0]


def fit_encoded(
    data: dict[str, Any], limit: int, *, text: str | None = None
) -> tuple[dict[str, Any], str]:
    """`data` cut to `limit` tokens, and its JSON text: the longest list first, then long
    strings.

    The longest list is halved (or cut just enough) until the result fits, so several long
    lists shrink evenly. Each cut is reported in `truncated` (returned, total, and how to
    narrow), merged with a `truncated` block the tool may already have written. `text`,
    when the caller has it, is `encode(data)`.
    """
    if text is None:
        data, text = _encoded(data)
    if tokens(text) <= limit:  # the common case: one encoding, reused as the answer's text
        return data, text
    result: dict[str, Any] = json.loads(text)  # a private deep copy
    cuts: dict[str, tuple[list[Any], int]] = {}
    while tokens(encode(result)) + _room(len(cuts)) > limit:
        path, items = _longest_list(result)
        if items is None:
            break
        cuts.setdefault(path, (items, len(items)))
        keep = _largest_fitting(result, items, limit - _room(len(cuts)))
        del items[max(keep, len(items) // 2) if keep == 1 else keep :]
    for path, (items, total) in cuts.items():
        _mark(result, path, len(items), total, limit, several=len(cuts) > 1)
    if tokens(encode(result)) > limit:
        _shorten_strings(result, max(40, limit * BYTES_PER_TOKEN // 20))
    if tokens(encode(result)) > limit:  # only scalars are left to keep
        result = {k: v for k, v in result.items() if not isinstance(v, dict | list)}
        _shorten_strings(result, 80)
        result["truncated"] = {"hint": f"the result did not fit {limit} tokens; narrow it"}
    return result, encode(result)


def _room(cuts: int) -> int:
    """Tokens kept free for the `truncated` marker that will describe the cuts."""
    return 40 + 20 * cuts


def _longest_list(data: Any, path: str = "") -> tuple[str, list[Any] | None]:
    best: tuple[str, list[Any] | None] = ("", None)
    best_size = 0
    for where, items in _lists(data, path):
        if len(items) < 2:  # nothing to cut here, though a list inside may be long
            continue
        size = len(encode(items))
        if size > best_size:
            best, best_size = (where, items), size
    return best


def _lists(data: Any, path: str) -> Iterator[tuple[str, list[Any]]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key != "truncated":
                yield from _lists(value, f"{path}.{key}" if path else key)
    elif isinstance(data, list):
        yield path, data
        for index, value in enumerate(data):
            yield from _lists(value, f"{path}[{index}]")


def _largest_fitting(result: dict[str, Any], items: list[Any], limit: int) -> int:
    """Binary search for how many leading items fit, leaving room for the marker."""
    original = list(items)
    low, high = 1, len(items) - 1
    best = 1
    while low <= high:
        middle = (low + high) // 2
        items[:] = original[:middle]
        if tokens(encode(result)) <= limit:
            best, low = middle, middle + 1
        else:
            high = middle - 1
    items[:] = original
    return best


def _mark(
    result: dict[str, Any], path: str, returned: int, total: int, limit: int, *, several: bool
) -> None:
    hint = reached(limit, "narrow the request")
    marker = result.get("truncated")
    if not isinstance(marker, dict):
        marker = result["truncated"] = {}
    if "." not in path and "[" not in path and "total" in marker and not several:
        marker["returned"] = returned  # the tool's own cap already counted the backend total
        marker["hint"] = hint
        return
    if several:
        marker.setdefault("fields", {})[path] = {"returned": returned, "total": total}
    else:
        marker.update(field=path, returned=returned, total=total)
    marker["hint"] = hint


def reached(limit: int, advice: str) -> str:
    """The hint of an answer cut at `limit` tokens: `advice`, and raising max_tokens only
    where that can help (max_tokens can only lower the server's budget)."""
    hint = f"result budget of {limit} tokens reached; {advice}"
    if limit < server_limit.get():
        hint += f" or raise max_tokens (at most {server_limit.get()})"
    return hint


def _shorten_strings(data: Any, longest: int) -> None:
    """Last resort for results whose size is in a few huge strings (help text, errors)."""
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in list(items):
        if isinstance(value, str) and len(value) > longest:
            data[key] = _cut(value, longest)
        elif isinstance(value, dict | list):
            _shorten_strings(value, longest)


_STRING_LITERAL = json.JSONDecoder()


def _cut(text: str, longest: int) -> str:
    """The first `longest` characters, marked as cut. Backend text inside our prose is a JSON
    string literal (`hygiene.quoted`): one the cut leaves open is closed before the marker,
    so the backend's text never runs on into ours."""
    kept = text[:longest]
    position = kept.find('"')
    while position != -1:
        try:
            _, end = _STRING_LITERAL.raw_decode(kept, position)
        except ValueError:  # the literal opened here runs past the cut
            trailing = len(kept) - len(kept.rstrip("\\"))
            kept = kept[: len(kept) - trailing % 2] + '"'  # no half escape before the quote
            break
        position = kept.find('"', end)
    return kept + "…[cut]"
