"""What an administrator allows datasources declared in the cluster (CRs and ConfigMaps).

Whoever may create a PrometheusDatasource or label a ConfigMap chooses a URL; the server
then connects there from its own network position, and, with `forwardCallerToken`, sends
every caller's Kubernetes token along. So before such a datasource is served:

- forwarding the caller's token must go to a destination in FORWARD_TOKEN_ALLOWED_URLS
  (`ForwardingNotAllowed` otherwise; the Grafana provisioning format has no way to ask for
  it, so a ConfigMap never forwards); an OpenShift tenancy profile forwards it too, to its
  URL and its rules URL, and is held to the same list;
- the URL's host must not be refused by the egress policy on its face: a literal address
  or a denied name (`DestinationNotAllowed`). Every admitted datasource carries the policy,
  and its client applies it again to each address DNS gives it when connecting.

Datasources from the provisioning file are not admitted here: the person running the
server wrote them, and may point them anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.parse
from dataclasses import dataclass, replace

from mcp_server.core import egress, errors, forwarding, settings
from mcp_server.sources import datasources, tenancy

from . import specs

logger = logging.getLogger(__name__)


class Refused(specs.SpecError):
    """A policy refusal: `reason` is ForwardingNotAllowed or DestinationNotAllowed."""


@dataclass(frozen=True, slots=True)
class Admission:
    egress_policy: egress.EgressPolicy
    forwarding_policy: forwarding.ForwardingPolicy

    def check(self, url: str, *, forwards: bool, field: str, forward_field: str) -> None:
        """Raise Refused if the declared URL (or forwarding to it) is not allowed."""
        if forwards and not self.forwarding_policy.allows(url):
            message = (
                f"{forward_field}: callers' tokens are forwarded only to destinations an "
                "administrator allowed (FORWARD_TOKEN_ALLOWED_URLS), and "
            )
            if self.forwarding_policy.only_over_http(url):
                message += (
                    f"{field} is allowed over https only: a token goes over plain http only "
                    "to an entry that says http:// itself"
                )
            else:
                message += f"{field} is not one of them"
            raise Refused("ForwardingNotAllowed", message)
        host = urllib.parse.urlsplit(url).hostname or ""
        why = self.egress_policy.refusal(host, egress.literal_address(host))
        if why is not None:
            raise Refused(
                "DestinationNotAllowed",
                f"{field}: {host} is {why}; the server's egress policy does not allow "
                "connecting there (an administrator sets EGRESS_ALLOW and EGRESS_DENY)",
            )

    def admit(
        self, datasource: datasources.Datasource, *, field: str, forward_field: str
    ) -> datasources.Datasource:
        """The datasource, carrying the egress policy its client enforces; or Refused."""
        connection = datasource.connection
        self.check(
            connection.url,
            forwards=connection.forward_caller_token,
            field=field,
            forward_field=forward_field,
        )
        if isinstance(connection.tenancy, tenancy.OpenShift):  # the rules port gets it too
            self.check(
                connection.tenancy.rules_url,
                forwards=connection.forward_caller_token,
                field="tenancy.openshift.rulesUrl",
                forward_field=forward_field,
            )
        return replace(datasource, connection=replace(connection, egress_policy=self.egress_policy))


async def for_cluster(config: settings.DestinationSettings, api_server_url: str) -> Admission:
    """The policies from the settings, denying the API server's addresses as found now.
    Raises ConfigurationError for an entry that is not one (settings built by hand)."""
    addresses = await _addresses(api_server_url)
    try:
        policy = config.egress_policy(addresses)
        tokens = config.forwarding_policy()
    except ValueError as exc:
        raise errors.ConfigurationError(str(exc)) from None
    logger.info(
        "egress policy for cluster-declared datasources",
        extra={
            "egress_allow": list(config.egress_allow) or "all but the built-in denials",
            "egress_deny": list(config.egress_deny),
            "forward_token_allowed_urls": list(config.forward_token_allowed_urls),
        },
    )
    return Admission(policy, tokens)


async def _addresses(url: str) -> tuple[egress.Address, ...]:
    """The API server's addresses: its URL's literal address, or what its name resolves to."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    literal = egress.literal_address(host)
    if literal is not None:
        return (literal,)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            host, parsed.port or 443, type=socket.SOCK_STREAM
        )
    except OSError as exc:  # it answered a moment ago; say so and deny what we know
        logger.warning("cannot resolve the Kubernetes API server %s: %s", host, exc)
        return ()
    resolved = (egress.literal_address(str(info[4][0])) for info in found)
    return tuple(dict.fromkeys(a for a in resolved if a is not None))
