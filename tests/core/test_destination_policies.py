"""The administrator's policies for datasources declared in the cluster, as pure decisions:
where a caller's token may go (FORWARD_TOKEN_ALLOWED_URLS) and which addresses the server
may connect to (EGRESS_ALLOW, EGRESS_DENY). docs/security.md describes both."""

from __future__ import annotations

import ipaddress

import pytest

from mcp_server.core import egress, forwarding, settings

API = ipaddress.ip_address("10.96.0.1")


def refusal(address: str, *, allow: tuple[str, ...] = (), deny: tuple[str, ...] = ()) -> str | None:
    policy = egress.policy(allow, deny, api_server=(API,))
    return policy.refusal("some.host", ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", egress.LOOPBACK),
        ("127.8.9.10", egress.LOOPBACK),
        ("::1", egress.LOOPBACK),
        ("::ffff:127.0.0.1", egress.LOOPBACK),
        ("169.254.169.254", egress.LINK_LOCAL),
        ("fe80::1", egress.LINK_LOCAL),
        ("::ffff:169.254.169.254", egress.LINK_LOCAL),
        ("0.0.0.0", egress.UNSPECIFIED),
        ("::", egress.UNSPECIFIED),
        ("10.96.0.1", egress.API_SERVER),
        ("10.96.0.2", None),
        ("192.0.2.1", None),
        ("2001:db8::1", None),
    ],
)
def test_by_default_loopback_link_local_and_the_api_server_are_denied(
    address: str, why: str | None
) -> None:
    assert refusal(address) == why


@pytest.mark.parametrize(
    ("allow", "address", "why"),
    [
        (("127.0.0.0/8",), "127.0.0.1", None),  # inside the loopback range: lifts it
        (("127.0.0.1",), "127.0.0.2", egress.LOOPBACK),  # only what it names
        (("0.0.0.0/0",), "127.0.0.1", egress.LOOPBACK),  # a catch-all lifts nothing
        (("169.254.169.254",), "169.254.169.254", None),
        (("10.0.0.0/8",), "10.96.0.1", egress.API_SERVER),  # the API server: only exactly
        (("10.96.0.1",), "10.96.0.1", None),
        (("10.0.0.0/8",), "10.1.2.3", None),
        (("10.0.0.0/8",), "192.0.2.1", egress.NOT_ALLOWED),  # set: it narrows
    ],
)
def test_egress_allow_narrows_and_lifts_a_built_in_denial_only_from_inside_it(
    allow: tuple[str, ...], address: str, why: str | None
) -> None:
    assert refusal(address, allow=allow) == why


def test_egress_deny_wins_over_egress_allow() -> None:
    assert refusal("10.1.2.3", allow=("10.0.0.0/8",), deny=("10.1.0.0/16",)) == egress.DENIED


def test_host_entries_match_the_name_and_never_lift_a_built_in_denial() -> None:
    policy = egress.policy(allow=("*.corp.example", "prom.example"), deny=("bad.corp.example",))
    public = ipaddress.ip_address("192.0.2.7")
    assert policy.refusal("thanos.eu.corp.example", public) is None
    assert policy.refusal("PROM.example.", public) is None  # case and the root dot
    assert policy.refusal("corp.example", public) == egress.NOT_ALLOWED
    assert policy.refusal("bad.corp.example", public) == egress.DENIED
    assert policy.refusal("prom.example", ipaddress.ip_address("127.0.0.1")) == egress.LOOPBACK


def test_a_name_alone_is_refused_only_when_the_name_decides() -> None:
    """Before DNS (a CR's URL is read): a denied name, or an allow list of names only."""
    assert egress.policy((), ("x.example",)).refusal("x.example", None) == egress.DENIED
    assert egress.policy(("y.example",), ()).refusal("x.example", None) == egress.NOT_ALLOWED
    assert egress.policy(("10.0.0.0/8",), ()).refusal("x.example", None) is None
    assert egress.policy((), ()).refusal("localhost", None) is None  # DNS decides


@pytest.mark.parametrize("entry", ["not a host", "10.0.0.0/33", "-bad.example", "a_b.example"])
def test_an_egress_entry_that_is_not_one_is_refused_naming_it(entry: str) -> None:
    with pytest.raises(ValueError, match="EGRESS_ALLOW") as caught:
        egress.parse_rules([entry], variable="EGRESS_ALLOW")
    assert repr(entry) in str(caught.value)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://thanos.example:9091", True),
        ("https://thanos.example:9091/", True),
        ("https://THANOS.example:9091/api", True),
        ("https://thanos.example:9092", False),  # another port
        ("https://thanos.example", False),  # 443, not 9091
        ("http://thanos.example:9091", False),  # https entry: never plain http
        ("https://prom.example/tenant-a", True),
        ("https://prom.example/tenant-a/prometheus", True),
        ("https://prom.example/tenant-ab", False),  # a prefix ends at a slash
        ("https://prom.example/tenant-a/../tenant-b", False),
        ("https://prom.example/tenant-a/%2e%2e/tenant-b", False),
        ("https://prom.example:443/tenant-a", True),
        ("https://bare.example", True),
        ("https://bare.example:8443/any/path", True),  # a bare host: any port and path
        ("http://bare.example", False),  # a bare host: https only
        ("http://plain.example:9090/x", True),  # its entry says http://
        ("http://plain.example:9091", False),
        ("https://thanos.example.evil:9091", False),
    ],
)
def test_forwarding_is_allowed_only_to_listed_prefixes_and_hosts(url: str, allowed: bool) -> None:
    policy = forwarding.parse(
        [
            "https://thanos.example:9091",
            "https://prom.example/tenant-a/",
            "bare.example",
            "http://plain.example:9090",
        ]
    )
    assert policy.allows(url) is allowed


def test_an_empty_forwarding_list_forwards_nowhere() -> None:
    assert not forwarding.parse([]).allows("https://thanos.example")


def test_a_plain_http_url_refused_for_its_scheme_alone_is_told_apart() -> None:
    policy = forwarding.parse(["thanos.example:9091"])
    assert policy.only_over_http("http://thanos.example:9091")
    assert not policy.only_over_http("http://other.example:9091")


def test_the_settings_read_the_three_variables_as_comma_separated_lists() -> None:
    config = settings.from_environ(
        {
            "FORWARD_TOKEN_ALLOWED_URLS": "https://thanos.example:9091, bare.example",
            "EGRESS_ALLOW": "10.0.0.0/8,127.0.0.1",
            "EGRESS_DENY": "10.1.0.0/16",
        }
    )
    destinations = config.destinations
    assert destinations.forward_token_allowed_urls == (
        "https://thanos.example:9091",
        "bare.example",
    )
    assert destinations.forwarding_policy().allows("https://bare.example/x")
    policy = destinations.egress_policy((API,))
    assert policy.refusal("h", ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal("h", ipaddress.ip_address("10.1.0.5")) == egress.DENIED
    assert policy.refusal("h", API) == egress.API_SERVER
