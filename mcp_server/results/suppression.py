"""Which silences and inhibitions apply to an alert, and which almost do.

"Almost" is the question behind most "why is this paging although we silenced it?": a
silence or inhibition rule that differs from the alert by one label (a typo, another
instance, a label the alert lacks). One failing matcher is a near miss when another of the
same side holds (a silence of the same alert for another queue), or when its value is
close to the alert's (a typo); a silence of another alert name is not one, unless the name
is close. Matching is Alertmanager's: every matcher must hold,
a missing label is the empty string, regexes are anchored. A silence's own state decides
whether it applies now (`active`), later (`pending`) or no longer (`expired`, shown when
it ended within the window the caller gives).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from ..core import hygiene, raw, timespec
from ..promql import matchers
from . import alerting, converting, models

MAX_LISTED = 5
CLOSE_RATIO = 0.8
"""difflib's similarity from which a value reads as a typo of the alert's (one letter off
in a 10-letter name is 0.9)."""


class Difference(models.Result):
    matcher: str = Field(description="the one matcher the alert fails, Alertmanager syntax")
    label: str
    alert_value: str | None = Field(None, description="the alert's value; absent: no label")


class SilenceMatch(alerting.SilenceFields):
    state: str = Field(description="active, pending or expired")
    differs: Difference | None = Field(None, description="why it almost applies")


class Silences(models.Result):
    applying: list[SilenceMatch] | None = Field(None, description="active: muting it now")
    pending: list[SilenceMatch] | None = Field(None, description="will mute it from starts_at")
    expired: list[SilenceMatch] | None = Field(
        None, description="muted it and ended within the window, latest first"
    )
    almost: list[SilenceMatch] | None = Field(None, description="differ by one matcher")


class InhibitingAlert(models.Result):
    name: str
    labels: dict[str, str] | None = None
    fingerprint: str


class InhibitionRule(models.Result):
    source_matchers: list[str]
    target_matchers: list[str]
    equal: list[str] | None = None


class NearInhibition(models.Result):
    rule: InhibitionRule
    source: InhibitingAlert | None = Field(None, description="a firing alert it would take")
    differs: Difference


class Inhibitions(models.Result):
    inhibited_by: list[InhibitingAlert] | None = None
    almost: list[NearInhibition] | None = Field(None, description="rules one label away")


def silences(
    raw_silences: Sequence[Any], labels: Mapping[str, str], expired_after_ms: int
) -> Silences:
    found: dict[str, list[SilenceMatch]] = {"active": [], "pending": [], "expired": []}
    almost: list[SilenceMatch] = []
    for entry in raw_silences:
        state = alerting.silence_state(entry)
        listed = [m for m in alerting.silence_matchers(entry) if m is not None]
        failing = [m for m in listed if not m.matches(labels)]
        if (
            not listed
            or len(failing) > 1
            or (failing and not _near_miss(failing[0], listed, labels))
        ):
            continue
        if not failing and state in found:
            ended = timespec.moment_milliseconds(str(raw.fields(entry, dict).get("endsAt", "")))
            if state != "expired" or (ended or 0) >= expired_after_ms:
                found[state].append(_silence(entry, state, None))
        elif failing and state != "expired":
            almost.append(_silence(entry, state, _difference(failing[0], labels)))
    expired = sorted(found["expired"], key=lambda s: s.ends_at or "", reverse=True)
    return Silences(
        applying=found["active"][:MAX_LISTED] or None,
        pending=found["pending"][:MAX_LISTED] or None,
        expired=expired[:MAX_LISTED] or None,
        almost=almost[:MAX_LISTED] or None,
    )


def _silence(value: Any, state: str, differs: Difference | None) -> SilenceMatch:
    shaped = alerting.silence(value)
    return SilenceMatch(
        id=shaped.id,
        state=state,
        matchers=shaped.matchers,
        created_by=shaped.created_by,
        comment=shaped.comment,
        starts_at=shaped.starts_at,
        ends_at=shaped.ends_at,
        differs=differs,
    )


def _near_miss(
    failing: matchers.Matcher, side: Sequence[matchers.Matcher], labels: Mapping[str, str]
) -> bool:
    """Whether the one matcher `failing` of `side` makes a near miss (module docstring)."""
    value = labels.get(failing.name)
    close = (
        failing.op is matchers.Op.EQUAL
        and value is not None
        and difflib.SequenceMatcher(None, failing.value, value).ratio() >= CLOSE_RATIO
    )
    return close or (failing.name != matchers.ALERTNAME and len(side) > 1)


def _difference(matcher: matchers.Matcher, labels: Mapping[str, str]) -> Difference:
    value = labels.get(matcher.name)
    return Difference(
        matcher=hygiene.clean(str(matcher)),
        label=hygiene.clean(matcher.name),
        alert_value=hygiene.clean(value) if value is not None else None,
    )


Rule = tuple[list[matchers.Matcher], list[matchers.Matcher], list[str]]
"""An inhibition rule: source matchers, target matchers, equal labels."""


def inhibition_rules(raw_rules: Sequence[Any]) -> list[Rule]:
    """The rules of Alertmanager's configuration, old (`source_match`) and new forms."""
    rules: list[Rule] = []
    for entry in raw_rules:
        rule = raw.fields(entry, dict)
        sides = []
        for side in ("source", "target"):
            found = [matchers.from_text(str(t)) for t in raw.elements(rule.get(f"{side}_matchers"))]
            found += matchers.from_mapping(rule.get(f"{side}_match"), matchers.Op.EQUAL)
            found += matchers.from_mapping(rule.get(f"{side}_match_re"), matchers.Op.REGEX)
            sides.append([m for m in found if m is not None])
        rules.append((sides[0], sides[1], [str(e) for e in raw.elements(rule.get("equal"))]))
    return rules


def inhibitions(alert: Any, others: Sequence[Any], rules: Sequence[Rule]) -> Inhibitions:
    """What inhibits `alert` (Alertmanager's own verdict), and the rules one label away:
    its target side matches but the firing source differs in one `equal` label, or its
    target side misses the alert by one matcher while a source with equal labels fires."""
    labels = converting.labels(raw.fields(alert, dict).get("labels"))
    by_fingerprint = {str(raw.fields(o, dict).get("fingerprint", "")): o for o in others}
    status = raw.fields(raw.fields(alert, dict).get("status"), dict)
    inhibited_by = [
        _inhibiting(by_fingerprint[f])
        if f in by_fingerprint
        else InhibitingAlert(name="", fingerprint=hygiene.clean(f))
        for f in raw.elements(status.get("inhibitedBy"))
    ]
    firing = [o for o in others if alerting.state_of(o) != "unprocessed" and o is not alert]
    almost: list[NearInhibition] = []
    for source_side, target_side, equal in rules:
        near = _near(labels, firing, source_side, target_side, equal)
        if near is not None and not inhibited_by:
            almost.append(near)
    return Inhibitions(inhibited_by=inhibited_by or None, almost=almost[:MAX_LISTED] or None)


def _near(
    labels: Mapping[str, str],
    firing: Sequence[Any],
    source_side: list[matchers.Matcher],
    target_side: list[matchers.Matcher],
    equal: list[str],
) -> NearInhibition | None:
    target_failing = [m for m in target_side if not m.matches(labels)]
    if len(target_failing) > 1 or (
        target_failing and not _near_miss(target_failing[0], target_side, labels)
    ):
        return None
    rule = InhibitionRule(
        source_matchers=[hygiene.clean(str(m)) for m in source_side],
        target_matchers=[hygiene.clean(str(m)) for m in target_side],
        equal=[hygiene.clean(e) for e in equal] or None,
    )
    for other in firing:
        source = converting.labels(raw.fields(other, dict).get("labels"))
        if not matchers.matches_all(source_side, source):
            continue
        unequal = [e for e in equal if source.get(e, "") != labels.get(e, "")]
        if not target_failing and len(unequal) == 1:
            wanted = matchers.Matcher(unequal[0], matchers.Op.EQUAL, source.get(unequal[0], ""))
            return NearInhibition(
                rule=rule, source=_inhibiting(other), differs=_difference(wanted, labels)
            )
        if target_failing and not unequal:
            return NearInhibition(
                rule=rule, source=_inhibiting(other), differs=_difference(target_failing[0], labels)
            )
    return None


def _inhibiting(value: Any) -> InhibitingAlert:
    shaped = alerting.alert(value)
    return InhibitingAlert(name=shaped.name, labels=shaped.labels, fingerprint=shaped.fingerprint)
