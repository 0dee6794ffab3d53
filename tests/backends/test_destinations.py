"""The egress policy at connect time: the addresses DNS answers are checked, not the URL.

A resolver of the test's own maps names to loopback addresses (`MappedResolver`), as a DNS
server under someone else's control would: a different answer per lookup (rebinding), or
an allowed address next to a denied one. Two recording backends listen on one port of
127.0.0.1 (denied: loopback) and 127.0.0.2 (allowed by naming it exactly), so where each
request went, and where none ever did, is read from them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from aiohttp import abc

from mcp_server.backends import prometheus
from mcp_server.core import egress, errors
from mcp_server.sources import datasources
from tests.support import recording

POLICY = egress.policy(allow=("127.0.0.2",), deny=())


class MappedResolver(abc.AbstractResolver):
    """Each lookup of a name takes the next answer of its list (the last one repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = answers
        self.lookups = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[abc.ResolveResult]:
        self.lookups += 1
        queue = self._answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
def pair() -> Iterator[tuple[recording.Recorder, recording.Recorder]]:
    """(denied on 127.0.0.1, allowed on 127.0.0.2), on the same port."""
    chosen = _port_free_on_both()
    with (
        recording.recording_backend(port=chosen) as denied,
        recording.recording_backend(host="127.0.0.2", port=chosen) as allowed,
    ):
        yield denied, allowed


def _port_free_on_both() -> int:
    for _ in range(20):
        with socket.socket() as first:
            first.bind(("127.0.0.2", 0))
            chosen = int(first.getsockname()[1])
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", chosen))
                except OSError:
                    continue
        return chosen
    raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")


def client(
    url: str, policy: egress.EgressPolicy | None, dns: abc.AbstractResolver | None = None
) -> prometheus.PrometheusClient:
    connection = datasources.Connection(url=url, egress_policy=policy)
    source = datasources.Source(datasources.SourceKind.CUSTOM_RESOURCE, "team-a/ds")
    datasource = datasources.Datasource(
        datasources.DatasourceId("team-a/ds"), "ds", source, connection
    )
    return prometheus.PrometheusClient(
        datasource, default_timeout=5, max_response_bytes=1 << 20, dns=dns
    )


async def query(
    url: str, policy: egress.EgressPolicy | None, dns: abc.AbstractResolver | None = None
) -> None:
    closing = client(url, policy, dns)
    try:
        await closing.get("/api/v1/query", [("query", "1")])
    finally:
        await closing.aclose()


def port(recorder: recording.Recorder) -> str:
    return recorder.url.rsplit(":", 1)[1]


async def test_a_name_rebound_to_a_denied_address_is_refused_when_connecting(
    pair: tuple[recording.Recorder, recording.Recorder],
) -> None:
    """The first lookup gives the allowed address, the next a denied one: whatever was
    checked before, the address connected to is the one checked."""
    denied, allowed = pair
    dns = MappedResolver({"rebind.test": [["127.0.0.2"], ["127.0.0.1"]]})
    url = f"http://rebind.test:{port(allowed)}"
    await query(url, POLICY, dns)  # a fresh pool: resolves, connects to 127.0.0.2
    with pytest.raises(errors.DestinationNotAllowed) as refused:
        await query(url, POLICY, dns)  # another fresh pool: resolves again, to 127.0.0.1
    assert dns.lookups == 2
    assert len(allowed.requests) == 1 and denied.requests == []
    assert "127.0.0" not in refused.value.message and "rebind" not in refused.value.message


async def test_only_the_allowed_addresses_of_an_answer_are_connected_to(
    pair: tuple[recording.Recorder, recording.Recorder],
) -> None:
    denied, allowed = pair
    dns = MappedResolver({"mixed.test": [["127.0.0.1", "127.0.0.2"]]})
    for _ in range(3):
        await query(f"http://mixed.test:{port(allowed)}", POLICY, dns)
    assert len(allowed.requests) == 3 and denied.requests == []


async def test_a_name_with_only_denied_addresses_is_refused_with_the_policys_code(
    pair: tuple[recording.Recorder, recording.Recorder],
) -> None:
    denied, _ = pair
    with pytest.raises(errors.DestinationNotAllowed) as refused:
        await query(f"http://localhost:{port(denied)}", egress.policy((), ()))  # real DNS
    assert refused.value.code == "destination_not_allowed"
    assert denied.requests == []


async def test_a_literal_denied_address_is_refused_before_anything_is_sent(
    pair: tuple[recording.Recorder, recording.Recorder],
) -> None:
    """aiohttp asks no resolver about a literal address: the URL itself is checked."""
    denied, _ = pair
    with pytest.raises(errors.DestinationNotAllowed):
        await query(denied.url, POLICY)
    assert denied.requests == []


async def test_without_a_policy_a_file_datasource_connects_anywhere(
    pair: tuple[recording.Recorder, recording.Recorder],
) -> None:
    denied, _ = pair
    await query(denied.url, None)
    await query(f"http://localhost:{port(denied)}", None)
    assert len(denied.requests) == 2
