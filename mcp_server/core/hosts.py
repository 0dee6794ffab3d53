"""Host names and origins: which the server answers to (ALLOWED_HOSTS, ALLOWED_ORIGINS),
and which bind addresses are loopback. Read once, with the settings."""

from __future__ import annotations

import ipaddress
import re

from . import errors


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_HOST = r"(\[[0-9a-f:.]+\]|[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?)(:[0-9]{1,5})?"
_HOST_ENTRY = re.compile(_HOST, re.IGNORECASE)
_ORIGIN_ENTRY = re.compile(f"https?://{_HOST}", re.IGNORECASE)


def check_allowed(
    host: str, allowed_hosts: tuple[str, ...], allowed_origins: tuple[str, ...]
) -> None:
    """A wide bind must say which names it answers to: the server cannot know its own names
    (a Service, a Route), and guessing lets a DNS-rebinding page through."""
    if not allowed_hosts and not is_loopback(host):
        raise errors.ConfigurationError(
            f"HOST={host} is not a loopback address and ALLOWED_HOSTS is unset: list "
            "the host names clients reach this server by (comma-separated, e.g. "
            "proms-mcp.monitoring.svc; the Helm chart sets its own), or ALLOWED_HOSTS=* to "
            "answer any Host header (no DNS-rebinding protection)"
        )
    for entry in allowed_hosts:
        if entry != "*" and not _HOST_ENTRY.fullmatch(entry):
            raise errors.ConfigurationError(
                f"ALLOWED_HOSTS: {entry!r} is not a host name with an optional :port "
                "(no scheme, no path), e.g. proms-mcp.example.com or proms-mcp.example.com:443"
            )
    for entry in allowed_origins:
        if entry != "*" and not _ORIGIN_ENTRY.fullmatch(entry):
            raise errors.ConfigurationError(
                f"ALLOWED_ORIGINS: {entry!r} is not an origin: scheme://host[:port] without a "
                "path, e.g. https://agents.example.com"
            )
