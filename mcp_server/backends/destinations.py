"""The egress policy applied where it cannot be fooled: to the addresses actually connected to.

A datasource declared in the cluster carries an `egress.EgressPolicy` in its Connection. Its
client resolves host names through `PolicedResolver`, which drops every address the policy
refuses from DNS's answer, and aiohttp connects only to what the resolver returned (and
caches only that). So a name that resolves, or is rebound between two lookups, to a loopback,
link-local or API server address is refused when connecting, not only when its URL was
read. aiohttp never asks a resolver about a literal address (`http://169.254.169.254/`):
`literal_refusal` checks that once per client, before anything is sent.
"""

from __future__ import annotations

import logging
import socket
import urllib.parse

import aiohttp
from aiohttp import abc

from ..core import egress, errors

logger = logging.getLogger(__name__)

REFUSED_MESSAGE = (
    "the server's egress policy does not allow connecting to this datasource's address; "
    "nothing was sent (an administrator sets EGRESS_ALLOW and EGRESS_DENY)"
)
"""For the agent: it names neither the address nor why, which only the log says."""


class Refused(OSError):
    """Raised inside aiohttp's connect, so it arrives wrapped in a ClientConnectorError."""


def not_allowed() -> errors.DestinationNotAllowed:
    return errors.DestinationNotAllowed(REFUSED_MESSAGE)


def literal_refusal(policy: egress.EgressPolicy, url: str, datasource_id: str) -> str | None:
    """Why the URL's own host (a literal address, or a denied name) is refused, or None."""
    host = urllib.parse.urlsplit(url).hostname or ""
    why = policy.refusal(host, egress.literal_address(host))
    if why is not None:
        _log(datasource_id, host, why)
    return why


def refused(exc: aiohttp.ClientConnectorError) -> bool:
    return isinstance(exc.os_error, Refused)


class PolicedResolver(abc.AbstractResolver):
    """DNS answers with the refused addresses taken out; none left is `Refused`."""

    def __init__(
        self,
        policy: egress.EgressPolicy,
        datasource_id: str,
        base: abc.AbstractResolver | None = None,
    ) -> None:
        self._policy = policy
        self._datasource_id = datasource_id
        self._owns_base = base is None
        self._base = base if base is not None else aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[abc.ResolveResult]:
        answers = await self._base.resolve(host, port, family)
        kept = []
        why = None
        for answer in answers:
            address = egress.literal_address(answer["host"])
            refusal = (
                self._policy.refusal(host, address)
                if address is not None
                else egress.NOT_ALLOWED  # not an address: nothing to check, so nothing to trust
            )
            if refusal is None:
                kept.append(answer)
            else:
                why = refusal
        if why is not None:
            _log(self._datasource_id, host, why, some_allowed=bool(kept))
        if not kept:
            raise Refused(REFUSED_MESSAGE)
        return kept

    async def close(self) -> None:
        if self._owns_base:
            await self._base.close()


def _log(datasource_id: str, host: str, why: str, *, some_allowed: bool = False) -> None:
    """The administrator's view: which datasource, which host, and which rule (never the
    agent's: its error says only that the policy refused)."""
    logger.warning(
        "egress policy refused an address of %s (%s)%s",
        host,
        why,
        "; connecting to its other addresses" if some_allowed else "",
        extra={"datasource_id": datasource_id},
    )
