"""What the end-to-end suite runs on: its prerequisites (a Docker engine, kind, kubectl,
helm), kubectl and helm against the kind cluster, a self-healing port-forward, MCP calls with
a bearer token, and polling with deadlines.

pytest-kind (22.11) creates, loads images into and deletes the cluster. Its downloader is not
used: it pins kind v0.17.0 / kubectl v1.25.3, always fetches amd64 binaries, has no network
timeout and checks no digest. Its `port_forward` is not used either: it never leaves its retry
loop on success (ten kubectl processes one after another, ~10 s) and leaks the kubectl process
when the last attempt fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.types import TextContent

from mcp_server.demo import local
from tests.support import docker_engine, harness

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = Path(__file__).resolve().parent / "manifests"
CHART = REPO / "charts" / "proms-mcp"

CLUSTER_NAME = "proms-mcp-e2e"
IMAGE = "proms-mcp:e2e"
RELEASE = "proms-mcp"  # contains the chart name, so every object is called just "proms-mcp"
NAMESPACE = "proms-mcp"
AGENT_NAMESPACE, AGENT = "agents", "agent"
PROMETHEUS_URL = "http://prometheus.monitoring.svc:9090"

# The same variables pytest-kind reads; the defaults are newer than pytest-kind's.
KIND_VERSION = os.environ.get("KIND_VERSION", "v0.27.0")  # Kubernetes 1.32 nodes
KUBECTL_VERSION = os.environ.get("KUBECTL_VERSION", "v1.32.2")
TOOLS_DIR = REPO / ".tools" / "bin"  # git-ignored, where `make helm` puts helm
STATE_DIR = REPO / ".tools" / "kind" / CLUSTER_NAME  # kubeconfig, diagnostics

INITIALIZE = harness.initialize("e2e")


class Missing(Exception):
    """A prerequisite that is absent or cannot be obtained; its text is the skip reason."""


# --- prerequisites --------------------------------------------------------------------------


def docker_problem() -> str | None:
    """Why no Docker engine is usable, or None."""
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not on PATH"
    version, why_not = docker_engine.answers(docker, dict(os.environ))
    return None if version else f"`docker info` failed ({why_not})"


@dataclass(frozen=True)
class Tools:
    kind: Path
    kubectl: Path


def find_tools(kind_bin: str | None, kubectl_bin: str | None) -> Tools:
    """kind and kubectl: pytest-kind's --kind-bin/--kind-kubectl-bin, else PATH, else a
    pinned release downloaded once into .tools/bin and checked against its published digest."""
    system, arch = platform.system().lower(), _arch()
    kind_url = os.environ.get(
        "KIND_DOWNLOAD_URL",
        f"https://github.com/kubernetes-sigs/kind/releases/download/{KIND_VERSION}/"
        f"kind-{system}-{arch}",
    )
    kubectl_url = os.environ.get(
        "KUBECTL_DOWNLOAD_URL",
        f"https://dl.k8s.io/release/{KUBECTL_VERSION}/bin/{system}/{arch}/kubectl",
    )
    kind = _tool("kind", kind_bin, "--kind-bin", KIND_VERSION, kind_url, ".sha256sum")
    kubectl = _tool(
        "kubectl", kubectl_bin, "--kind-kubectl-bin", KUBECTL_VERSION, kubectl_url, ".sha256"
    )
    return Tools(kind=kind, kubectl=kubectl)


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )


def _tool(
    name: str, given: str | None, option: str, version: str, url: str, digest_suffix: str
) -> Path:
    if given:
        path = Path(given).resolve()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise Missing(f"{option} {given} is not an executable file")
        return path
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    cached = TOOLS_DIR / f"{name}-{version}"
    if cached.is_file():
        return cached
    try:
        _download(url, cached, url + digest_suffix)
    except (httpx.HTTPError, OSError, ValueError) as exc:
        raise Missing(f"{name} is not on PATH and {url} could not be downloaded ({exc})") from exc
    return cached


def _download(url: str, destination: Path, digest_url: str) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    digest = hashlib.sha256()
    with httpx.Client(follow_redirects=True, timeout=60) as http:
        with http.stream("GET", url) as response, partial.open("wb") as out:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                digest.update(chunk)
                out.write(chunk)
        published = http.get(digest_url)
    if published.status_code == 200:  # a mirror (KIND_DOWNLOAD_URL) may publish none
        expected = published.text.split()[0].lower() if published.text.split() else ""
        if expected != digest.hexdigest():
            partial.unlink()
            raise ValueError(f"sha256 {digest.hexdigest()} differs from {digest_url}")
    partial.chmod(0o755)
    partial.replace(destination)


def helm_binary() -> Path:
    """HELM (as the Makefile passes it), else .tools/bin/helm (`make helm`), else PATH.
    A missing helm fails the suite: it is a setup error, not a reason to skip."""
    configured = os.environ.get("HELM")
    if configured:
        path = Path(configured) if Path(configured).is_absolute() else REPO / configured
        if path.is_file() and os.access(path, os.X_OK):
            return path
        found = shutil.which(configured)
        if found:
            return Path(found)
        raise AssertionError(f"HELM={configured} is not an executable; run `make helm`")
    local = TOOLS_DIR / "helm"
    if local.is_file():
        return local
    found = shutil.which("helm")
    if found:
        return Path(found)
    raise AssertionError("helm not found (HELM, .tools/bin/helm, PATH): run `make helm`")


# --- kubectl, helm, port-forward ------------------------------------------------------------


def run(command: Sequence[str | Path], *, env: dict[str, str], stdin: str | None = None) -> str:
    """Run a command; a failure is an AssertionError carrying the command and its stderr."""
    argv = [str(part) for part in command]
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=env, cwd=REPO, check=False
    )
    if done.returncode != 0:
        raise AssertionError(
            f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr.strip() or done.stdout}"
        )
    return done.stdout


@dataclass(frozen=True)
class Kube:
    """kubectl and helm against the kind cluster (its kubeconfig, never the user's)."""

    kubectl_path: Path
    kubeconfig: Path
    helm_path: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return run([self.kubectl_path, *args], env=self.env, stdin=stdin)

    def helm(self, *args: str) -> str:
        return run([self.helm_path, *args], env=self.env)

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", str(MANIFESTS / manifest))

    def delete(self, manifest: str) -> None:
        self.kubectl(
            "delete", "--ignore-not-found", "--wait=false", "-f", str(MANIFESTS / manifest)
        )

    def rollout(self, namespace: str, deployment: str, timeout: str = "300s") -> None:
        self.kubectl(
            "rollout", "status", f"deployment/{deployment}", "-n", namespace, f"--timeout={timeout}"
        )

    def served(self) -> dict[str, Any]:
        """proms-mcp's /ready body (port 8080) through the API server's service proxy:
        which datasources it serves, whatever any caller may see. Fails while not ready."""
        body = self.kubectl(
            "get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/services/{RELEASE}:8080/proxy/ready"
        )
        answer: dict[str, Any] = json.loads(body)
        return answer

    def promds(self, namespace: str, name: str, *, wide: bool = False) -> dict[str, str]:
        """One row of `kubectl get promds`, as the user sees it: column -> value ("" when
        the column is empty, e.g. before the first status)."""
        args = ["get", "promds", name, "-n", namespace] + (["-o", "wide"] if wide else [])
        header, row = self.kubectl(*args).splitlines()[:2]
        starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
        ends = [*starts[1:], None]
        return {
            header[start:end].strip(): row[start:end].strip()
            for start, end in zip(starts, ends, strict=True)
        }


class PortForward:
    """`kubectl port-forward` to a Service on a free local port, restarted when it died (a
    port-forward follows one pod, which a rollout replaces)."""

    def __init__(self, kube: Kube, namespace: str, target: str, remote_port: int) -> None:
        self._kube = kube
        self._argv = [
            str(kube.kubectl_path),
            "port-forward",
            "-n",
            namespace,
            target,
            f":{remote_port}",
            "--address",
            "127.0.0.1",
        ]
        self._process: subprocess.Popen[bytes] | None = None
        self._log = STATE_DIR / f"port-forward-{namespace}-{target.replace('/', '-')}.log"
        self._port = 0

    @property
    def port(self) -> int:
        if self._process is None or self._process.poll() is not None:
            self.restart()
        return self._port

    def restart(self, timeout: float = 60.0) -> None:
        self.stop()
        self._port = eventually(self._start, timeout=timeout, what=" ".join(self._argv[1:]))

    def _start(self) -> int:
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with self._log.open("wb") as log:  # a file, not a pipe: nothing has to drain it
            process = self._process = subprocess.Popen(
                self._argv, stdout=log, stderr=subprocess.STDOUT, env=self._kube.env
            )
        prefix = "Forwarding from 127.0.0.1:"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for line in self._log.read_text().splitlines():
                if line.startswith(prefix):
                    return int(line[len(prefix) :].split()[0])
            if process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"kubectl port-forward is not forwarding: {self._log.read_text()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            local.stop(process, timeout=10)


# --- MCP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """The MCP endpoint through a port-forward to the chart's Service."""

    forward: PortForward

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.forward.port}/mcp/"


@dataclass(frozen=True)
class Answer:
    """One tool call's result: the structured content, or the error body."""

    is_error: bool
    body: dict[str, Any]

    @property
    def error_code(self) -> str | None:
        return str(self.body["error"]["code"]) if self.is_error else None


def _client(url: str, token: str) -> Client[StreamableHttpTransport]:
    transport = StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"})
    return Client(transport, timeout=30, init_timeout=30)


def list_tools(url: str, token: str) -> list[str]:
    async def go() -> list[str]:
        async with _client(url, token) as mcp:
            return sorted(tool.name for tool in await mcp.list_tools())

    return asyncio.run(go())


def call_tool(url: str, token: str, tool: str, arguments: dict[str, Any]) -> Answer:
    async def go() -> Answer:
        async with _client(url, token) as mcp:
            result = await mcp.call_tool(tool, arguments, raise_on_error=False)
        if result.is_error:
            block = result.content[0]
            assert isinstance(block, TextContent), block
            return Answer(is_error=True, body=json.loads(block.text))
        assert result.structured_content is not None, result
        return Answer(is_error=False, body=dict(result.structured_content))

    return asyncio.run(go())


def visible_datasources(url: str, token: str) -> dict[str, dict[str, Any]]:
    """list_datasources for this caller, by id."""
    answer = call_tool(url, token, "list_datasources", {})
    assert not answer.is_error, answer.body
    return {entry["id"]: entry for entry in answer.body["datasources"]}


def up_values(url: str, token: str, datasource_id: str) -> list[Any]:
    """The values of `up` through query_instant; an error answer fails."""
    answer = call_tool(
        url, token, "query_instant", {"datasource_id": datasource_id, "promql": "up"}
    )
    assert not answer.is_error, answer.body
    return [series["value"] for series in answer.body["series"]]


# --- polling --------------------------------------------------------------------------------


def eventually(check: Callable[[], T], *, timeout: float, what: str, interval: float = 1.0) -> T:
    """Call `check` until it returns instead of raising, up to `timeout` seconds; then fail
    with what was awaited and the last error. The only place this suite waits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except Exception as exc:
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what}: not within {timeout:g} s; last: {exc!r}") from exc
        time.sleep(interval)
