"""Where datasources declared in the cluster may make the server connect (EGRESS_ALLOW,
EGRESS_DENY).

A PrometheusDatasource's or a datasource ConfigMap's author chooses a URL, and the server
connects there from its own network position. So such a destination is checked, by the
address actually connected to (`backends/destinations` applies this at connect time, after
DNS), against, in order:

1. EGRESS_DENY: a CIDR holding the address, or a host matching the URL's host name;
2. the built-in denials: loopback, link-local (the cloud metadata address), the unspecified
   addresses (0.0.0.0/8 and :: reach this host), and the Kubernetes API server's addresses.
   An EGRESS_ALLOW CIDR *inside* a denied range lifts it for what it covers
   (`127.0.0.0/8` allows loopback, `127.0.0.1` too; `0.0.0.0/0` lifts nothing);
3. EGRESS_ALLOW, when set: the destination must match one of its entries (a CIDR holding
   the address, or a host matching the name); unset allows the rest.

Host entries are exact names, or `*.example.com` for every name below it. A host entry
never lifts a built-in denial: a name can be re-pointed, an address range cannot.
Datasources from a provisioning file are not checked: whoever runs the server wrote them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK = "a loopback address"
LINK_LOCAL = "a link-local address (such as the cloud metadata service)"
UNSPECIFIED = "an unspecified address (it reaches this host)"
API_SERVER = "an address of the Kubernetes API server"
DENIED = "denied by EGRESS_DENY"
NOT_ALLOWED = "not in EGRESS_ALLOW"

_BUILT_IN: tuple[tuple[str, tuple[Network, ...]], ...] = (
    (LOOPBACK, (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))),
    (LINK_LOCAL, (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))),
    (UNSPECIFIED, (ipaddress.ip_network("0.0.0.0/8"), ipaddress.ip_network("::/128"))),
)
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*$")


@dataclass(frozen=True, slots=True)
class Rules:
    """One setting's entries: networks and host names (lower case, `*.` for suffixes)."""

    networks: tuple[Network, ...] = ()
    hosts: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.networks or self.hosts)

    def holds(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def names(self, host: str) -> bool:
        return any(_host_matches(entry, host) for entry in self.hosts)


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Frozen, comparable data: it is part of a datasource's `Connection`."""

    allow: Rules = Rules()
    deny: Rules = Rules()
    api_server: tuple[Network, ...] = ()
    """The Kubernetes API server's addresses (one /32 or /128 each), found at start-up."""

    def refusal(self, host: str, address: Address | None) -> str | None:
        """Why connecting to `address` (reached as `host`) is refused, or None. Without an
        address (a name not resolved yet) only what the name alone decides is refused."""
        name = host.lower().rstrip(".")
        if self.deny.names(name):
            return DENIED
        if address is None:
            if self.allow and not self.allow.networks and not self.allow.names(name):
                return NOT_ALLOWED
            return None
        address = _unmapped(address)
        if self.deny.holds(address):
            return DENIED
        for why, ranges in (*_BUILT_IN, (API_SERVER, self.api_server)):
            denied = next((r for r in ranges if address in r), None)
            if denied is not None and not self._lifted(address, denied):
                return why
        if self.allow and not (self.allow.holds(address) or self.allow.names(name)):
            return NOT_ALLOWED
        return None

    def _lifted(self, address: Address, denied: Network) -> bool:
        return any(
            address in network and _inside(network, denied) for network in self.allow.networks
        )


def literal_address(host: str) -> Address | None:
    """The address a URL's host names literally (`10.0.0.1`, `[::1]`), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def parse_rules(entries: Iterable[str], *, variable: str) -> Rules:
    """CIDRs, addresses and host names; raises ValueError naming `variable` and the entry."""
    networks: list[Network] = []
    hosts: list[str] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if not _HOST.match(entry.rstrip(".")):
            raise ValueError(
                f"{variable}: {raw.strip()!r} is neither a CIDR, an address nor a host name "
                "(host names may start with *. to cover every name below)"
            )
        hosts.append(entry.rstrip("."))
    return Rules(tuple(networks), tuple(hosts))


def policy(
    allow: Iterable[str], deny: Iterable[str], api_server: Iterable[Address] = ()
) -> EgressPolicy:
    return EgressPolicy(
        allow=parse_rules(allow, variable="EGRESS_ALLOW"),
        deny=parse_rules(deny, variable="EGRESS_DENY"),
        api_server=tuple(
            ipaddress.ip_network(_unmapped(address)) for address in dict.fromkeys(api_server)
        ),
    )


def _unmapped(address: Address) -> Address:
    """`::ffff:127.0.0.1` is 127.0.0.1 to the kernel, so it is to the policy."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _inside(network: Network, denied: Network) -> bool:
    if isinstance(network, ipaddress.IPv4Network) and isinstance(denied, ipaddress.IPv4Network):
        return network.subnet_of(denied)
    if isinstance(network, ipaddress.IPv6Network) and isinstance(denied, ipaddress.IPv6Network):
        return network.subnet_of(denied)
    return False


def _host_matches(entry: str, host: str) -> bool:
    if entry.startswith("*."):
        return host.endswith(entry[1:])
    return host == entry
