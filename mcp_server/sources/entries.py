"""One Grafana provisioning entry -> a Datasource record, every field read the way Grafana
reads it and every mistake kept as an issue naming the field (`Reader`), never a secret."""

from __future__ import annotations

import contextlib
import math
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any, Final

from pydantic import SecretStr

from ..core import errors, timespec
from . import datasources, tenancy

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


class Reader:
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

    def texts(self, path: str) -> list[str]:
        """A list of non-empty strings (each expanded), or one comma-separated string."""
        raw = self._lookup(path)
        if raw in (None, ""):
            return []
        if isinstance(raw, str):
            raw = raw.split(",")
        if not isinstance(raw, list) or not all(isinstance(i, str) and i.strip() for i in raw):
            self.fail(path, "must be a list of datasource names, e.g. [prometheus-main]")
            return []
        expanded = [self._expand(path, item.strip()) for item in raw]
        return [item for item in expanded if isinstance(item, str) and item]

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


def build(
    reader: Reader,
    name: str | None,
    source: datasources.Source,
    kind: datasources.DatasourceKind = datasources.DatasourceKind.PROMETHEUS,
) -> datasources.Datasource | None:
    """Reads every field even after a failure, so one pass reports everything to fix.

    An Alertmanager has no query API: the fields of one (httpMethod, prometheusType,
    timeInterval) are not read for it, as Grafana ignores them there too."""
    prometheus = kind is datasources.DatasourceKind.PROMETHEUS
    url = _url(reader)
    headers, basic_auth = _headers(reader), _basic_auth(reader)
    profile = _tenancy(reader, url or "", headers)
    connection = datasources.Connection(
        url=url or "",
        http_method=_http_method(reader) if prometheus else "GET",
        timeout_seconds=_timeout(reader),
        headers=headers,
        basic_auth=basic_auth,
        tls=_tls(reader),
        query_parameters=_query_parameters(reader),
        # whoever may write a provisioning ConfigMap must not choose where tokens go
        forward_caller_token=source.kind is datasources.SourceKind.FILE
        and tenancy.forwards_caller_token(
            profile,
            own_credentials=basic_auth is not None
            or any(name.lower() == "authorization" for name, _ in headers),
        ),
        tenancy=profile,
    )
    prometheus_type = (
        _prometheus_type(reader) if prometheus else datasources.PrometheusType.PROMETHEUS
    )
    scrape_interval = _scrape_interval(reader) if prometheus else None
    alerts_from = () if prometheus else _alertmanager(reader)
    uid = (reader.text("uid") or "").strip() or None
    labels = _labels(reader)
    if name is None or url is None or reader.issues:
        return None
    return datasources.Datasource(
        id=datasources.DatasourceId(name),
        name=name,
        source=source,
        connection=connection,
        prometheus_type=prometheus_type,
        kind=kind,
        alerts_from=alerts_from,
        uid=uid,
        labels=datasources.frozen_labels(labels),
        scrape_interval_seconds=scrape_interval,
    )


def _alertmanager(reader: Reader) -> tuple[datasources.DatasourceId, ...]:
    """Only the Prometheus Alertmanager's API v2 is served; Grafana's default implementation
    is Mimir's, whose API lives under other paths, so it must be said, not assumed."""
    implementation = (reader.text("jsonData.implementation") or "").strip().lower()
    if implementation != "prometheus":
        found = f"is {implementation!r}" if implementation else "is not set (Grafana: mimir)"
        reader.fail(
            "jsonData.implementation",
            f"{found}; only prometheus (the Prometheus Alertmanager, API v2) is served",
        )
    return tuple(datasources.DatasourceId(i) for i in reader.texts("jsonData.alertsFrom"))


def _url(reader: Reader) -> str | None:
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


def _http_method(reader: Reader) -> datasources.HttpMethod:
    method = (reader.text("jsonData.httpMethod") or "POST").strip().upper()
    if method == "GET":
        return "GET"
    if method != "POST":
        reader.fail("jsonData.httpMethod", f"must be GET or POST, got {method!r}")
    return "POST"


def _timeout(reader: Reader) -> float | None:
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


def _scrape_interval(reader: Reader) -> float | None:
    """Grafana's "scrape interval" setting, a duration such as 15s or 1m."""
    text = reader.text("jsonData.timeInterval")
    if not text or not text.strip():
        return None
    try:
        return timespec.parse_duration(text, argument="jsonData.timeInterval")
    except errors.InvalidArgument:
        reader.fail("jsonData.timeInterval", f"must be a duration such as 15s or 1m, got {text!r}")
        return None


def _labels(reader: Reader) -> dict[str, str]:
    """`jsonData.labels` (ours, Grafana ignores it): what fleets are selected by."""
    value = reader.value("jsonData.labels")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        reader.fail("jsonData.labels", "must map label names to strings, e.g. {env: prod}")
        return {}
    return {k: str(v) for k, v in value.items()}


def _tenancy(
    reader: Reader, url: str, headers: tuple[tuple[str, SecretStr], ...]
) -> tenancy.Tenancy | None:
    """`jsonData.tenancy` (ours, Grafana ignores it): see `sources.tenancy`."""
    value = reader.value("jsonData.tenancy")
    if value is None or value is _FAILED:
        return None
    try:
        return tenancy.parse(value, url, "jsonData.tenancy", [name for name, _ in headers])
    except ValueError as exc:
        reader.fail("jsonData.tenancy", str(exc).removeprefix("jsonData.tenancy").lstrip(". "))
        return None


def _query_parameters(reader: Reader) -> tuple[tuple[str, str], ...]:
    text = reader.text("jsonData.customQueryParameters")
    if not text:
        return ()
    try:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:  # its message quotes the text, which may hold a token
        reader.fail("jsonData.customQueryParameters", "must look like a=1&b=2 (URL-encoded)")
        return ()
    return tuple(pairs)


def _prometheus_type(reader: Reader) -> datasources.PrometheusType:
    text = reader.text("jsonData.prometheusType")
    if text and text.strip():
        try:
            return datasources.PrometheusType.parse(text)
        except ValueError as exc:
            reader.fail("jsonData.prometheusType", str(exc))
    return datasources.PrometheusType.PROMETHEUS


def _basic_auth(reader: Reader) -> datasources.BasicAuth | None:
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


def _headers(reader: Reader) -> tuple[tuple[str, SecretStr], ...]:
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


def _tls(reader: Reader) -> datasources.TLSSettings:
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


def _pem(reader: Reader, path: str, switch: str) -> SecretStr | None:
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
