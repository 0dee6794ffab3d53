"""Status of a PrometheusDatasource: metav1.Condition-shaped Ready and Reachable.

The desired status is computed in full and compared with what the object already has, so
the controller patches only real changes (every PATCH echoes back as a MODIFIED event; an
unconditional patch would loop). `lastTransitionTime` moves only when a condition's status
flips.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

READY = "Ready"
REACHABLE = "Reachable"


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(
    current: Mapping[str, Any] | None,
    conditions: Sequence[Condition],
    *,
    generation: int | None,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The full desired status, keeping transition times of conditions that did not flip."""
    previous = {c.get("type"): c for c in (current or {}).get("conditions") or []}
    rendered = []
    for condition in conditions:
        before = previous.get(condition.type) or {}
        since = (
            before.get("lastTransitionTime") if before.get("status") == condition.status else None
        )
        rendered.append(
            {
                "type": condition.type,
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message[:32768],
                "observedGeneration": generation,
                "lastTransitionTime": since or now(),
            }
        )
    status: dict[str, Any] = {"conditions": rendered, **extra}
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def differs(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """True when a patch would change anything (transition times aside)."""
    current = current or {}
    for key, value in desired.items():
        if key == "conditions":
            continue
        if current.get(key) != value:
            return True
    strip = ("lastTransitionTime",)
    mine = [{k: v for k, v in c.items() if k not in strip} for c in desired.get("conditions", [])]
    theirs = [
        {k: v for k, v in c.items() if k not in strip} for c in current.get("conditions") or []
    ]
    return sorted(mine, key=str) != sorted(theirs, key=str)


def find(status: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any] | None:
    for condition in (status or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def stored(status: Mapping[str, Any] | None, kind: str) -> Condition | None:
    """A condition as the object stores it, or None when it has none."""
    found = find(status, kind)
    if found is None or found.get("status") not in ("True", "False", "Unknown"):
        return None
    return Condition(
        kind, str(found["status"]), str(found.get("reason") or ""), str(found.get("message") or "")
    )
