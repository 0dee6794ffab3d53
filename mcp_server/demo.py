"""`proms-mcp demo` (what `make run` starts): a working server with no configuration at all.

With GRAFANA_DATASOURCES_PATH set, or a `local_config/datasources.yaml`, it serves that.
Otherwise it starts a local Prometheus (PROMETHEUS_BIN, or `prometheus` on PATH) in a
temporary folder, scraping itself and proms-mcp's own /metrics, and serves it as the
datasource `demo-prometheus`. Prometheus is stopped when proms-mcp stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx

from . import errors, server, settings

logger = logging.getLogger("proms_mcp.demo")

LOCAL_CONFIG = pathlib.Path("local_config/datasources.yaml")
DEMO_DATASOURCE = "demo-prometheus"


def run(config: settings.Settings) -> int:
    if config.sources.path_explicit:
        return server.run(config)
    if LOCAL_CONFIG.exists():
        logger.info("serving %s", LOCAL_CONFIG)
        sources = config.sources.model_copy(update={"datasources_path": LOCAL_CONFIG.resolve()})
        return server.run(config.model_copy(update={"sources": sources}))
    try:
        binary = find_prometheus()
    except errors.ConfigurationError as exc:
        print(f"proms-mcp demo: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="proms-mcp-demo-") as folder:
        workdir = pathlib.Path(folder)
        scrape = f"127.0.0.1:{config.server.health_metrics_port}"
        with local_prometheus(binary, workdir, scrape_targets=[scrape]) as url:
            provisioning_file = workdir / "datasources.yaml"
            provisioning_file.write_text(
                json.dumps(
                    {
                        "apiVersion": 1,
                        "datasources": [
                            {"name": DEMO_DATASOURCE, "type": "prometheus", "url": url}
                        ],
                    }
                )
            )
            sources = config.sources.model_copy(update={"datasources_path": provisioning_file})
            print(client_snippet(config), flush=True)
            return server.run(config.model_copy(update={"sources": sources}))


def client_snippet(config: settings.Settings) -> str:
    url = f"http://127.0.0.1:{config.server.port}{server.MCP_PATH}"
    snippet = {"mcpServers": {"proms-mcp": {"type": "http", "url": url}}}
    return (
        f"proms-mcp demo: a local Prometheus is served as datasource {DEMO_DATASOURCE!r}.\n"
        f"Add this to your MCP client configuration (e.g. .cursor/mcp.json):\n"
        f"{json.dumps(snippet, indent=2)}"
    )


def find_prometheus() -> pathlib.Path:
    explicit = os.environ.get("PROMETHEUS_BIN")
    if explicit:
        candidate = pathlib.Path(explicit)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise errors.ConfigurationError(f"PROMETHEUS_BIN={explicit} is not an executable file")
    found = shutil.which("prometheus")
    if found is None:
        raise errors.ConfigurationError(
            "no prometheus binary: install it (Debian/Ubuntu: apt-get install prometheus; "
            "`make run` does this) or set PROMETHEUS_BIN, or point GRAFANA_DATASOURCES_PATH "
            "at your own datasources"
        )
    return pathlib.Path(found)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def local_prometheus(
    binary: pathlib.Path,
    workdir: pathlib.Path,
    *,
    scrape_targets: list[str],
    scrape_interval: str = "5s",
    ready_timeout: float = 20.0,
    route_prefix: str = "",
) -> Iterator[str]:
    """A Prometheus on a free loopback port; yields its URL once /-/ready answers."""
    port = free_port()
    config_file = workdir / "prometheus.yml"
    jobs: list[dict[str, object]] = [
        {
            "job_name": "prometheus",
            "metrics_path": f"{route_prefix}/metrics",
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
        }
    ]
    if scrape_targets:
        jobs.append({"job_name": "proms-mcp", "static_configs": [{"targets": scrape_targets}]})
    config_file.write_text(
        json.dumps({"global": {"scrape_interval": scrape_interval}, "scrape_configs": jobs})
    )
    log_file = workdir / "prometheus.log"
    url = f"http://127.0.0.1:{port}{route_prefix}"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={config_file}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                *([f"--web.route-prefix={route_prefix}"] if route_prefix else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(url, process, ready_timeout, log_file)
            logger.info("local Prometheus ready at %s", url)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], timeout: float, log_file: pathlib.Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_file.read_text(errors="replace")[-2000:]
            raise errors.ConfigurationError(f"prometheus exited at start-up:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise errors.ConfigurationError(f"prometheus was not ready within {timeout:g}s")
