"""TLS towards backends, against a real HTTPS server with a test CA (trustme): an untrusted
certificate or a wrong name is a clear, retryable tool error that names no address; the
datasource's CA, serverName and tlsSkipVerify settings make it work."""

from __future__ import annotations

import contextlib
import json
import pathlib
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from fastmcp import Client

from tests.support import harness
from tests.support.harness import RunningServer


@contextlib.contextmanager
def https_backend(ca: trustme.CA) -> Iterator[str]:
    """harness.ScalarBackend behind TLS, with a certificate for 127.0.0.1 and prometheus.test."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "prometheus.test").configure_cert(context)
    with harness.http_server(harness.ScalarBackend, tls=context) as url:
        yield url


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    ca = trustme.CA()
    ca_pem = ca.cert_pem.bytes().decode()
    with https_backend(ca) as url:

        def entry(name: str, json_data: dict[str, Any], secure: dict[str, str]) -> dict[str, Any]:
            return {
                "name": name,
                "type": "prometheus",
                "url": url,
                "jsonData": json_data,
                "secureJsonData": secure,
            }

        document = {
            "datasources": [
                entry("untrusted", {}, {}),
                entry("trusted", {"tlsAuthWithCACert": True}, {"tlsCACert": ca_pem}),
                entry(
                    "wrong-name",
                    {"tlsAuthWithCACert": True, "serverName": "elsewhere.test"},
                    {"tlsCACert": ca_pem},
                ),
                entry(
                    "named",
                    {"tlsAuthWithCACert": True, "serverName": "prometheus.test"},
                    {"tlsCACert": ca_pem},
                ),
                entry("skip-verify", {"tlsSkipVerify": True}, {}),
            ]
        }
        path: pathlib.Path = tmp_path_factory.mktemp("tls") / "datasources.yaml"
        path.write_text(json.dumps(document))
        config = harness.make_settings(sources={"datasources_path": path})
        with harness.serve_in_thread(config) as running:
            yield running, url


async def test_an_untrusted_or_misnamed_certificate_is_a_clear_error_without_the_address(
    tls_server: tuple[RunningServer, str],
) -> None:
    server, url = tls_server
    async with Client(server.mcp_url) as client:
        for datasource in ("untrusted", "wrong-name"):
            result = await client.call_tool(
                "query_instant", {"datasource_id": datasource, "promql": "up"}, raise_on_error=False
            )
            assert result.is_error
            text = result.content[0].text
            error = json.loads(text)["error"]
            assert error["code"] == "backend_unavailable" and error["retryable"] is True
            assert "TLS handshake" in error["message"] and "serverName" in error["message"]
            assert url.split("//")[1] not in text and "127.0.0.1" not in text


@pytest.mark.parametrize("datasource", ["trusted", "named", "skip-verify"])
async def test_the_datasource_ca_server_name_or_skip_verify_make_tls_work(
    tls_server: tuple[RunningServer, str], datasource: str
) -> None:
    server, _ = tls_server
    async with Client(server.mcp_url) as client:
        result = await client.call_tool(
            "query_instant", {"datasource_id": datasource, "promql": "1"}
        )
        assert result.structured_content is not None
        assert result.structured_content["scalar"] == 1
