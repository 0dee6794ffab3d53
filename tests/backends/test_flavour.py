"""Flavour detection where the declaration does not say: a real Prometheus, and the same
Prometheus behind loopback proxies that tell what Mimir, a Thanos querier and vmselect tell
(buildinfo's `application`; `/api/v1/stores`; `/api/v1/status/active_queries`). The
datasource facts show the flavour with its source, and capability checks then use it."""

from __future__ import annotations

import json
import pathlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from tests.support import harness
from tests.support.answers import call_error
from tests.support.harness import McpClient, RunningServer
from tests.support.prometheus_process import RunningPrometheus


class Telling(harness.Handler):
    """Forwards GETs to `upstream`, except what its flavour answers itself."""

    upstream: ClassVar[str] = ""
    application: ClassVar[str | None] = None
    own_endpoint: ClassVar[str | None] = None
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        type(self).paths.append(path)
        if path == self.own_endpoint:
            self.reply(json.dumps({"status": "success", "data": []}).encode())
            return
        try:
            with urllib.request.urlopen(self.upstream + self.path, timeout=10) as answer:
                body = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            self.reply(exc.read(), status=exc.code)
            return
        if path == "/api/v1/status/buildinfo" and self.application:
            body["data"]["application"] = self.application
        self.reply(json.dumps(body).encode())


class MimirLike(Telling):
    application = "Grafana Mimir"
    paths: ClassVar[list[str]] = []


class ThanosLike(Telling):
    own_endpoint = "/api/v1/stores"
    paths: ClassVar[list[str]] = []


class VictoriaLike(Telling):
    own_endpoint = "/api/v1/status/active_queries"
    paths: ClassVar[list[str]] = []


@pytest.fixture(scope="module")
def server(
    prometheus: RunningPrometheus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    Telling.upstream = prometheus.url
    with (
        harness.http_server(MimirLike) as mimir,
        harness.http_server(ThanosLike) as thanos,
        harness.http_server(VictoriaLike) as victoria,
    ):
        entries = [
            {"name": name, "type": "prometheus", "url": url, "jsonData": {"httpMethod": "GET"}}
            for name, url in (("mimir", mimir), ("thanos", thanos), ("vm", victoria))
        ]
        entries.append(
            {
                "name": "declared",
                "type": "prometheus",
                "url": thanos,
                "jsonData": {"prometheusType": "victoriametrics"},
            }
        )
        directory: pathlib.Path = tmp_path_factory.mktemp("flavours")
        with harness.serving_datasources(directory, *entries) as running:
            yield running


async def _facts(mcp: McpClient, datasource_id: str) -> dict[str, Any]:
    (content,) = await mcp.read_resource(f"proms://datasource/{datasource_id}")
    facts: dict[str, Any] = json.loads(content.text)  # type: ignore[union-attr]
    return facts


@pytest.mark.parametrize(
    ("datasource_id", "flavour", "source"),
    [
        ("mimir", "Mimir", "buildinfo application"),
        ("thanos", "Thanos", "endpoint /api/v1/stores"),
        ("vm", "VictoriaMetrics", "endpoint /api/v1/status/active_queries"),
        ("declared", "VictoriaMetrics", "declared"),
    ],
)
async def test_the_facts_show_the_flavour_the_backend_tells_with_its_source(
    mcp: McpClient, datasource_id: str, flavour: str, source: str
) -> None:
    facts = await _facts(mcp, datasource_id)
    assert (facts["type"], facts["type_source"]) == (flavour, source)


async def test_a_detected_flavour_decides_which_apis_are_asked_for(mcp: McpClient) -> None:
    await _facts(mcp, "mimir")
    MimirLike.paths.clear()
    error = await call_error(mcp, "list_targets", datasource_id="mimir")
    assert (
        error["code"] == "unsupported" and "is Mimir, which has no targets API" in error["message"]
    )
    assert "/api/v1/targets" not in MimirLike.paths
