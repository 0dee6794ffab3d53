"""Grafana datasource provisioning documents -> Datasource records.

People already describe their Prometheus endpoints in Grafana's format (provisioning files,
kube-prometheus-stack ConfigMaps), so we read it the way Grafana does and serve only the
`type: prometheus` entries. Every mistake becomes a Problem naming the source, entry and field;
a bad entry is skipped without taking its neighbours down, and no message ever carries a secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import pathlib
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml
from pydantic import SecretStr

from ..core import errors, timespec
from . import datasources

logger = logging.getLogger(__name__)

_FILE_SUFFIXES: Final = frozenset({".yaml", ".yml", ".json"})
_VAR: Final = r"[A-Za-z_][A-Za-z0-9_]*"
# `$$` | `${NAME}` | `$NAME` | a `${` that is not a valid reference
_REFERENCE: Final = re.compile(rf"\$(?:(\$)|\{{({_VAR})\}}|({_VAR})|(\{{))")
_HEADER_NAME_KEY: Final = re.compile(r"httpHeaderName([0-9]+)")
_HEADER_VALUE_KEY: Final = re.compile(r"httpHeaderValue([0-9]+)")
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_TRUE: Final = frozenset({"true", "t", "1"})  # what Grafana's strconv.ParseBool accepts
_FALSE: Final = frozenset({"false", "f", "0"})
_FAILED: Final = object()  # a value whose env expansion failed; the issue is already recorded
_URL_CREDENTIALS: Final = (
    "must not contain user:password@; use basicAuth, basicAuthUser and "
    "secureJsonData.basicAuthPassword"
)
_LITERAL: Final = "or write $$ for a literal $"
_PASSWORD: Final = "secureJsonData.basicAuthPassword"  # noqa: S105 - a field path
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
        reader = _Reader(item, env)
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
    reader = _Reader(raw, env)
    kind = reader.text("type", required="is required; set type: prometheus")
    if kind is not None and kind.strip().lower() != "prometheus":
        logger.debug("%s, %s: skipping type %r", source, where, kind)
        return None
    name = reader.text("name", required="is required: agents select a datasource by its name")
    label = f"{where} (name {name!r})" if name else where
    built = _build(reader, name, source)
    named = datasources.DatasourceId(name) if name else None
    problems = tuple(datasources.Problem(source, m, label, f, named) for f, m in reader.issues)
    return _Entry(name, where, label, source, None if problems else built, problems)


class _Reader:
    """Reads one raw entry, expanding `$VAR` on read, and collects every issue it finds.

    Expansion follows Grafana: `$NAME` and `${NAME}` come from env, `$$` is a literal `$`, in
    one pass (an expanded value is never expanded again). Only the fields we use are read, so
    an unset variable in a field we ignore (say, an exemplar link) does not cost the datasource.
    """

    def __init__(self, raw: dict[Any, Any], env: Mapping[str, str]) -> None:
        self._raw = raw
        self._env = env
        self._bad_sections: set[str] = set()
        self.issues: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.issues.append((path, message))

    def keys(self, section: str) -> list[str]:
        return [key for key in self._section(section) if isinstance(key, str)]

    def present(self, path: str) -> bool:
        return self._lookup(path) not in (None, "")

    def value(self, path: str) -> object:
        raw = self._lookup(path)
        return self._expand(path, raw) if isinstance(raw, str) else raw

    def text(self, path: str, *, required: str | None = None) -> str | None:
        """A string (integers are taken as written); None when absent or already reported."""
        value = self.value(path)
        if value is _FAILED:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            self.fail(path, "must be a string; quote the value")
            return None
        if required and not (value or "").strip():
            self.fail(path, required)
            return None
        return value

    def flag(self, path: str) -> bool:
        value = self.value(path)
        if value is None or value is _FAILED or isinstance(value, bool):
            return value is True
        word = str(value).strip().lower() if isinstance(value, str | int) else "?"
        if word in _TRUE or word in _FALSE or not word:
            return word in _TRUE
        self.fail(path, "must be true or false")
        return False

    def _section(self, name: str) -> dict[Any, Any]:
        block = self._raw.get(name)
        if isinstance(block, dict):
            return block
        if block is not None and name not in self._bad_sections:
            self._bad_sections.add(name)
            self.fail(name, "must be a mapping of settings")
        return {}

    def _lookup(self, path: str) -> object:
        head, _, tail = path.partition(".")
        return self._section(head).get(tail) if tail else self._raw.get(head)

    def _expand(self, path: str, text: str) -> object:
        missing: dict[str, None] = {}
        malformed = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal malformed
            dollar, braced, plain, _ = match.groups()
            variable = braced or plain
            if dollar:
                return "$"
            if variable is None:
                malformed = True
            elif variable in self._env:
                return self._env[variable]
            else:
                missing[variable] = None
            return ""

        expanded = _REFERENCE.sub(substitute, text)
        for variable in missing:
            message = f"uses ${variable}, which is not set in the environment; set it, {_LITERAL}"
            self.fail(path, message)
        if malformed:
            self.fail(path, f"has a '${{' that is not a ${{NAME}} reference; fix it, {_LITERAL}")
        return _FAILED if missing or malformed else expanded


def _build(
    reader: _Reader, name: str | None, source: datasources.Source
) -> datasources.Datasource | None:
    """Reads every field even after a failure, so one pass reports everything to fix."""
    url = _url(reader)
    connection = datasources.Connection(
        url=url or "",
        http_method=_http_method(reader),
        timeout_seconds=_timeout(reader),
        headers=_headers(reader),
        basic_auth=_basic_auth(reader),
        tls=_tls(reader),
        query_parameters=_query_parameters(reader),
    )
    prometheus_type = _prometheus_type(reader)
    scrape_interval = _scrape_interval(reader)
    uid = (reader.text("uid") or "").strip() or None
    if name is None or url is None or reader.issues:
        return None
    return datasources.Datasource(
        id=datasources.DatasourceId(name),
        name=name,
        source=source,
        connection=connection,
        prometheus_type=prometheus_type,
        uid=uid,
        scrape_interval_seconds=scrape_interval,
    )


def _url(reader: _Reader) -> str | None:
    """Keeps a sub-path such as /prometheus; credentials would end up in a plain-text field."""
    url = reader.text("url", required="is required, e.g. http://prometheus:9090")
    if url is None:
        return None
    url = url.strip()
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        reader.fail("url", "is not a valid URL; expected e.g. http://prometheus:9090/prometheus")
        return None
    checks = (
        (url.isprintable() and " " not in url, "must not contain spaces or control characters"),
        ("://" in url, "must start with http:// or https://, e.g. http://prometheus:9090"),
        (parts.scheme.lower() in ("http", "https"), f"uses scheme {parts.scheme!r}, not http(s)"),
        (bool(parts.hostname), "has no host; expected e.g. http://prometheus:9090"),
        (parts.username is None and parts.password is None, _URL_CREDENTIALS),
    )
    for ok, message in checks:
        if not ok:
            reader.fail("url", message)
            return None
    return url[:-1] if url.endswith("/") and not parts.query and not parts.fragment else url


def _http_method(reader: _Reader) -> datasources.HttpMethod:
    method = (reader.text("jsonData.httpMethod") or "POST").strip().upper()
    if method == "GET":
        return "GET"
    if method != "POST":
        reader.fail("jsonData.httpMethod", f"must be GET or POST, got {method!r}")
    return "POST"


def _timeout(reader: _Reader) -> float | None:
    value = reader.value("jsonData.timeout")
    if value in (None, "") or value is _FAILED:
        return None
    seconds = math.nan
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            seconds = float(value)
    if not (math.isfinite(seconds) and seconds > 0):
        reader.fail("jsonData.timeout", "must be a positive number of seconds, e.g. 30")
        return None
    return seconds


def _scrape_interval(reader: _Reader) -> float | None:
    """Grafana's "scrape interval" setting, a duration such as 15s or 1m."""
    text = reader.text("jsonData.timeInterval")
    if not text or not text.strip():
        return None
    try:
        return timespec.parse_duration(text, argument="jsonData.timeInterval")
    except errors.InvalidArgument:
        reader.fail("jsonData.timeInterval", f"must be a duration such as 15s or 1m, got {text!r}")
        return None


def _query_parameters(reader: _Reader) -> tuple[tuple[str, str], ...]:
    text = reader.text("jsonData.customQueryParameters")
    if not text:
        return ()
    try:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:  # its message quotes the text, which may hold a token
        reader.fail("jsonData.customQueryParameters", "must look like a=1&b=2 (URL-encoded)")
        return ()
    return tuple(pairs)


def _prometheus_type(reader: _Reader) -> datasources.PrometheusType:
    text = reader.text("jsonData.prometheusType")
    if text and text.strip():
        try:
            return datasources.PrometheusType.parse(text)
        except ValueError as exc:
            reader.fail("jsonData.prometheusType", str(exc))
    return datasources.PrometheusType.PROMETHEUS


def _basic_auth(reader: _Reader) -> datasources.BasicAuth | None:
    if not reader.flag("basicAuth"):
        return None
    needed = "is required because basicAuth is true"
    user = reader.text("basicAuthUser", required=needed)
    if not reader.present(_PASSWORD):
        moved = reader.present("basicAuthPassword")
        reader.fail(_PASSWORD, needed + ("; move the top-level one here" if moved else ""))
        return None
    password = reader.text(_PASSWORD)
    if user is None or password is None:
        return None
    return datasources.BasicAuth(user, SecretStr(password))


def _headers(reader: _Reader) -> tuple[tuple[str, SecretStr], ...]:
    """Every httpHeaderNameN/httpHeaderValueN pair, by N; each header may be set only once."""
    names = {m[1] for k in reader.keys("jsonData") if (m := _HEADER_NAME_KEY.fullmatch(k))}
    values = {m[1] for k in reader.keys("secureJsonData") if (m := _HEADER_VALUE_KEY.fullmatch(k))}
    headers: list[tuple[str, SecretStr]] = []
    seen: dict[str, str] = {}
    for n in sorted(names | values, key=lambda s: (int(s), s)):
        name_path, value_path = f"jsonData.httpHeaderName{n}", f"secureJsonData.httpHeaderValue{n}"
        if not reader.present(name_path):
            if reader.present(value_path):
                reader.fail(name_path, f"is missing but {value_path} is set; add the name")
            continue
        if not reader.present(value_path):
            reader.fail(value_path, f"is missing but {name_path} is set; add the value")
            continue
        name, value = reader.text(name_path), reader.text(value_path)
        if name is None or value is None:
            continue
        if not _TOKEN.fullmatch(name):
            reader.fail(name_path, f"{name!r} is not a valid HTTP header name")
        elif any(c in value for c in "\r\n\0"):
            reader.fail(value_path, "contains a line break or NUL, which a header cannot carry")
        elif name.lower() in seen:
            reader.fail(name_path, f"header {name!r} is already set by {seen[name.lower()]}")
        else:
            seen[name.lower()] = name_path
            headers.append((name, SecretStr(value)))
    return tuple(headers)


def _tls(reader: _Reader) -> datasources.TLSSettings:
    ca = cert = key = None
    if reader.flag("jsonData.tlsAuthWithCACert"):
        ca = _pem(reader, "secureJsonData.tlsCACert", "jsonData.tlsAuthWithCACert")
    if reader.flag("jsonData.tlsAuth"):
        cert = _pem(reader, "secureJsonData.tlsClientCert", "jsonData.tlsAuth")
        key = _pem(reader, "secureJsonData.tlsClientKey", "jsonData.tlsAuth")
    return datasources.TLSSettings(
        insecure_skip_verify=reader.flag("jsonData.tlsSkipVerify"),
        ca_pem=ca,
        client_cert_pem=cert,
        client_key_pem=key,
        server_name=(reader.text("jsonData.serverName") or "").strip() or None,
    )


def _pem(reader: _Reader, path: str, switch: str) -> SecretStr | None:
    """PEM text, not a path: a file path here is the usual mistake, so say so."""
    if not reader.present(path):
        reader.fail(path, f"is required because {switch} is true; paste the PEM text")
        return None
    text = reader.text(path)
    if text is None:
        return None
    if "-----BEGIN" not in text:
        reader.fail(path, "is not PEM text (no -----BEGIN line); paste the content, not a path")
        return None
    return SecretStr(text)
