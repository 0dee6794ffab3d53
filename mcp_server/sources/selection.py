"""Which datasources a call is about, as agents write it: ids, globs and labels.

One selector serves `list_datasources` and every tool that answers for many datasources, so
"the prod ones of team payments" means the same everywhere. Matching reads the datasource's
own labels (CR `spec.labels`, Grafana `jsonData.labels`) and three it cannot declare:
`namespace` (of its CR or ConfigMap), `type` and `source`. Those three win over a declared
label of the same name, so a CR cannot pose as another namespace's.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..core import errors, hygiene
from .datasources import Datasource, Source, SourceKind

MAX_NAMES = 200
"""Ids or patterns in one selector: more is a listing, not a selection."""

DERIVED = ("namespace", "type", "source")
"""Attributes every datasource has whether or not it declares labels."""

_LABEL_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,252}")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class Selector:
    """Datasources whose id (or Grafana uid) matches one of `names` (exact, or a glob on the
    id), and whose attributes match every `labels` pair (the value may be a glob)."""

    names: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def everything(self) -> bool:
        return not self.names and not self.labels

    def matches(self, datasource: Datasource) -> bool:
        return self._matches(datasource.id, datasource.uid, attributes(datasource))

    def matches_declaration(self, datasource_id: str, source: Source) -> bool:
        """For a datasource declared but not served: only its id and where it was declared
        are known, so a selector on any other label does not match it."""
        return self._matches(datasource_id, None, _derived(source))

    def narrowed(self, **labels: str | None) -> Selector:
        """This selector with more label pairs (the ones given a value)."""
        extra = {key: value for key, value in labels.items() if value is not None}
        return Selector(self.names, tuple(sorted({**dict(self.labels), **extra}.items())))

    def _matches(self, datasource_id: str, uid: str | None, found: Mapping[str, str]) -> bool:
        if self.names and not any(_named(name, datasource_id, uid) for name in self.names):
            return False
        return all(
            key in found and fnmatch.fnmatchcase(found[key], value) for key, value in self.labels
        )

    def select(self, candidates: Iterable[Datasource]) -> list[Datasource]:
        """The matching datasources, in id order (stable across calls and replicas)."""
        return sorted((d for d in candidates if self.matches(d)), key=lambda d: d.id)

    def describe(self) -> str:
        """The selector as the caller could write it again, quoted as data."""
        parts = []
        if self.names:
            parts.append("datasources=" + hygiene.quoted(",".join(self.names)))
        if self.labels:
            parts.append("labels=" + hygiene.quoted(",".join(f"{k}={v}" for k, v in self.labels)))
        return " ".join(parts) or "every datasource"


def attributes(datasource: Datasource) -> dict[str, str]:
    """What `labels` selectors match: declared labels, then the derived ones over them."""
    found = {key: value for key, value in datasource.labels.items() if key not in DERIVED}
    found["type"] = datasource.type_name
    return found | _derived(datasource.source)


def _derived(source: Source) -> dict[str, str]:
    found = {"source": source.kind.value}
    if source.kind is not SourceKind.FILE:
        found["namespace"] = source.location.split("/", 1)[0]
    return found


def parse(
    datasources: str | Sequence[str] | None, labels: str | Mapping[str, str] | None
) -> Selector:
    """The selector agents wrote; a malformed one is an `InvalidArgument` with an example."""
    return Selector(names=_names(datasources), labels=_labels(labels))


def _names(datasources: str | Sequence[str] | None) -> tuple[str, ...]:
    if datasources is None:
        return ()
    items = datasources.split(",") if isinstance(datasources, str) else list(datasources)
    names = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    if len(names) > MAX_NAMES:
        raise errors.InvalidArgument(
            f"datasources names {len(names)} ids or patterns; at most {MAX_NAMES}: "
            'use a glob such as "prod-*" or labels such as "env=prod"'
        )
    return names


def _labels(labels: str | Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if labels is None:
        return ()
    if isinstance(labels, str):
        pairs = []
        for item in labels.split(","):
            if not item.strip():
                continue
            key, equals, value = item.partition("=")
            if not equals:
                raise errors.InvalidArgument(
                    f"labels: {hygiene.quoted(item.strip())} is not key=value; "
                    'write e.g. "env=prod,team=payments"'
                )
            pairs.append((key.strip(), value.strip()))
    else:
        pairs = [(str(k).strip(), str(v).strip()) for k, v in labels.items()]
    for key, _ in pairs:
        if not _LABEL_KEY.fullmatch(key):
            raise errors.InvalidArgument(
                f"labels: {hygiene.quoted(key)} is not a label name; "
                'write e.g. "env=prod,team=payments"'
            )
    return tuple(sorted(dict(pairs).items()))


def _named(name: str, datasource_id: str, uid: str | None) -> bool:
    if name == datasource_id or (uid is not None and name == uid):
        return True
    return bool(_GLOB.search(name)) and fnmatch.fnmatchcase(datasource_id, name)
