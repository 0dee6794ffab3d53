"""End-to-end fixtures: the image built from the Dockerfile, a kind cluster (pytest-kind),
a real Prometheus in it, the Helm chart installed with auth.mode=active, an agent's
ServiceAccount token, and the MCP Service port-forwarded to this machine.

Where there is no Docker engine, or kind cannot be obtained, every test here is skipped with
one reason. `make test` never collects this directory (pyproject's testpaths is tests/);
`make e2e` runs it.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_kind import KindCluster

from e2e import support

HERE = Path(__file__).resolve().parent
_PREREQUISITES = pytest.StashKey[support.Tools | str]()


def prerequisites(config: pytest.Config) -> support.Tools | str:
    """kind and kubectl when a Docker engine answers, else why not (checked once)."""
    if _PREREQUISITES not in config.stash:
        problem = support.docker_problem()
        if problem is None:
            try:
                config.stash[_PREREQUISITES] = support.find_tools(
                    config.getoption("kind_bin"), config.getoption("kind_kubectl_bin")
                )
            except support.Missing as missing:
                problem = str(missing)
        if problem is not None:
            config.stash[_PREREQUISITES] = (
                f"e2e needs a Docker engine and kind: {problem}; run `make e2e` where they exist"
            )
    return config.stash[_PREREQUISITES]


@pytest.hookimpl(tryfirst=True)  # before `-m e2e` deselects anything
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in item.path.parents]
    if not ours:
        return
    found = prerequisites(config)
    for item in ours:
        item.add_marker(pytest.mark.e2e)
        # The first test also pays for the image build, the cluster and the install.
        item.add_marker(pytest.mark.timeout(1200))
        if isinstance(found, str):
            item.add_marker(pytest.mark.skip(reason=found))


@pytest.fixture(scope="session")
def tools(pytestconfig: pytest.Config) -> support.Tools:
    found = prerequisites(pytestconfig)
    assert not isinstance(found, str), found
    return found


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, tools: support.Tools) -> Iterator[KindCluster]:
    """The kind cluster `proms-mcp-e2e`, re-used if it exists (pytest-kind's create) and
    deleted at the end unless --keep-cluster."""
    support.STATE_DIR.mkdir(parents=True, exist_ok=True)
    # KindCluster makes a ./.pytest-kind/<name> folder in the working directory; every path
    # it uses is given here, so let that folder land in the git-ignored state directory.
    with contextlib.chdir(support.STATE_DIR):
        kind = KindCluster(
            support.CLUSTER_NAME,
            kubeconfig=support.STATE_DIR / "kubeconfig",
            image=request.config.getoption("kind_image"),  # --kind-image kindest/node:...
            kind_path=tools.kind,
            kubectl_path=tools.kubectl,
        )
    kind.create()
    yield kind
    if not request.config.getoption("keep_cluster"):
        kind.delete()


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest, cluster: KindCluster) -> Iterator[support.Kube]:
    """kubectl and helm against the cluster; after a failed run (before the cluster goes),
    pods, events and logs are written to .tools/kind/proms-mcp-e2e/diagnostics.txt."""
    kube = support.Kube(
        Path(cluster.kubectl_path), Path(cluster.kubeconfig_path), support.helm_binary()
    )
    yield kube
    if request.session.testsfailed:
        _write_diagnostics(kube)


def _write_diagnostics(kube: support.Kube) -> None:
    report = support.STATE_DIR / "diagnostics.txt"
    with report.open("w") as out:
        for args in (
            ("get", "pods,deployments,services,promds,configmaps", "-A", "-o", "wide"),
            ("get", "events", "-A", "--sort-by=.lastTimestamp"),
            ("logs", "-n", support.NAMESPACE, f"deployment/{support.RELEASE}", "--tail=500"),
            ("logs", "-n", "monitoring", "deployment/prometheus", "--tail=100"),
        ):
            out.write(f"$ kubectl {' '.join(args)}\n")
            try:
                out.write(kube.kubectl(*args))
            except AssertionError as exc:
                out.write(f"{exc}\n")
            out.write("\n")
    print(f"\ne2e diagnostics: {report}")


@pytest.fixture(scope="session")
def image(cluster: KindCluster) -> str:
    """proms-mcp:e2e built from the repository's Dockerfile and loaded into the kind node;
    returns its image id (a pod annotation, so a rebuilt image rolls out on a kept cluster)."""
    subprocess.run(["docker", "build", "-t", support.IMAGE, "."], cwd=support.REPO, check=True)
    cluster.load_docker_image(support.IMAGE)
    return subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", support.IMAGE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(scope="session")
def prometheus(kube: support.Kube) -> str:
    """A real Prometheus (prom/prometheus:v2.53.0) in `monitoring`, scraping itself."""
    kube.apply("prometheus.yaml")
    kube.rollout("monitoring", "prometheus")
    return support.PROMETHEUS_URL


@pytest.fixture(scope="session")
def release(kube: support.Kube, image: str) -> str:
    """The chart installed from charts/proms-mcp with the e2e image and auth.mode=active
    (`upgrade --install`: a fresh install, or the same on a --keep-cluster re-run)."""
    kube.helm(
        "upgrade",
        "--install",
        support.RELEASE,
        str(support.CHART),
        "--namespace",
        support.NAMESPACE,
        "--create-namespace",
        "--set",
        "image.repository=proms-mcp",
        "--set",
        "image.tag=e2e",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        "auth.mode=active",
        "--set",
        "probeInterval=5",  # Reachable within seconds, not a minute
        "--set-string",
        f"podAnnotations.e2e-image-id={image}",
    )
    kube.rollout(support.NAMESPACE, support.RELEASE)
    support.eventually(kube.served, timeout=60, what="proms-mcp /ready")
    return support.RELEASE


@pytest.fixture(scope="session")
def agent_token(kube: support.Kube) -> str:
    """A token of the ServiceAccount agents/agent, as an MCP client would send it."""
    kube.apply("agent.yaml")
    token = kube.kubectl(
        "create", "token", support.AGENT, "-n", support.AGENT_NAMESPACE, "--duration=2h"
    ).strip()
    assert token, "kubectl create token printed nothing"
    return token


@pytest.fixture(scope="session")
def mcp(kube: support.Kube, release: str) -> Iterator[support.Endpoint]:
    """The chart's Service, port 8000, forwarded to a free local port."""
    forward = support.PortForward(kube, support.NAMESPACE, f"service/{release}", 8000)
    try:
        yield support.Endpoint(forward)
    finally:
        forward.stop()


@pytest.fixture(scope="session")
def granted_datasource(kube: support.Kube, release: str, prometheus: str) -> str:
    """monitoring/prom -> the cluster's Prometheus, with a Role letting agents/agent query
    it; returns its datasource id once proms-mcp serves it."""
    kube.apply("datasource-granted.yaml")
    support.eventually(
        lambda: kube.served()["datasources"]["monitoring/prom"],
        timeout=60,
        what="proms-mcp serving monitoring/prom",
    )
    return "monitoring/prom"
