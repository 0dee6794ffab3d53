"""Label matchers as PromQL selectors and Alertmanager write them, and whether a label set
satisfies them.

Agents pass matchers as a selector (`{severity="critical"}`, or `HighErrorRate{job="api"}`
where the leading name is the alertname); Alertmanager's API wants one matcher per `filter`
parameter in its own syntax (`severity="critical"`), its silences carry them as JSON, and
its configuration's inhibition rules as text (`alertname=Foo`, `team="a"`). All become
`Matcher`. Regular expressions are anchored at both ends, as both Prometheus and
Alertmanager anchor them; one Python cannot compile (RE2 and Python's `re` differ at the
edges) matches nothing and says so in `Matcher.unknown`.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import promql_parser as pp

from ..core import errors, hygiene

ALERTNAME = "alertname"
MAX_SELECTOR_LENGTH = 4096
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_TEXT = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$", re.DOTALL)


class Op(enum.StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


_FROM_PROMQL = (
    (pp.MatchOp.Equal, Op.EQUAL),
    (pp.MatchOp.NotEqual, Op.NOT_EQUAL),
    (pp.MatchOp.Re, Op.REGEX),
    (pp.MatchOp.NotRe, Op.NOT_REGEX),
)
"""promql-parser's operators are not hashable: compared in turn."""


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str

    def __str__(self) -> str:
        """Alertmanager's syntax, which its `filter` parameter reads back exactly: the value
        quoted, with `\\`, `"` and line breaks escaped as its parser unescapes them."""
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op.value}"{escaped}"'

    @property
    def unknown(self) -> bool:
        """A regex Python cannot compile: whether it matches is not known here."""
        return self.op in (Op.REGEX, Op.NOT_REGEX) and _compiled(self.value) is None

    def matches(self, labels: Mapping[str, str]) -> bool:
        """As Alertmanager matches: a missing label is the empty string."""
        value = labels.get(self.name, "")
        if self.op is Op.EQUAL:
            return value == self.value
        if self.op is Op.NOT_EQUAL:
            return value != self.value
        pattern = _compiled(self.value)
        if pattern is None:
            return False
        return (pattern.fullmatch(value) is not None) == (self.op is Op.REGEX)


@functools.lru_cache(maxsize=512)
def _compiled(regex: str) -> re.Pattern[str] | None:
    try:
        return re.compile(f"(?:{regex})", re.DOTALL)
    except (re.error, RecursionError, OverflowError):
        return None


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def selector(text: str, *, argument: str) -> tuple[Matcher, ...]:
    """An agent's selector: `{a="b",c=~"d"}`, or `Name{...}` / `Name` meaning alertname="Name".
    Its syntax errors are the caller's to fix, with the parser's words."""
    stripped = text.strip()
    if len(stripped) > MAX_SELECTOR_LENGTH:
        raise errors.InvalidArgument(
            f"{argument} is {len(stripped)} characters long; the limit is {MAX_SELECTOR_LENGTH}"
        )
    if stripped.replace(" ", "") in ("", "{}"):
        return ()
    try:
        expr = pp.parse(stripped)
    except ValueError as exc:
        raise errors.InvalidArgument(
            f"{argument}={hygiene.quoted(text)} is not a selector such as "
            f'{{severity="critical"}} or HighErrorRate{{job="api"}}: {hygiene.quoted(exc)}'
        ) from None
    if not isinstance(expr, pp.VectorSelector) or expr.offset or expr.at:
        raise errors.InvalidArgument(
            f"{argument}={hygiene.quoted(text)} is not a plain selector; pass label matchers "
            'such as {severity="critical"}, optionally after the alert name'
        )
    found = [Matcher(ALERTNAME, Op.EQUAL, expr.name)] if expr.name else []
    for matcher in expr.matchers.matchers:
        name = ALERTNAME if matcher.name == "__name__" else matcher.name
        op = next(ours for theirs, ours in _FROM_PROMQL if matcher.op == theirs)
        found.append(Matcher(name, op, matcher.value))
    return tuple(found)


def from_api(raw: Any) -> Matcher | None:
    """A silence's matcher as the API sends it (`isEqual` is absent before 0.22: equal)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    regex, equal = raw.get("isRegex") is True, raw.get("isEqual") is not False
    op = {(False, True): Op.EQUAL, (False, False): Op.NOT_EQUAL, (True, True): Op.REGEX}.get(
        (regex, equal), Op.NOT_REGEX
    )
    return Matcher(raw["name"], op, str(raw.get("value", "")))


def from_text(text: str) -> Matcher | None:
    """One matcher of Alertmanager's configuration (`name="value"`, or an unquoted value),
    unescaped as its parser unescapes; None for text it would refuse."""
    found = _TEXT.match(text)
    if found is None:
        return None
    name, op, raw = found.groups()
    quoted = len(raw) >= 2 and raw[0] == raw[-1] == '"'
    body = raw[1:-1] if quoted else raw
    value, escaped = [], False
    for char in body:
        if escaped:
            value.append({"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            value.append(char)
    if escaped:
        value.append("\\")
    return Matcher(name, Op(op), "".join(value))


def from_mapping(mapping: Any, op: Op) -> list[Matcher]:
    """The deprecated `source_match` / `source_match_re` maps of an inhibition rule."""
    if not isinstance(mapping, dict):
        return []
    return [
        Matcher(str(k), op, str(v)) for k, v in mapping.items() if _NAME.match(str(k)) is not None
    ]
