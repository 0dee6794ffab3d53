"""A Docker engine for the image check and `make bench`: the one the environment points at, or
a private `dockerd` started here and stopped at the end.

Where `docker info` answers (through DOCKER_HOST or the default socket) that engine is used as
it is. Otherwise, when this process is root and Debian's `dockerd` (package docker.io) is
installed, a private engine is started with its own socket, exec root and pid file::

    with docker_engine.engine() as engine:
        engine.docker("images")

Its data root outlives the session (`.tools/docker/data`, or $PROMS_MCP_DOCKER_ROOT), so the
base image and the build cache are kept between runs. It makes no bridge and changes neither
iptables nor ip_forward (`--bridge=none --iptables=false --ip-forward=false`): builds and
containers use the host's network (`--network host`), so nothing on the host needs putting
back when it stops. Stopping it is SIGTERM (SIGKILL after 30 s), then whatever it left
mounted under its exec root is unmounted and the exec root removed.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mcp_server.demo import local

__all__ = ["DATA_ROOT", "Engine", "Unavailable", "engine"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA_ROOT = pathlib.Path(os.environ.get("PROMS_MCP_DOCKER_ROOT") or ROOT / ".tools" / "docker")
"""The private engine's state: `data/` (images, build cache) and `dockerd.log`."""

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
_PRIVATE_FLAGS = (
    "--bridge=none",
    "--iptables=false",
    "--ip-forward=false",
    "--ip-masq=false",
)


class Unavailable(Exception):
    """No Docker engine answers and none can be started here; the text says why."""


@dataclass(frozen=True)
class Engine:
    """A Docker engine that answers, through `cli` with `host` as DOCKER_HOST."""

    cli: str
    host: str | None
    private: bool
    server_version: str

    @property
    def environ(self) -> dict[str, str]:
        """This process's environment, pointed at this engine."""
        environ = dict(os.environ)
        if self.host is not None:
            environ["DOCKER_HOST"] = self.host
        return environ

    @property
    def build_flags(self) -> tuple[str, ...]:
        """`docker build` flags this engine needs: a private one has no bridge network."""
        return ("--network", "host") if self.private else ()

    def docker(
        self, *args: str, timeout: float = 120, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`docker ARGS` against this engine; raises with its stderr when `check` fails."""
        completed = subprocess.run(
            [self.cli, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.environ,
            check=False,
        )
        if check and completed.returncode != 0:
            raise RuntimeError(
                f"docker {' '.join(args)[:200]} failed ({completed.returncode}):\n"
                f"{completed.stderr.strip()[-3000:]}"
            )
        return completed


def answers(cli: str, environ: dict[str, str]) -> tuple[str | None, str]:
    """(server version, None) when `docker info` answers, else (None, why not)."""
    try:
        answer = subprocess.run(
            [cli, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            env=environ,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "`docker info` did not answer within 20 s"
    version = answer.stdout.strip()
    if answer.returncode == 0 and version and "<no value>" not in version:
        return version, ""
    lines = [line.strip() for line in answer.stderr.splitlines() if line.strip()]
    return None, lines[-1] if lines else f"`docker info` exited {answer.returncode}"


@contextlib.contextmanager
def engine() -> Iterator[Engine]:
    """The environment's engine if it answers, else a private one for the block's duration."""
    cli = shutil.which("docker")
    if cli is None:
        raise Unavailable("the docker command is not on PATH (Debian: apt-get install docker.io)")
    version, why = answers(cli, dict(os.environ))
    if version is not None:
        yield Engine(
            cli=cli, host=os.environ.get("DOCKER_HOST"), private=False, server_version=version
        )
        return
    dockerd = shutil.which("dockerd", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if dockerd is None:
        raise Unavailable(f"no Docker engine answers ({why}) and dockerd is not installed")
    if os.geteuid() != 0:
        raise Unavailable(f"no Docker engine answers ({why}) and only root can start one here")
    with _private_engine(cli, dockerd) as started:
        yield started


@contextlib.contextmanager
def _private_engine(cli: str, dockerd: str) -> Iterator[Engine]:
    data = DATA_ROOT / "data"
    data.mkdir(parents=True, exist_ok=True)
    # Unix socket paths are limited to 107 bytes: keep the socket and exec root short.
    run_dir = pathlib.Path(tempfile.mkdtemp(prefix="proms-dockerd-", dir="/tmp"))
    host = f"unix://{run_dir / 'docker.sock'}"
    log_path = DATA_ROOT / "dockerd.log"
    command: Sequence[str] = (
        dockerd,
        "--host",
        host,
        "--data-root",
        str(data),
        "--exec-root",
        str(run_dir / "exec"),
        "--pidfile",
        str(run_dir / "dockerd.pid"),
        *_PRIVATE_FLAGS,
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        environ = {**os.environ, "DOCKER_HOST": host}
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            version, why = answers(cli, environ)
            if version is not None:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise Unavailable(f"a private dockerd did not start ({why}); {log_path}:\n{tail}")
            time.sleep(0.1)
        yield Engine(cli=cli, host=host, private=True, server_version=version)
    finally:
        _stop(process)
        _unmount_under(run_dir)
        _unmount_under(data)
        shutil.rmtree(run_dir, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    local.stop(process, timeout=STOP_TIMEOUT_S)


def _unmount_under(path: pathlib.Path) -> None:
    """Lazily unmount whatever dockerd left mounted below `path` (deepest first)."""
    prefix = str(path) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
