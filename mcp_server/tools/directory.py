"""list_datasources: the way in, for ten datasources or a thousand.

A small fleet is listed whole. A large one is listed a page at a time in id order, with a
cursor that stays valid while datasources come and go, and, when the caller did not narrow,
with counts per label value so the next call can (`labels="env=prod"`). Every hint names an
argument of this tool that does what the hint says.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import Field

from ..backends import live
from ..core import hygiene
from ..results import budget, models
from ..sources import datasources, registry, selection
from . import arguments

FACETS = ("env", "environment", "cluster", "region", "team", "namespace", "type", "source")
"""Label keys counted for a caller who has not narrowed yet: the ones fleets are cut by."""
FACET_VALUES = 12
"""Values shown per key; the rest are summed under `(other)`."""

TypeFilter = Annotated[
    Literal["Prometheus", "Thanos", "Mimir", "Cortex", "VictoriaMetrics", "Alertmanager"] | None,
    Field(description="only this backend type"),
]
SourceFilter = Annotated[
    Literal["file", "configmap", "prometheusdatasource"] | None,
    Field(description="only those declared there"),
]
Ready = Annotated[
    bool | None,
    Field(description="true: only served ones; false: only declared but not served"),
]
Cursor = Annotated[str | None, Field(description="next_cursor of the previous page")]


async def list_datasources(
    backends: live.Backends,
    datasources: arguments.Datasources = None,
    labels: arguments.Labels = None,
    type: TypeFilter = None,
    source: SourceFilter = None,
    ready: Ready = None,
    limit: arguments.Limit = 100,
    cursor: Cursor = None,
    max_tokens: arguments.MaxTokens = None,
) -> models.DatasourceList:
    """List the datasources you can query: ids, types, labels. Start here: other tools take
    an id from this list. On a large fleet, narrow with labels or datasources (globs)."""
    selector = selection.parse(datasources, labels).narrowed(type=type, source=source)
    snapshot = backends.registry.current()
    served = [] if ready is False else await backends.select(selector, snapshot)
    broken = [] if ready is True else _unavailable(selector, await backends.unavailable(snapshot))
    remaining = [d for d in served if cursor is None or d.id > cursor]
    counts = None
    if selector.everything and ready is None and len(served) > limit:
        counts = _counts(served)

    def listing(shown: list[_Served], cut: bool = False) -> models.DatasourceList:
        next_cursor = shown[-1].id if len(remaining) > len(shown) else None
        hint = _hint(selector, len(served), len(shown), next_cursor, counts, cursor)
        truncated = None
        if cut and next_cursor is not None:
            advice = f"pass cursor={hygiene.quoted(next_cursor)} for the rest, or narrow"
            truncated = models.Truncation(
                returned=len(shown),
                total=len(remaining[:limit]),
                hint=budget.reached(budget.current.get(), advice),
            )
        return models.DatasourceList(
            datasources=[_info(d) for d in shown],
            total=len(served),
            unavailable=broken[:limit] or None,
            counts=counts,
            next_cursor=next_cursor,
            truncated=truncated,
            hint=hint,
        )

    return _fitted(listing, remaining[:limit])


_Served = datasources.Datasource


def _fitted(
    listing: Callable[[list[_Served], bool], models.DatasourceList], page: list[_Served]
) -> models.DatasourceList:
    """The longest leading part of `page` whose listing fits the call's token budget: the
    budget would otherwise cut the list after the cursor was set, and the next page would
    start past datasources nobody saw."""
    result = listing(page, False)
    if _tokens(result) <= budget.current.get() or len(page) <= 1:
        return result
    low, high = 1, len(page) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if _tokens(listing(page[:middle], True)) <= budget.current.get():
            low = middle
        else:
            high = middle - 1
    return listing(page[:low], True)


def _tokens(result: models.DatasourceList) -> int:
    return budget.tokens(budget.encode(result.model_dump(mode="json", exclude_none=True)))


def _info(ds: datasources.Datasource) -> models.DatasourceInfo:
    return models.DatasourceInfo(
        id=ds.id,
        name=ds.name,
        type=ds.type_name,
        uid=ds.uid,
        description=ds.description or None,
        labels=dict(ds.labels) or None,
        source=ds.source.kind.value,
    )


def _unavailable(
    selector: selection.Selector, declared: list[registry.Unavailable]
) -> list[models.UnavailableDatasource]:
    return [
        models.UnavailableDatasource(
            id=broken.id, source=broken.source.kind.value, reason=hygiene.clean(broken.reason)
        )
        for broken in declared
        if selector.matches_declaration(broken.id, broken.source)
    ]


def _counts(served: list[datasources.Datasource]) -> dict[str, dict[str, int]]:
    """Per facet key that some datasource has: its most common values, then `(other)`."""
    per_key: dict[str, collections.Counter[str]] = {}
    for ds in served:
        found = selection.attributes(ds)
        for key in FACETS:
            if key in found:
                per_key.setdefault(key, collections.Counter())[hygiene.clean(found[key])] += 1
    counts: dict[str, dict[str, int]] = {}
    for key, counter in per_key.items():
        common = dict(counter.most_common(FACET_VALUES))
        rest = sum(counter.values()) - sum(common.values())
        counts[key] = common | ({"(other)": rest} if rest else {})
    return counts


def _hint(
    selector: selection.Selector,
    total: int,
    shown: int,
    next_cursor: str | None,
    counts: dict[str, dict[str, int]] | None,
    cursor: str | None,
) -> str | None:
    if total == 0:
        if selector.everything:
            return None if cursor is None else "no datasource after this cursor"
        return (
            f"no datasource you may read matches {selector.describe()}; "
            "call list_datasources without arguments to see counts per label"
        )
    if next_cursor is None:
        return None
    hint = f"{shown} of {total}; pass cursor={hygiene.quoted(next_cursor)} for the next page"
    if counts:
        key, value = _example(counts)
        hint += f", or narrow with labels (e.g. labels={hygiene.quoted(f'{key}={value}')})"
    return hint


def _example(counts: dict[str, dict[str, int]]) -> tuple[str, str]:
    """A label pair from `counts` that narrows the most (the key with the most values)."""
    key = max(counts, key=lambda k: (len(counts[k]), k))
    value = next(v for v in counts[key] if v != "(other)")
    return key, value
