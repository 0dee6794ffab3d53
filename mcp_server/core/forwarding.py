"""Where a caller's own token may be forwarded (FORWARD_TOKEN_ALLOWED_URLS).

A datasource that forwards the caller's token sends every caller's Kubernetes token to its
URL, so whoever declares one in the cluster would choose where everyone's tokens go. An
administrator lists the destinations instead; empty (the default) forwards nowhere.

Each entry is either a URL prefix, `scheme://host[:port][/path]`, matching URLs with that
scheme, host and port (the scheme's default when absent) whose path is the entry's or lies
below it; or a bare `host[:port]`, matching `https` URLs of that host (any port when none is
given) and any path. A token is never sent over plain `http` unless an entry says `http://`
itself.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")


@dataclass(frozen=True, slots=True)
class _Destination:
    scheme: str  # "https" for a bare host
    host: str
    port: int | None  # None: any port (a bare host without one)
    path: str  # "" or "/a/b" without a trailing slash

    def admits(self, scheme: str, host: str, port: int, path: str) -> bool:
        if (scheme, host) != (self.scheme, self.host):
            return False
        if self.port is not None and port != self.port:
            return False
        return not self.path or path == self.path or path.startswith(self.path + "/")


@dataclass(frozen=True, slots=True)
class ForwardingPolicy:
    destinations: tuple[_Destination, ...] = ()

    def allows(self, url: str) -> bool:
        parts = _split(url)
        return parts is not None and any(d.admits(*parts) for d in self.destinations)

    def only_over_http(self, url: str) -> bool:
        """Would `url` be allowed over https? Says why a plain-http URL was refused."""
        parts = _split(url)
        if parts is None or parts[0] != "http":
            return False
        secure = ("https", parts[1], _DEFAULT_PORTS["https"] if parts[2] == 80 else parts[2])
        return any(d.admits(*secure, parts[3]) for d in self.destinations)


def parse(entries: Iterable[str]) -> ForwardingPolicy:
    """Raises ValueError naming FORWARD_TOKEN_ALLOWED_URLS and the entry."""
    return ForwardingPolicy(tuple(_destination(e.strip()) for e in entries if e.strip()))


def _destination(entry: str) -> _Destination:
    problem = f"FORWARD_TOKEN_ALLOWED_URLS: {entry!r} is not a host or an http(s) URL prefix"
    if "://" not in entry:
        if not _HOST_PORT.match(entry):
            raise ValueError(problem)
        parsed = urllib.parse.urlsplit("https://" + entry)
        explicit_port = _port(parsed, problem)
        return _Destination("https", _host(parsed, problem), explicit_port, "")
    parsed = urllib.parse.urlsplit(entry)
    if parsed.scheme.lower() not in _DEFAULT_PORTS or parsed.query or parsed.fragment:
        raise ValueError(problem)
    if parsed.username is not None or parsed.password is not None:
        raise ValueError(problem + " (it must not carry credentials)")
    scheme = parsed.scheme.lower()
    port = _port(parsed, problem) or _DEFAULT_PORTS[scheme]
    return _Destination(scheme, _host(parsed, problem), port, parsed.path.rstrip("/"))


def _host(parsed: urllib.parse.SplitResult, problem: str) -> str:
    if not parsed.hostname:
        raise ValueError(problem)
    return parsed.hostname.lower().rstrip(".")


def _port(parsed: urllib.parse.SplitResult, problem: str) -> int | None:
    try:
        return parsed.port
    except ValueError:
        raise ValueError(problem) from None


def _split(url: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path) of a datasource URL; None if it is not http(s)."""
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError:
        return None
    scheme = parsed.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parsed.hostname:
        return None
    segments = urllib.parse.unquote(parsed.path).split("/")
    if "." in segments or ".." in segments:
        return None  # `/allowed/../elsewhere`: a path prefix must mean what it says
    host = parsed.hostname.lower().rstrip(".")
    return scheme, host, port or _DEFAULT_PORTS[scheme], parsed.path.rstrip("/")
