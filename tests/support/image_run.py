"""Running the image the way the Helm chart's Deployment runs it, on this machine's network.

The pod is read from the chart as rendered with its default values (`helm template`): its user
and group, read-only root filesystem with an emptyDir on /tmp as the only writable path, no
capabilities, no privilege escalation, its memory limit, grace period, environment and
arguments. `docker run` reproduces each of them::

    pod = image_run.chart_pod(helm)
    with image_run.running(engine, image, pod, env={"AUTH_MODE": "none"}) as container:
        container.wait_ready()

Containers use the host's network (`--network host`) and listen on 127.0.0.1 on free ports, so
they reach the tests' Prometheus and nothing outside this machine reaches them.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import yaml

from tests.support import docker_engine, harness

__all__ = ["ChartPod", "Container", "chart_pod", "find_helm", "quantity", "running"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "proms-mcp"

_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}


def quantity(text: str) -> int:
    """A Kubernetes memory quantity (`512Mi`, `64M`, `1Gi`, `1000`) in bytes."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|k|M|G)?", str(text).strip())
    if match is None:
        raise ValueError(f"not a memory quantity this helper reads: {text!r}")
    return int(match.group(1)) * _SUFFIXES.get(match.group(2) or "", 1)


def find_helm() -> str:
    """helm from HELM, .tools/bin (scripts/get-helm.sh puts it there) or PATH."""
    for candidate in (os.environ.get("HELM"), str(ROOT / ".tools" / "bin" / "helm")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("helm")
    if found is None:
        raise FileNotFoundError("no helm: run `make helm` (scripts/get-helm.sh) or set HELM")
    return found


@dataclass(frozen=True)
class ChartPod:
    """What of the chart's Deployment `docker run` can reproduce."""

    user: int
    group: int
    read_only_root: bool
    drop_all_capabilities: bool
    no_privilege_escalation: bool
    memory_request: int
    memory_limit: int
    tmp_size: int
    grace_seconds: int
    env: Mapping[str, str]
    args: tuple[str, ...]


def chart_pod(helm: str) -> ChartPod:
    """The Deployment of `helm template` with the chart's default values."""
    rendered = subprocess.run(
        [helm, "template", "check", str(CHART)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    (deployment,) = [
        doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "Deployment"
    ]
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    security: dict[str, Any] = {**spec.get("securityContext", {}), **container["securityContext"]}
    (tmp,) = [v for v in spec["volumes"] if v["name"] == "tmp"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp"}, f"the chart mounts more than /tmp: {mounts}"
    return ChartPod(
        user=int(security["runAsUser"]),
        group=int(security["runAsGroup"]),
        read_only_root=bool(security.get("readOnlyRootFilesystem")),
        drop_all_capabilities="ALL" in security.get("capabilities", {}).get("drop", []),
        no_privilege_escalation=security.get("allowPrivilegeEscalation") is False,
        memory_request=quantity(container["resources"]["requests"]["memory"]),
        memory_limit=quantity(container["resources"]["limits"]["memory"]),
        tmp_size=quantity(tmp["emptyDir"]["sizeLimit"]),
        grace_seconds=int(spec["terminationGracePeriodSeconds"]),
        env={e["name"]: str(e["value"]) for e in container["env"] if "value" in e},
        args=tuple(container.get("args", ())),
    )


@dataclass(frozen=True)
class Container:
    engine: docker_engine.Engine
    name: str
    mcp_url: str
    health_url: str
    mounts: tuple[str, ...] = field(default=())

    def docker(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.engine.docker(*args, timeout=timeout)

    def state(self) -> dict[str, Any]:
        shown = self.docker("inspect", "--format", "{{json .State}}", self.name).stdout
        state: dict[str, Any] = json.loads(shown)
        return state

    def logs(self) -> str:
        """The container's own stdout and stderr (not the docker CLI's)."""
        shown = self.engine.docker("logs", self.name, timeout=60)
        return shown.stdout + shown.stderr

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> float:
        """Seconds until `condition` holds; fails with the log if the container exits first."""
        started = time.monotonic()
        while not condition():
            # The condition is looked at again once the container is seen stopped: it may have
            # stopped in between, and the condition may be about that.
            if not self.state()["Running"] and not condition():
                raise AssertionError(f"{self.name} exited before {what}:\n{self.logs()[-3000:]}")
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{self.name}: not {what} within {timeout:g}s")
            time.sleep(0.05)
        return time.monotonic() - started

    def status(self, path: str) -> int | None:
        try:
            return httpx.get(self.health_url + path, timeout=2, trust_env=False).status_code
        except httpx.HTTPError:
            return None

    def wait_ready(self, timeout: float = 60) -> float:
        return self.wait_for(lambda: self.status("/ready") == 200, "ready", timeout)

    def writes_outside_tmp(self) -> list[str]:
        """`docker diff` lines, less the mount points docker made for bind mounts."""
        made_for_mounts = {
            str(path)
            for mount in self.mounts
            for path in (pathlib.PurePosixPath(mount), *pathlib.PurePosixPath(mount).parents)
            if str(path) != "/"
        }
        changes = self.docker("diff", self.name).stdout.splitlines()
        return [line for line in changes if line.split(maxsplit=1)[-1] not in made_for_mounts]

    def stop(self, grace_seconds: int) -> tuple[float, int]:
        """`docker stop` as the kubelet stops a pod: (seconds it took, exit code)."""
        started = time.monotonic()
        self.docker("stop", "--time", str(grace_seconds), self.name, timeout=grace_seconds + 30)
        return time.monotonic() - started, int(self.state()["ExitCode"])


def docker_run_args(
    pod: ChartPod,
    *,
    user: str | None = None,
    env: Mapping[str, str] = {},
    volumes: Mapping[pathlib.Path, str] = {},
) -> list[str]:
    """`docker run` options for the chart's pod, on the host network; env overrides the
    chart's environment, volumes are bind-mounted read-only."""
    options = ["--network", "host", "--user", user or f"{pod.user}:{pod.group}"]
    if pod.read_only_root:
        options.append("--read-only")
    options += ["--tmpfs", f"/tmp:rw,mode=1777,size={pod.tmp_size}"]
    if pod.drop_all_capabilities:
        options += ["--cap-drop", "ALL"]
    if pod.no_privilege_escalation:
        options += ["--security-opt", "no-new-privileges"]
    options += ["--memory", str(pod.memory_limit), "--memory-swap", str(pod.memory_limit)]
    for name, value in {**pod.env, **env}.items():
        options += ["--env", f"{name}={value}"]
    for source, target in volumes.items():
        options += ["--volume", f"{source}:{target}:ro"]
    return options


@contextlib.contextmanager
def running(
    engine: docker_engine.Engine,
    image: str,
    pod: ChartPod,
    *,
    user: str | None = None,
    env: Mapping[str, str] = {},
    volumes: Mapping[pathlib.Path, str] = {},
    args: Sequence[str] | None = None,
) -> Iterator[Container]:
    """The image started detached as the chart's pod, on free loopback ports; removed after."""
    port, health = harness.free_port(), harness.free_port()
    name = f"proms-mcp-check-{uuid.uuid4().hex[:8]}"
    listen = {"HOST": "127.0.0.1", "PORT": str(port), "HEALTH_METRICS_PORT": str(health)}
    options = docker_run_args(pod, user=user, env={**listen, **env}, volumes=volumes)
    command = list(pod.args if args is None else args)
    engine.docker("run", "--detach", "--name", name, *options, image, *command)
    try:
        yield Container(
            engine=engine,
            name=name,
            mcp_url=f"http://127.0.0.1:{port}/mcp/",
            health_url=f"http://127.0.0.1:{health}",
            mounts=tuple(volumes.values()),
        )
    finally:
        engine.docker("rm", "--force", name, check=False)
