"""The container image, built from the Dockerfile and run as the Helm chart's Deployment runs it.

The image is built with `make image` (tests/support/image_build.py: on $PYTHON_IMAGE, or on a
stand-in for python:3.11-slim made from Debian packages where no registry is reachable) and run
with the chart's user (and an arbitrary one in group 0), a read-only root with a tmpfs /tmp, no
capabilities, no privilege escalation and the chart's memory limit
(tests/support/image_run.py), on the host's network against the suite's real Prometheus.

They need a Docker engine: the environment's, or a private dockerd this session starts when it
runs as root (tests/support/docker_engine.py). Where none can be had every test here is skipped with
the reason (`-ra` prints it), unless CI or PROMS_MCP_REQUIRE_DOCKER=1 (`make image-check`)
says the engine must exist: then they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
import trustme
from fastmcp import Client

from tests.support import (
    answers,
    app_host,
    docker_engine,
    harness,
    image_build,
    image_run,
    prometheus_process,
)

pytestmark = [pytest.mark.image, pytest.mark.timeout(900)]

ROOT = pathlib.Path(__file__).resolve().parents[2]
STANDALONE = {"PROMS_MCP_MODE": "standalone", "AUTH_MODE": "none"}
"""Over the chart's environment: serve a provisioning file, no Kubernetes API to ask."""
PROVISIONING = "/etc/grafana/provisioning/datasources"
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
ARBITRARY_USER = "1000650000:0"
"""What OpenShift's restricted SCC runs a pod as: a UID from the namespace's range, GID 0."""


def docker_required() -> bool:
    ci = os.environ.get("CI", "").strip().lower()
    return os.environ.get("PROMS_MCP_REQUIRE_DOCKER") == "1" or ci in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    if docker_required():
        pytest.fail(f"{reason} (CI or PROMS_MCP_REQUIRE_DOCKER=1 requires it)", pytrace=False)
    pytest.skip(f"{reason}; `make image-check` runs these where one can be had")


@pytest.fixture(scope="session")
def engine() -> Iterator[docker_engine.Engine]:
    with contextlib.ExitStack() as stack:
        try:
            found = stack.enter_context(docker_engine.engine())
        except docker_engine.Unavailable as exc:
            unavailable(f"the image check needs a Docker engine: {exc}")
        yield found


@pytest.fixture(scope="session")
def built(
    engine: docker_engine.Engine, tmp_path_factory: pytest.TempPathFactory
) -> image_build.Built:
    needs_stand_in = not os.environ.get("PYTHON_IMAGE", "").strip()
    has_stand_in = (
        engine.docker("image", "inspect", image_build.stand_in_tag(), check=False).returncode == 0
    )
    if needs_stand_in and not has_stand_in and shutil.which("mmdebstrap") is None:
        unavailable(
            "the image check needs a base: set PYTHON_IMAGE (e.g. python:3.11-slim), or "
            "install mmdebstrap (Debian) to make one from Debian packages"
        )
    base = image_build.python_base(engine)
    return image_build.build(engine, base, tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="session")
def pod() -> image_run.ChartPod:
    return image_run.chart_pod(image_run.find_helm())


def readable(folder: pathlib.Path) -> pathlib.Path:
    """Open a pytest temporary folder (mode 0700) to the container's user."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


@pytest.fixture(scope="module")
def provisioning(
    tmp_path_factory: pytest.TempPathFactory, prometheus: prometheus_process.RunningPrometheus
) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("image-provisioning")
    source = {"name": "prom", "type": "prometheus", "url": prometheus.url}
    (folder / "datasources.yaml").write_text(json.dumps({"apiVersion": 1, "datasources": [source]}))
    return readable(folder)


@contextlib.contextmanager
def serving(
    engine: docker_engine.Engine,
    built: image_build.Built,
    pod: image_run.ChartPod,
    provisioning: pathlib.Path,
    *,
    user: str | None = None,
    env: Mapping[str, str] = {},
) -> Iterator[image_run.Container]:
    """The image serving `provisioning` (datasource "prom"), ready."""
    with image_run.running(
        engine,
        built.tag,
        pod,
        user=user,
        env={**STANDALONE, **env},
        volumes={provisioning: PROVISIONING},
    ) as container:
        container.wait_ready()
        yield container


@pytest.fixture(scope="module")
def served(
    engine: docker_engine.Engine,
    built: image_build.Built,
    pod: image_run.ChartPod,
    provisioning: pathlib.Path,
) -> Iterator[image_run.Container]:
    with serving(engine, built, pod, provisioning) as container:
        yield container


COUNT_REQUESTS = {
    "datasource_id": "prom",
    "promql": "count(demo_http_requests_total)",
    "time": prometheus_process.SYNTHETIC_END,
}
"""A query_instant whose answer comes from the Prometheus's backfilled history."""
REQUEST_SERIES = (
    len(prometheus_process.COUNTER_INSTANCES)
    * len(prometheus_process.COUNTER_METHODS)
    * len(prometheus_process.COUNTER_CODES)
)


def legacy_post(url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """One JSON-RPC request on the 2025-06-18 protocol (stateless server, JSON answer)."""
    response = httpx.post(url, json=body, headers=headers, trust_env=False, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert "error" not in answer, answer
    return answer


def exercise(container: image_run.Container) -> None:
    """tools/list and query_instant on both protocol eras, and the operations port."""
    for path in ("/health", "/ready", "/metrics"):
        assert container.status(path) == 200, path
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
    }
    legacy_post(container.mcp_url, harness.INITIALIZE, headers)
    listed = legacy_post(
        container.mcp_url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers
    )
    assert "query_instant" in {tool["name"] for tool in listed["result"]["tools"]}
    body, call_headers = answers.tool_call(
        "query_instant", {"datasource_id": "prom", "promql": "up"}
    )
    called = legacy_post(container.mcp_url, body, call_headers)
    assert not called["result"].get("isError"), called

    async def modern() -> None:
        async with Client(container.mcp_url) as mcp:
            assert "query_instant" in {tool.name for tool in await mcp.list_tools()}
            result = await answers.call(mcp, "query_instant", **COUNT_REQUESTS)
            assert result["series"][0]["value"] == REQUEST_SERIES, result

    asyncio.run(modern())


# --- the image itself -----------------------------------------------------------------------


def test_the_image_is_labelled_with_the_base_version_and_revision_it_was_built_from(
    engine: docker_engine.Engine, built: image_build.Built
) -> None:
    shown = engine.docker("image", "inspect", "--format", "{{json .Config.Labels}}", built.tag)
    labels = json.loads(shown.stdout)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    revision = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert labels["org.opencontainers.image.base.name"] == built.base
    assert labels["org.opencontainers.image.version"] == version
    assert labels["org.opencontainers.image.revision"] == revision


def test_the_build_machines_ca_certificates_stay_out_of_the_image(
    engine: docker_engine.Engine, built: image_build.Built
) -> None:
    in_image = image_build.base_ca_bundle(engine, built.tag)
    assert in_image, "the image has no CA bundle"
    assert in_image == image_build.base_ca_bundle(engine, built.base)
    history = engine.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", built.tag)
    assert "BUILD_CA_CERTS" not in history.stdout
    assert "BEGIN CERTIFICATE" not in history.stdout
    shown = engine.docker("image", "inspect", "--format", "{{json .Config.Env}}", built.tag)
    assert not [e for e in json.loads(shown.stdout) if e.startswith(("SSL_CERT", "PIP_CERT"))]


_SHIPPED = """
import importlib.util, json, pathlib, shutil, sysconfig
site = pathlib.Path(sysconfig.get_paths()["purelib"])
print(json.dumps({
    "pip": importlib.util.find_spec("pip") is not None,
    "uv": shutil.which("uv"),
    "tests": sorted(str(p) for p in site.rglob("tests") if p.is_dir())[:5],
    "stubs": sorted(str(p) for p in site.rglob("*.pyi"))[:5],
    "beartype": importlib.util.find_spec("beartype") is not None,
    "cyclopts": importlib.util.find_spec("cyclopts") is not None,
}))
"""


def test_the_virtual_environment_ships_no_installer_tests_stubs_or_cli_extras(
    engine: docker_engine.Engine, built: image_build.Built
) -> None:
    shown = engine.docker(
        "run", "--rm", "--network", "none", "--entrypoint", "python", built.tag, "-c", _SHIPPED
    )
    found = json.loads(shown.stdout)
    assert found == {
        "pip": False,
        "uv": None,
        "tests": [],
        "stubs": [],
        "beartype": True,  # py-key-value-aio imports it: fastmcp's 2025-06-18 sessions
        "cyclopts": False,  # fastmcp's command line
    }


def test_the_image_ships_the_mcp_app_its_viewer_stage_built_from_viewer_sources(
    engine: docker_engine.Engine, built: image_build.Built
) -> None:
    """The Dockerfile's viewer stage builds chart.html from the locked npm packages; the
    same sources built here give the same bytes (esbuild is deterministic)."""
    app_host.built()
    read = "import mcp_server.tools as t, importlib.resources as r, sys; " + (
        "sys.stdout.write(r.files(t).joinpath('viewer', 'chart.html').read_text())"
    )
    shown = engine.docker(
        "run", "--rm", "--network", "none", "--entrypoint", "python", built.tag, "-c", read
    )
    assert shown.stdout == app_host.APP_FILE.read_text()


# --- serving, as the chart's pod ------------------------------------------------------------


def test_the_pod_serves_health_ready_metrics_tools_and_queries_on_both_protocols(
    served: image_run.Container,
) -> None:
    exercise(served)
    ready = httpx.get(served.health_url + "/ready", trust_env=False).json()
    assert list(ready["datasources"]) == ["prom"]
    metrics = httpx.get(served.health_url + "/metrics", trust_env=False).text
    assert 'proms_mcp_tool_calls_total{outcome="success",tool="query_instant"}' in metrics


def test_the_pod_writes_nothing_outside_tmp(served: image_run.Container) -> None:
    exercise(served)
    assert served.writes_outside_tmp() == []
    logs = served.logs()
    assert not re.search(r"read-only file system|permission denied|Traceback", logs, re.I), logs


def test_any_uid_in_group_0_serves_as_the_charts_user_does(
    engine: docker_engine.Engine,
    built: image_build.Built,
    pod: image_run.ChartPod,
    provisioning: pathlib.Path,
) -> None:
    with serving(engine, built, pod, provisioning, user=ARBITRARY_USER) as container:
        exercise(container)
        assert container.writes_outside_tmp() == []


def test_start_up_and_first_calls_compile_no_python_source(
    engine: docker_engine.Engine,
    built: image_build.Built,
    pod: image_run.ChartPod,
    provisioning: pathlib.Path,
) -> None:
    """Read-only and without writing bytecode, every module compiled from source would be
    compiled again on every start: all of it must be compiled in the image."""
    with serving(engine, built, pod, provisioning, env={"PYTHONVERBOSE": "1"}) as container:
        exercise(container)
        logs = container.logs()
    from_bytecode = re.findall(r"^# code object from '(\S+\.pyc)'$", logs, re.M)
    from_source = re.findall(r"^# code object from (/\S+\.py)$", logs, re.M)
    assert len(from_bytecode) > 1000, "PYTHONVERBOSE showed no imports"
    assert from_source == []


def test_200_calls_keep_the_pods_memory_under_the_charts_request(
    served: image_run.Container, pod: image_run.ChartPod
) -> None:
    async def calls() -> None:
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            for batch in range(25):
                requests = []
                for i in range(8):
                    arguments = {"datasource_id": "prom", "promql": f"vector({batch * 8 + i})"}
                    body, headers = answers.tool_call("query_instant", arguments, request_id=i)
                    requests.append(http.post(served.mcp_url, json=body, headers=headers))
                for response in await asyncio.gather(*requests):
                    assert response.status_code == 200
                    assert not response.json()["result"].get("isError"), response.text

    asyncio.run(calls())
    metrics = httpx.get(served.health_url + "/metrics", trust_env=False).text
    match = re.search(r"^process_resident_memory_bytes ([\d.e+]+)$", metrics, re.M)
    assert match is not None
    assert float(match.group(1)) < pod.memory_request


def test_docker_stop_ends_the_pod_with_0_within_its_grace_period(
    engine: docker_engine.Engine,
    built: image_build.Built,
    pod: image_run.ChartPod,
    provisioning: pathlib.Path,
) -> None:
    with serving(engine, built, pod, provisioning) as container:
        exercise(container)
        seconds, exit_code = container.stop(pod.grace_seconds)
        logs = container.logs()
    assert exit_code == 0, logs[-3000:]
    assert seconds < pod.grace_seconds


def test_the_dockerfiles_example_serves_the_example_datasources(
    engine: docker_engine.Engine, built: image_build.Built, pod: image_run.ChartPod
) -> None:
    header = (ROOT / "Dockerfile").read_text().split("\nARG ", 1)[0]
    (mount,) = re.findall(r'-v "\$PWD/([^:"]+):([^:"]+):ro"', header)
    env = dict(re.findall(r"-e (\w+)=(\S+)", header))
    assert "--network host" in header
    source, target = ROOT / mount[0], mount[1]
    with image_run.running(
        engine,
        built.tag,
        pod,
        env={**env, "PROMS_MCP_MODE": "standalone"},
        volumes={source: target},
    ) as container:
        container.wait_ready()
        ready = httpx.get(container.health_url + "/ready", trust_env=False).json()
    assert "local-prometheus" in ready["datasources"], ready


# --- the operator entry point without a Kubernetes API ---------------------------------------


def test_the_operator_with_no_kubernetes_api_exits_2_with_one_clear_line(
    engine: docker_engine.Engine, built: image_build.Built, pod: image_run.ChartPod
) -> None:
    assert pod.env["PROMS_MCP_MODE"] == "operator"
    with image_run.running(engine, built.tag, pod) as container:
        container.wait_for(lambda: not container.state()["Running"], "exited", timeout=60)
        exit_code = int(container.state()["ExitCode"])
        lines = [line for line in container.logs().splitlines() if line.strip()]
    assert exit_code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("proms-mcp: ") and "Kubernetes API" in lines[0], lines


def test_a_pod_whose_kubernetes_api_is_unreachable_is_not_ready_saying_where_and_why(
    engine: docker_engine.Engine,
    built: image_build.Built,
    pod: image_run.ChartPod,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # In a pod, an API that does not answer is waited for: a crash would only be restarted
    # with a growing back-off, while a live, unready pod is ready as soon as the API is back.
    account = tmp_path_factory.mktemp("serviceaccount")
    trustme.CA().cert_pem.write_to_path(str(account / "ca.crt"))
    (account / "token").write_text("not-a-real-token")
    (account / "namespace").write_text("proms-mcp")
    volumes = {readable(account): SERVICE_ACCOUNT}
    with (
        prometheus_process.closed_port() as dead,
        image_run.running(
            engine,
            built.tag,
            pod,
            env={"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(dead)},
            volumes=volumes,
        ) as container,
    ):
        where = f"cannot reach the Kubernetes API at https://127.0.0.1:{dead}"

        def unready_saying_why() -> bool:
            try:
                ready = httpx.get(container.health_url + "/ready", trust_env=False, timeout=2)
            except httpx.HTTPError:
                return False
            return ready.status_code == 503 and where in ready.text

        container.wait_for(unready_saying_why, "/ready 503 naming the API", timeout=60)
        assert container.state()["Running"]
        health = httpx.get(container.health_url + "/health", trust_env=False, timeout=5)
        ready_text = httpx.get(container.health_url + "/ready", trust_env=False, timeout=5).text
        logs = container.logs()
    assert health.status_code == 200
    assert "connection refused" in ready_text
    assert where in logs and "in-cluster service account" in logs, logs
