"""Grafana datasource provisioning documents -> Datasource records.

People already describe their Prometheus endpoints and Alertmanagers in Grafana's format
(provisioning files, kube-prometheus-stack ConfigMaps), so we read it the way Grafana does and
serve only the `type: prometheus` and `type: alertmanager` entries. Every mistake becomes a
Problem naming the source, entry and field; a bad entry is skipped without taking its
neighbours down, and no message ever carries a secret.
"""

from __future__ import annotations

import json
import logging
import pathlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml

from . import datasources, entries

logger = logging.getLogger(__name__)

_FILE_SUFFIXES: Final = frozenset({".yaml", ".yml", ".json"})
_KINDS: Final = {kind.value: kind for kind in datasources.DatasourceKind}
"""Grafana's `type` of the entries we serve (matched case-insensitively)."""
_Datasources = tuple[datasources.Datasource, ...]  # aliases: a field named `datasources`
_Problems = tuple[datasources.Problem, ...]  # would shadow the module in Provisioned's body


class ProvisioningError(Exception):
    """The path itself is unusable (missing, unreadable); flaws inside a file are Problems."""


@dataclass(frozen=True, slots=True)
class Provisioned:
    """One load: the datasources to serve, and every definition that was not served and why."""

    datasources: _Datasources
    problems: _Problems


def parse_document(text: str, source: datasources.Source, env: Mapping[str, str]) -> Provisioned:
    """One provisioning document (YAML or JSON text; JSON is YAML): a file or a ConfigMap key.

    `prune` is accepted and ignored: the registry always mirrors the current documents, which
    is what `prune: true` asks Grafana for. An empty document declares nothing and is fine.
    """
    merger = _Merger()
    merger.add(_read_document(text, source, env))
    return merger.result()


def parse_documents(
    documents: Iterable[tuple[str, datasources.Source]], env: Mapping[str, str]
) -> Provisioned:
    """Several documents loaded as one, in the given order (the data keys of a ConfigMap):
    deletes and duplicate names work across them as across the files of a directory."""
    merger = _Merger()
    for text, source in documents:
        merger.add(_read_document(text, source, env))
    return merger.result()


def load_path(path: pathlib.Path, env: Mapping[str, str]) -> Provisioned:
    """A file, or a directory of *.yaml, *.yml and *.json files read in name order.

    Directories are not recursed into; hidden entries (which covers the `..data` and
    `..2024_...` entries of a mounted ConfigMap) are skipped. Like Grafana, each file's
    `deleteDatasources` is applied before that file's own declarations: a delete removes a name
    declared by an earlier file, while a name declared in the same or a later file stays.
    Duplicate names are reported on every declaration after the first, which keeps the name
    (even when the first is itself invalid: a broken entry never hands its name to another).
    """
    merger = _Merger()
    try:
        if not path.is_dir():
            merger.add(_read_file(path, env))
            return merger.result()
        files = sorted(
            (p for p in path.iterdir() if _is_provisioning_file(p)), key=lambda p: p.name
        )
    except OSError as exc:
        raise ProvisioningError(
            f"cannot read provisioning path {path}: {exc.strerror or exc}"
        ) from exc
    for file in files:
        try:
            merger.add(_read_file(file, env))
        except OSError as exc:  # one unreadable file must not hide the others
            message = f"cannot be read ({exc.strerror or exc}); check its permissions"
            merger.add(_broken(_file_source(file), message))
    return merger.result()


@dataclass(frozen=True, slots=True)
class _Entry:
    """One parsed entry, kept with its position so duplicates can cite the first declaration."""

    name: str | None
    where: str  # "datasources[i]"
    label: str  # "datasources[i] (name 'x')"
    source: datasources.Source
    datasource: datasources.Datasource | None
    problems: tuple[datasources.Problem, ...]


@dataclass(frozen=True, slots=True)
class _Document:
    source: datasources.Source
    deletes: tuple[str, ...] = ()
    entries: tuple[_Entry, ...] = ()
    problems: tuple[datasources.Problem, ...] = ()


class _Merger:
    """Applies documents in order: its deletes, then its declarations; a repeated name loses."""

    def __init__(self) -> None:
        self._first: dict[str, _Entry] = {}
        self._problems: list[datasources.Problem] = []

    def add(self, document: _Document) -> None:
        for name in document.deletes:
            self._first.pop(name, None)
        self._problems.extend(document.problems)
        for entry in document.entries:
            self._problems.extend(entry.problems)
            if entry.name is None:
                continue
            first = self._first.setdefault(entry.name, entry)
            if first is not entry:
                message = (
                    f"duplicate datasource name {entry.name!r} (already declared in "
                    f"{first.source}, {first.where}); rename it or remove one"
                )
                problem = datasources.Problem(entry.source, message, entry.label, "name")
                self._problems.append(problem)

    def result(self) -> Provisioned:
        served = tuple(e.datasource for e in self._first.values() if e.datasource is not None)
        return Provisioned(served, tuple(self._problems))


def _is_provisioning_file(path: pathlib.Path) -> bool:
    return (
        not path.name.startswith(".") and path.suffix.lower() in _FILE_SUFFIXES and path.is_file()
    )


def _file_source(path: pathlib.Path) -> datasources.Source:
    return datasources.Source(datasources.SourceKind.FILE, str(path))


def _read_file(path: pathlib.Path, env: Mapping[str, str]) -> _Document:
    """Raises OSError; text that is not UTF-8 is the file's Problem, not the load's."""
    source = _file_source(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return _broken(source, "is not UTF-8 text; save it as UTF-8")
    return _read_document(text, source, env)


def _broken(source: datasources.Source, message: str, field: str | None = None) -> _Document:
    """A document-level Problem (entry=None): nothing of the document can be trusted."""
    return _Document(source, problems=(datasources.Problem(source, message, None, field),))


def _read_document(text: str, source: datasources.Source, env: Mapping[str, str]) -> _Document:
    """A malformed document declares nothing: we cannot tell what it meant."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        try:  # PyYAML rejects tab-indented JSON, which is still valid JSON
            data = json.loads(text)
        except ValueError:
            return _broken(source, _yaml_message(exc))
    if data is None:
        return _Document(source)
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else "single value"
        return _broken(source, f"must be a mapping with apiVersion and datasources, not a {kind}")
    if data.get("apiVersion", 1) not in (1, "1"):
        return _broken(source, "is not supported; use apiVersion: 1", "apiVersion")
    entries = data.get("datasources")
    if entries is not None and not isinstance(entries, list):
        return _broken(source, "must be a list of datasource entries", "datasources")
    deletes = data.get("deleteDatasources")
    if deletes is not None and not isinstance(deletes, list):
        return _broken(source, "must be a list of {name, orgId} entries", "deleteDatasources")
    names, problems = _read_deletes(deletes or [], source, env)
    parsed = (_read_entry(raw, i, source, env) for i, raw in enumerate(entries or []))
    return _Document(source, names, tuple(e for e in parsed if e is not None), problems)


def _yaml_message(exc: yaml.YAMLError) -> str:
    """Only PyYAML's short problem text and position: its full str() quotes the document."""
    what, where = "it could not be parsed", ""
    if isinstance(exc, yaml.MarkedYAMLError):
        what = exc.problem or exc.context or what
        if exc.problem_mark is not None:
            mark = exc.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
    return f"is not valid YAML{where}: {what}; fix the syntax (JSON is accepted too)"


def _read_deletes(
    items: list[Any], source: datasources.Source, env: Mapping[str, str]
) -> tuple[tuple[str, ...], tuple[datasources.Problem, ...]]:
    """Names to delete; orgId is ignored, as we serve a single namespace of names."""
    names: list[str] = []
    problems: list[datasources.Problem] = []
    for index, item in enumerate(items):
        where = f"deleteDatasources[{index}]"
        if not isinstance(item, dict):
            problems.append(datasources.Problem(source, "must be a mapping with name", where))
            continue
        reader = entries.Reader(item, env)
        name = reader.text("name", required="is required: the datasource name to delete")
        problems.extend(datasources.Problem(source, m, where, f) for f, m in reader.issues)
        if name is not None:
            names.append(name)
    return tuple(names), tuple(problems)


def _read_entry(
    raw: object, index: int, source: datasources.Source, env: Mapping[str, str]
) -> _Entry | None:
    """None for entries of other types: Grafana serves them, we have nothing to do with them."""
    where = f"datasources[{index}]"
    if not isinstance(raw, dict):
        problem = datasources.Problem(source, "must be a mapping with name, type and url", where)
        return _Entry(None, where, where, source, None, (problem,))
    reader = entries.Reader(raw, env)
    type_text = reader.text("type", required="is required; set type: prometheus")
    kind = _KINDS.get((type_text or "prometheus").strip().lower())
    if kind is None:
        logger.debug("%s, %s: skipping type %r", source, where, type_text)
        return None
    name = reader.text("name", required="is required: agents select a datasource by its name")
    label = f"{where} (name {name!r})" if name else where
    built = entries.build(reader, name, source, kind)
    named = datasources.DatasourceId(name) if name else None
    problems = tuple(datasources.Problem(source, m, label, f, named) for f, m in reader.issues)
    return _Entry(name, where, label, source, None if problems else built, problems)
