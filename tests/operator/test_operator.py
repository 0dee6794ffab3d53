"""The operator in-process: kopf watches KMock (the Kubernetes API emulator), the registry
follows, and a real MCP client queries the real Prometheus through CR- and ConfigMap-backed
datasources."""

from __future__ import annotations

import json
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import kmock
import pytest
import yaml
from fastmcp import Client
from proms_operator import runtime

from mcp_server.app import assembly, hosting
from mcp_server.core import settings
from mcp_server.protocol import mounting
from tests.support import harness, kube
from tests.support.prometheus_process import RunningPrometheus


@pytest.fixture
def emulator(kmock: kmock.KubernetesEmulator) -> kmock.KubernetesEmulator:
    kube.declare(kmock)
    return kmock


@pytest.fixture
async def app(
    emulator: kmock.KubernetesEmulator, tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> AsyncIterator[assembly.Application]:
    # Objects that exist before proms-mcp starts: served after the initial listing.
    emulator.objects[kube.CRS, "team-a", "early"] = kube.datasource(
        "team-a", "early", url=prometheus.url
    )
    config = operator_settings(emulator, tmp_path, resync_interval_seconds=RESYNC_SECONDS)
    async with kube.operator_serving(config) as application:
        yield application


RESYNC_SECONDS = 0.5
"""No Secret is watched: a created or rotated one is read again at the next resync."""


def operator_settings(
    emulator: kmock.KubernetesEmulator,
    tmp_path: pathlib.Path,
    sources: dict[str, object] | None = None,
    **operator: object,
) -> settings.Settings:
    """The operator against KMock, serving the test Prometheus (both on loopback)."""
    return harness.make_settings(
        operator={"kubeconfig": kube.kubeconfig(tmp_path / "kubeconfig", str(emulator.url))}
        | operator,
        sources=sources or {},
        destinations=kube.LOCAL_EGRESS,
    )


def ids(application: assembly.Application) -> set[str]:
    return set(application.registry.current().datasources)


def status(emulator: kmock.KubernetesEmulator, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = dict(emulator.objects[kube.CRS, namespace, name]).get("status") or {}
    return found


def condition(
    emulator: kmock.KubernetesEmulator, namespace: str, name: str, kind: str
) -> dict[str, Any]:
    for item in status(emulator, namespace, name).get("conditions", []):
        if item["type"] == kind:
            return dict(item)
    return {}


def mcp_url(application: assembly.Application) -> str:
    return f"http://127.0.0.1:{application.settings.server.port}{mounting.MCP_PATH}"


async def test_a_pre_existing_cr_is_served_once_the_initial_listing_is_applied(
    emulator: kmock.KubernetesEmulator, app: assembly.Application
) -> None:
    assert "team-a/early" in ids(app)
    await harness.eventually(
        lambda: condition(emulator, "team-a", "early", "Ready").get("status") == "True"
    )
    assert status(emulator, "team-a", "early")["datasourceId"] == "team-a/early"


async def test_create_update_delete_of_a_cr_is_seen_by_agents(
    emulator: kmock.KubernetesEmulator, app: assembly.Application, prometheus: RunningPrometheus
) -> None:
    await kube.create_datasource(
        emulator, "team-b", "thanos", url=prometheus.url, description="first"
    )
    await harness.eventually(lambda: "team-b/thanos" in ids(app))
    async with Client(mcp_url(app)) as mcp:
        result = await mcp.call_tool(
            "query_instant", {"datasource_id": "team-b/thanos", "promql": "vector(3)"}
        )
        assert result.structured_content is not None
        assert result.structured_content["series"] == [{"labels": {}, "value": 3}]

        await kube.patch(
            emulator, kube.CRS, "team-b", "thanos", {"spec": {"description": "second"}}
        )

        async def described() -> str | None:
            listed = await mcp.call_tool("list_datasources", {})
            assert listed.structured_content is not None
            entry = next(
                d for d in listed.structured_content["datasources"] if d["id"] == "team-b/thanos"
            )
            return str(entry.get("description"))

        await harness.eventually(
            lambda: app.registry.current().datasources["team-b/thanos"].description == "second"  # type: ignore[index]
        )
        assert await described() == "second"

        await kube.delete(emulator, kube.CRS, "team-b", "thanos")
        await harness.eventually(lambda: "team-b/thanos" not in ids(app))
        gone = await mcp.call_tool(
            "query_instant",
            {"datasource_id": "team-b/thanos", "promql": "up"},
            raise_on_error=False,
        )
        assert gone.is_error and "datasource_not_found" in str(gone.content[0])


async def test_a_configmap_with_two_datasources_appears_and_vanishes_with_its_label(
    emulator: kmock.KubernetesEmulator, app: assembly.Application, prometheus: RunningPrometheus
) -> None:
    document = {
        "apiVersion": 1,
        "datasources": [
            {"name": "cm-one", "type": "prometheus", "url": prometheus.url},
            {
                "name": "cm-two",
                "type": "prometheus",
                "url": prometheus.url,
                "jsonData": {"httpMethod": "GET"},
            },
            {"name": "logs", "type": "loki", "url": "http://loki:3100"},
        ],
    }
    await kube.create(
        emulator,
        kube.CONFIGMAPS,
        kube.configmap(
            "monitoring",
            "grafana-ds",
            {"ds.yaml": yaml.safe_dump(document)},
            {"grafana_datasource": "1"},
        ),
    )
    await kube.create(
        emulator,
        kube.CONFIGMAPS,
        kube.configmap(
            "monitoring",
            "unlabelled",
            {
                "ds.yaml": yaml.safe_dump(
                    {"datasources": [{"name": "nope", "type": "prometheus", "url": prometheus.url}]}
                )
            },
            None,
        ),
    )
    await harness.eventually(lambda: {"cm-one", "cm-two"} <= ids(app))
    assert "nope" not in ids(app)
    async with Client(mcp_url(app)) as mcp:
        result = await mcp.call_tool(
            "query_instant", {"datasource_id": "cm-two", "promql": "vector(2)"}
        )
        assert (
            result.structured_content is not None
            and result.structured_content["series"][0]["value"] == 2
        )
    await kube.patch(
        emulator, kube.CONFIGMAPS, "monitoring", "grafana-ds", {"metadata": {"labels": None}}
    )
    await harness.eventually(lambda: not ({"cm-one", "cm-two"} & ids(app)))


async def create_tenant_datasource(
    emulator: kmock.KubernetesEmulator, id: str, url: str, *, org: str
) -> None:
    """Secret `tenant` holding `org` and the CR `id` sending it as X-Scope-OrgID, in the
    CR's namespace."""
    namespace, name = id.split("/")
    await kube.create(emulator, kube.SECRETS, kube.secret(namespace, "tenant", org=org))
    reference = {"secretKeyRef": {"name": "tenant", "key": "org"}}
    header = {"name": "X-Scope-OrgID", "valueFrom": reference}
    await kube.create_datasource(emulator, namespace, name, url=url, headers=[header])


async def test_a_rotated_secret_takes_effect_without_touching_the_cr(
    emulator: kmock.KubernetesEmulator, app: assembly.Application, prometheus: RunningPrometheus
) -> None:
    await create_tenant_datasource(emulator, "team-c/mimir", prometheus.url, org="tenant-1")

    def header() -> str | None:
        found = app.registry.current().get("team-c/mimir")
        return (
            None
            if found is None
            else dict(found.connection.headers)["X-Scope-OrgID"].get_secret_value()
        )

    await harness.eventually(lambda: header() == "tenant-1")
    await kube.patch(emulator, kube.SECRETS, "team-c", "tenant", {"data": {"org": "dGVuYW50LTI="}})
    await harness.eventually(lambda: header() == "tenant-2")


async def test_an_invalid_cr_is_reported_and_kept_out_while_others_serve(
    emulator: kmock.KubernetesEmulator, app: assembly.Application, prometheus: RunningPrometheus
) -> None:
    await kube.create_datasource(emulator, "team-d", "broken", url="ftp://nope")
    await kube.create_datasource(emulator, "team-d", "fine", url=prometheus.url)
    await harness.eventually(
        lambda: condition(emulator, "team-d", "broken", "Ready").get("reason") == "InvalidSpec"
    )
    ready = condition(emulator, "team-d", "broken", "Ready")
    assert ready["status"] == "False" and "url" in ready["message"]
    assert "team-d/broken" not in ids(app) and "team-d/fine" in ids(app)
    await harness.eventually(
        lambda: any(
            r.data.get("reason") == "InvalidSpec" and r.data["involvedObject"]["name"] == "broken"
            for r in kube.writes(emulator, kube.EVENTS)
        )
    )


async def test_a_missing_secret_is_reported_until_it_is_created(
    emulator: kmock.KubernetesEmulator, app: assembly.Application, prometheus: RunningPrometheus
) -> None:
    await kube.create_datasource(
        emulator,
        "team-e",
        "guarded",
        url=prometheus.url,
        auth={"bearerToken": {"secretKeyRef": {"name": "token", "key": "t"}}},
    )
    await harness.eventually(
        lambda: condition(emulator, "team-e", "guarded", "Ready").get("reason") == "SecretNotFound"
    )
    assert "team-e/guarded" not in ids(app)
    await kube.create(
        emulator, kube.SECRETS, kube.secret("team-e", "token", t="s3cr3t-token-value")
    )
    await harness.eventually(lambda: "team-e/guarded" in ids(app))
    await harness.eventually(
        lambda: condition(emulator, "team-e", "guarded", "Ready").get("status") == "True"
    )
    assert "s3cr3t-token-value" not in str(status(emulator, "team-e", "guarded"))


async def test_an_id_collision_is_reported_on_the_loser(
    emulator: kmock.KubernetesEmulator, app: assembly.Application, prometheus: RunningPrometheus
) -> None:
    document = {
        "datasources": [{"name": "team-a/early", "type": "prometheus", "url": prometheus.url}]
    }
    await kube.create(
        emulator,
        kube.CONFIGMAPS,
        kube.configmap(
            "monitoring", "clash", {"ds.yaml": yaml.safe_dump(document)}, {"grafana_datasource": ""}
        ),
    )
    await harness.eventually(
        lambda: any("already served" in str(p) for p in app.registry.current().problems)
    )
    winner = app.registry.current().get("team-a/early")
    assert winner is not None and winner.source.kind.value == "prometheusdatasource"
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"http://127.0.0.1:{app.settings.server.health_metrics_port}/ready"
        )
    body = response.json()
    assert any(
        "configmap monitoring/clash" in p and "already served" in p for p in body["problems"]
    )
    await harness.eventually(
        lambda: any(
            r.data.get("reason") == "InvalidDatasource"
            and r.data["involvedObject"]["name"] == "clash"
            and "already served" in r.data["message"]
            for r in kube.writes(emulator, kube.EVENTS)
        )
    )


async def test_a_malformed_configmap_is_reported_while_others_keep_serving(
    emulator: kmock.KubernetesEmulator, app: assembly.Application
) -> None:
    await kube.create(
        emulator,
        kube.CONFIGMAPS,
        kube.configmap(
            "monitoring",
            "garbage",
            {"ds.yaml": "datasources: [ {name: x"},
            {"grafana_datasource": "1"},
        ),
    )
    await harness.eventually(
        lambda: any("garbage" in str(p) for p in app.registry.current().problems)
    )
    assert "team-a/early" in ids(app)
    await harness.eventually(
        lambda: any(
            r.data.get("reason") == "InvalidDatasource" for r in kube.writes(emulator, kube.EVENTS)
        )
    )


async def test_proms_mcp_never_writes_to_configmaps_or_secrets(
    emulator: kmock.KubernetesEmulator, app: assembly.Application, prometheus: RunningPrometheus
) -> None:
    await kube.create(emulator, kube.SECRETS, kube.secret("team-f", "s", k="v"))
    await kube.create(
        emulator,
        kube.CONFIGMAPS,
        kube.configmap(
            "team-f",
            "ds",
            {
                "a.yaml": yaml.safe_dump(
                    {"datasources": [{"name": "f", "type": "prometheus", "url": prometheus.url}]}
                )
            },
            {"grafana_datasource": "1"},
        ),
    )
    await kube.create_datasource(
        emulator,
        "team-f",
        "cr",
        url=prometheus.url,
        headers=[{"name": "X-A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    )
    await harness.eventually(lambda: {"f", "team-f/cr"} <= ids(app))
    await kube.patch(emulator, kube.SECRETS, "team-f", "s", {"data": {"k": "dzI="}})
    await kube.patch(emulator, kube.CONFIGMAPS, "team-f", "ds", {"data": {"b.yaml": ""}})
    await harness.eventually(
        lambda: condition(emulator, "team-f", "cr", "Ready").get("status") == "True"
    )
    assert kube.writes(emulator, kube.CONFIGMAPS) == []
    assert kube.writes(emulator, kube.SECRETS) == []
    cr_writes = kube.writes(emulator, kube.CRS)
    assert cr_writes and all(str(r.url.path).endswith("/status") for r in cr_writes)


async def test_the_initial_listing_is_published_whole_and_statuses_follow_it(
    emulator: kmock.KubernetesEmulator, tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    """One snapshot for the whole listing (not one per object: 1200 merges of 1200 took a
    third of a 1000-CR start), and no status written before it is published."""
    names = ("a", "b", "c", "d")
    for name in names:
        emulator.objects[kube.CRS, "team-a", name] = kube.datasource(
            "team-a", name, url=prometheus.url
        )
    served = {f"team-a/{name}" for name in names}
    published: list[tuple[set[str], int]] = []  # what each snapshot serves, writes by then

    class Recording:
        async def start(self, host: hosting.Host) -> None:
            host.registry.subscribe(
                lambda s: published.append(
                    ({str(i) for i in s.datasources} & served, len(kube.writes(emulator, kube.CRS)))
                )
            )

        async def stop(self) -> None:
            pass

    config = operator_settings(emulator, tmp_path)
    extensions: list[hosting.Extension] = [Recording(), runtime.KubernetesSources(config)]
    async with harness.serving(config, extensions=extensions) as application:
        await harness.eventually(lambda: application.readiness.ready)
        await harness.eventually(
            lambda: all(
                condition(emulator, "team-a", name, "Ready").get("status") == "True"
                for name in names
            )
        )
    assert [snapshot for snapshot in published if snapshot[0]] == [(served, 0)]


async def test_readiness_waits_for_the_initial_listing_and_says_why(
    emulator: kmock.KubernetesEmulator, tmp_path: pathlib.Path
) -> None:
    failing = emulator["list", kmock.resource(kube.CRS)][:3]
    failing << 500 << {"kind": "Status", "code": 500, "message": "etcd is having a bad day"}
    config = operator_settings(emulator, tmp_path)
    sources = runtime.KubernetesSources(config)
    async with harness.serving(config, extensions=[sources]) as application:
        await harness.eventually(
            lambda: (
                (application.readiness.sources()["kubernetes"].last_error or "").find("500") >= 0
            )
        )
        assert application.readiness.ready is False
        await harness.eventually(lambda: application.readiness.ready, timeout=15)


async def test_files_and_cluster_sources_combine_and_the_scope_is_respected(
    emulator: kmock.KubernetesEmulator, tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    file = tmp_path / "ds.json"
    file.write_text(
        json.dumps(
            {"datasources": [{"name": "from-file", "type": "prometheus", "url": prometheus.url}]}
        )
    )
    emulator.objects[kube.CRS, "watched", "in-scope"] = kube.datasource(
        "watched", "in-scope", url=prometheus.url
    )
    emulator.objects[kube.CRS, "elsewhere", "out-of-scope"] = kube.datasource(
        "elsewhere", "out-of-scope", url=prometheus.url
    )
    config = operator_settings(
        emulator, tmp_path, sources={"datasources_path": file}, namespaces=("watched",)
    )
    async with harness.serving(
        config, extensions=[runtime.KubernetesSources(config)]
    ) as application:
        await harness.eventually(lambda: application.readiness.ready)
        assert ids(application) == {"from-file", "watched/in-scope"}
        await kube.create_datasource(emulator, "watched", "later", url=prometheus.url)
        await kube.create_datasource(emulator, "elsewhere", "later", url=prometheus.url)
        await harness.eventually(lambda: "watched/later" in ids(application))
        assert "elsewhere/later" not in ids(application)
        watched_paths = {str(r.url.path) for r in emulator["watch"]}
        assert all("/namespaces/watched/" in path for path in watched_paths), watched_paths


async def test_a_suspended_cr_leaves_the_registry_and_says_so(
    emulator: kmock.KubernetesEmulator, app: assembly.Application
) -> None:
    await kube.patch(emulator, kube.CRS, "team-a", "early", {"spec": {"suspend": True}})
    await harness.eventually(lambda: "team-a/early" not in ids(app))
    await harness.eventually(
        lambda: condition(emulator, "team-a", "early", "Ready").get("reason") == "Suspended"
    )


async def test_the_reachability_probe_sets_reachable_and_the_version(
    emulator: kmock.KubernetesEmulator,
    tmp_path: pathlib.Path,
    prometheus: RunningPrometheus,
    closed_port_url: str,
) -> None:
    emulator.objects[kube.CRS, "p", "up"] = kube.datasource("p", "up", url=prometheus.url)
    emulator.objects[kube.CRS, "p", "down"] = kube.datasource("p", "down", url=closed_port_url)
    config = operator_settings(emulator, tmp_path, probe_interval_seconds=0.2)
    async with harness.serving(config, extensions=[runtime.KubernetesSources(config)]):
        await harness.eventually(
            lambda: condition(emulator, "p", "up", "Reachable").get("status") == "True"
        )
        await harness.eventually(
            lambda: condition(emulator, "p", "down", "Reachable").get("status") == "False"
        )
    assert status(emulator, "p", "up")["prometheusVersion"] == prometheus.version
    assert condition(emulator, "p", "down", "Reachable")["reason"] == "ProbeFailed"
    assert (
        closed_port_url.split("//")[1]
        not in condition(emulator, "p", "down", "Reachable")["message"]
    )
    assert condition(emulator, "p", "down", "Ready")["status"] == "True"  # served, just unreachable
    patches = [r for r in kube.writes(emulator, kube.CRS) if r.method == "PATCH"]
    assert len(patches) <= 6, "status is patched on change only, not on every probe"


async def test_a_broken_edit_of_a_served_cr_keeps_the_last_valid_spec_in_service(
    emulator: kmock.KubernetesEmulator, app: assembly.Application
) -> None:
    await harness.eventually(lambda: "team-a/early" in ids(app))
    served = app.registry.current().get("team-a/early")
    await kube.patch(emulator, kube.CRS, "team-a", "early", {"spec": {"url": "ftp://broken"}})
    await harness.eventually(
        lambda: condition(emulator, "team-a", "early", "Ready").get("reason") == "InvalidSpec"
    )
    assert (
        "still serving the last valid spec"
        in condition(emulator, "team-a", "early", "Ready")["message"]
    )
    assert app.registry.current().get("team-a/early") == served


async def test_a_served_configmap_that_turns_to_garbage_keeps_its_datasources(
    emulator: kmock.KubernetesEmulator, app: assembly.Application, prometheus: RunningPrometheus
) -> None:
    good = yaml.safe_dump(
        {"datasources": [{"name": "steady", "type": "prometheus", "url": prometheus.url}]}
    )
    await kube.create(
        emulator,
        kube.CONFIGMAPS,
        kube.configmap("monitoring", "steady", {"ds.yaml": good}, {"grafana_datasource": "1"}),
    )
    await harness.eventually(lambda: "steady" in ids(app))
    await kube.patch(
        emulator, kube.CONFIGMAPS, "monitoring", "steady", {"data": {"ds.yaml": "{{{ not yaml"}}
    )
    await harness.eventually(
        lambda: any("steady" in str(p) for p in app.registry.current().problems)
    )
    assert "steady" in ids(app)


async def test_a_configmap_cannot_read_the_servers_environment(
    emulator: kmock.KubernetesEmulator, app: assembly.Application, prometheus: RunningPrometheus
) -> None:
    document = {
        "datasources": [
            {
                "name": "exfiltrate",
                "type": "prometheus",
                "url": prometheus.url,
                "jsonData": {"httpHeaderName1": "X-Leak"},
                "secureJsonData": {"httpHeaderValue1": "${HOME}"},
            }
        ]
    }
    await kube.create(
        emulator,
        kube.CONFIGMAPS,
        kube.configmap(
            "dev", "sneaky", {"ds.yaml": yaml.safe_dump(document)}, {"grafana_datasource": "1"}
        ),
    )
    await harness.eventually(lambda: any("HOME" in str(p) for p in app.registry.current().problems))
    assert "exfiltrate" not in ids(app)


@pytest.mark.parametrize(
    ("value", "served"),
    [("tenant-1\n", True), ("tenänt", False), ("two\nlines", False)],
    ids=["trailing-newline-is-trimmed", "non-ascii", "line-break"],
)
async def test_secret_values_that_cannot_be_headers_are_reported(
    emulator: kmock.KubernetesEmulator,
    app: assembly.Application,
    prometheus: RunningPrometheus,
    value: str,
    served: bool,
) -> None:
    await create_tenant_datasource(emulator, "team-h/hdr", prometheus.url, org=value)
    expected = "Serving" if served else "InvalidSecretValue"
    await harness.eventually(
        lambda: condition(emulator, "team-h", "hdr", "Ready").get("reason") == expected
    )
    assert ("team-h/hdr" in ids(app)) is served
    if served:
        found = app.registry.current().get("team-h/hdr")
        assert found is not None
        assert dict(found.connection.headers)["X-Scope-OrgID"].get_secret_value() == "tenant-1"
    assert value.strip() not in condition(emulator, "team-h", "hdr", "Ready")["message"]


async def test_a_relisting_drops_what_was_deleted_while_unwatched(
    emulator: kmock.KubernetesEmulator, tmp_path: pathlib.Path, prometheus: RunningPrometheus
) -> None:
    emulator.objects[kube.CRS, "team-i", "gone"] = kube.datasource(
        "team-i", "gone", url=prometheus.url
    )
    document = yaml.safe_dump(
        {"datasources": [{"name": "cm-gone", "type": "prometheus", "url": prometheus.url}]}
    )
    emulator.objects[kube.CONFIGMAPS, "team-i", "ds"] = kube.configmap(
        "team-i", "ds", {"a.yaml": document}, {"grafana_datasource": "1"}
    )
    config = operator_settings(emulator, tmp_path)
    sources = runtime.KubernetesSources(config)
    async with harness.serving(config, extensions=[sources]) as application:
        await harness.eventually(lambda: {"team-i/gone", "cm-gone"} <= ids(application))
        assert sources.crs is not None and sources.configmaps is not None
        # What a relisting finds after both were deleted while no watch was running:
        await sources.crs.forget_all_but([])
        sources.configmaps.forget_all_but([])
        assert not ({"team-i/gone", "cm-gone"} & ids(application))
