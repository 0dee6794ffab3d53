"""`proms-mcp demo` (what `make run` starts): a working server with no configuration at all.

With GRAFANA_DATASOURCES_PATH set, or a `local_config/datasources.yaml`, it serves that.
Otherwise it serves a local Prometheus (PROMETHEUS_BIN, or `prometheus` on PATH) as the
datasource `demo-prometheus`, stopped when proms-mcp stops, that answers from its first
second: before Prometheus starts, promtool backfills three hours of a synthetic shop
(`synthetic`), and the demo serves the same series live on a small /metrics target of its
own, so history and live data join without a gap. Prometheus also scrapes proms-mcp's own
/metrics. MCP is served once Prometheus answers and the shop's alert fires.

Prometheus 2.42 applies new scrape targets on a fixed 5 s tick (its first scrape comes
about 5.3 s after it starts here), so the demo does not wait for it: the history reaches up
to the start (`up` included), and the 5 minute lookback covers the seconds until the first
live scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from ..app import hosting, lifecycle
from ..core import errors, settings
from ..protocol import mounting
from . import synthetic

logger = logging.getLogger("proms_mcp.demo")

LOCAL_CONFIG = pathlib.Path("local_config/datasources.yaml")
DEMO_DATASOURCE = "demo-prometheus"
READY_TIMEOUT_SECONDS = 20.0
"""Prometheus answering and the first rule evaluation; both take well under a second here."""
_INSTALL = (
    "install it (Debian/Ubuntu: apt-get install prometheus; `make run` does this) or set "
    "PROMETHEUS_BIN, or point GRAFANA_DATASOURCES_PATH at your own datasources"
)


def run(config: settings.Settings) -> int:
    if config.sources.path_explicit:
        return lifecycle.run(config)
    if LOCAL_CONFIG.exists():
        logger.info("serving %s", LOCAL_CONFIG)
        sources = config.sources.model_copy(update={"datasources_path": LOCAL_CONFIG.resolve()})
        return lifecycle.run(config.model_copy(update={"sources": sources}))
    with (
        tempfile.TemporaryDirectory(prefix="proms-mcp-demo-") as folder,
        contextlib.ExitStack() as stack,
    ):
        workdir = pathlib.Path(folder)
        self_target = (
            [f"127.0.0.1:{config.server.health_metrics_port}"]
            if config.server.health_metrics_port
            else []
        )
        try:
            started = time.monotonic()
            url = stack.enter_context(demo_prometheus(find_binaries(), workdir, self_target))
        except errors.ConfigurationError as exc:
            print(f"proms-mcp demo: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C while preparing: stop as quietly as when serving
            return 0
        provisioning_file = workdir / "datasources.yaml"
        provisioning_file.write_text(
            json.dumps(
                {
                    "apiVersion": 1,
                    "datasources": [
                        {
                            "name": DEMO_DATASOURCE,
                            "type": "prometheus",
                            "url": url,
                            "jsonData": {"timeInterval": f"{synthetic.STEP_SECONDS}s"},
                        }
                    ],
                }
            )
        )
        sources = config.sources.model_copy(update={"datasources_path": provisioning_file})
        print(client_snippet(config), flush=True)
        gate = AlertFiring(url, started)
        return lifecycle.run(config.model_copy(update={"sources": sources}), extensions=[gate])


class AlertFiring:
    """Holds MCP back until the demo's alert fires, so an agent's first `list_alerts` finds
    it. Prometheus's first rule evaluation comes within the group's 1 s interval after it
    starts; as a server extension, that wait overlaps building the server (0.3-0.6 s)
    instead of adding to it. Unlike the operator, it blocks in `start` on purpose: serving
    before the demo is whole would answer the first calls with less than it has."""

    def __init__(self, url: str, started: float) -> None:
        self._url = url
        self._started = started

    async def start(self, host: hosting.Host) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        await asyncio.to_thread(_wait_firing, self._url, synthetic.ALERT, deadline)
        logger.info(
            "demo ready: %s is firing",
            synthetic.ALERT,
            extra={"seconds": round(time.monotonic() - self._started, 2)},
        )

    async def stop(self) -> None:
        """Prometheus stops with `run`, after the server."""


def client_snippet(config: settings.Settings) -> str:
    url = f"http://127.0.0.1:{config.server.port}{mounting.MCP_PATH}"
    snippet = {"mcpServers": {"proms-mcp": {"type": "http", "url": url}}}
    return (
        f"proms-mcp demo: a local Prometheus with {synthetic.HISTORY_SECONDS // 3600} hours of a "
        f"synthetic shop is served as datasource {DEMO_DATASOURCE!r}.\n"
        f"Add this to your MCP client configuration (e.g. .cursor/mcp.json):\n"
        f"{json.dumps(snippet, indent=2)}\n"
        f"Then ask your agent: why is {synthetic.ALERT} firing on {DEMO_DATASOURCE}?"
    )


@dataclass(frozen=True, slots=True)
class Binaries:
    prometheus: pathlib.Path
    promtool: pathlib.Path


def find_binaries() -> Binaries:
    """PROMETHEUS_BIN, else `prometheus` on PATH; promtool from PROMTOOL_BIN, else next to
    that prometheus, else on PATH (Debian's package installs both)."""
    prometheus = _executable("PROMETHEUS_BIN", "prometheus")
    explicit = os.environ.get("PROMTOOL_BIN")
    sibling = prometheus.parent / "promtool"
    if not explicit and sibling.is_file() and os.access(sibling, os.X_OK):
        return Binaries(prometheus, sibling)
    return Binaries(prometheus, _executable("PROMTOOL_BIN", "promtool"))


def _executable(variable: str, name: str) -> pathlib.Path:
    explicit = os.environ.get(variable)
    if explicit:
        candidate = pathlib.Path(explicit)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise errors.ConfigurationError(f"{variable}={explicit} is not an executable file")
    found = shutil.which(name)
    if found is None:
        raise errors.ConfigurationError(f"no {name} binary: {_INSTALL}")
    return pathlib.Path(found)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def demo_prometheus(
    binaries: Binaries, workdir: pathlib.Path, extra_targets: list[str]
) -> Iterator[str]:
    """The demo Prometheus with the shop's history, scraping the shop live (and
    `extra_targets` as job `proms-mcp`); yields its URL once it answers (`AlertFiring`
    then waits for its first rule evaluation)."""
    started = time.monotonic()
    shop = synthetic.Shop(time.time())
    with shop_target(shop) as target:
        data = workdir / "data"
        backfill(binaries.promtool, shop, workdir, data)
        rules = workdir / "rules.yml"
        rules.write_text(json.dumps(synthetic.RULES))  # JSON is YAML
        config = workdir / "prometheus.yml"
        config.write_text(json.dumps(prometheus_config(target, extra_targets, rules)))
        with local_prometheus(binaries.prometheus, workdir, config, data) as url:
            logger.info(
                "demo Prometheus started at %s with %d hours of history",
                url,
                synthetic.HISTORY_SECONDS // 3600,
                extra={
                    "seconds": round(time.monotonic() - started, 2),
                    "series": shop.series_count(),
                },
            )
            yield url


def prometheus_config(
    shop_address: str, extra_targets: list[str], rules: pathlib.Path
) -> dict[str, object]:
    """Each shop instance is a target of its own on the one local server: its address and
    service are target labels, and `__param_instance` tells the server which one to answer."""
    shop = [
        {
            "targets": [shop_address],
            "labels": {
                "instance": instance.address,
                "service": instance.service,
                "__param_instance": instance.address,
            },
        }
        for instance in synthetic.INSTANCES
    ]
    jobs: list[dict[str, object]] = [{"job_name": synthetic.JOB, "static_configs": shop}]
    if extra_targets:
        jobs.append({"job_name": "proms-mcp", "static_configs": [{"targets": extra_targets}]})
    interval = f"{synthetic.STEP_SECONDS}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules)],
        "scrape_configs": jobs,
    }


def backfill(
    promtool: pathlib.Path, shop: synthetic.Shop, workdir: pathlib.Path, data: pathlib.Path
) -> None:
    """The shop's history as TSDB blocks in `data`, before Prometheus opens it (writing and
    converting ~94,000 samples: 0.4-1 s here, the largest part of the demo's own start-up)."""
    source = workdir / "history.om.txt"
    source.write_text(shop.history())
    command = [str(promtool), "tsdb", "create-blocks-from", "openmetrics", "--quiet"]
    result = subprocess.run(
        [*command, str(source), str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    source.unlink()
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-2000:]
        raise errors.ConfigurationError(f"promtool could not backfill the demo history:\n{output}")


@contextlib.contextmanager
def shop_target(shop: synthetic.Shop) -> Iterator[str]:
    """The shop's live /metrics on a free loopback port (`?instance=` picks the instance);
    yields its address."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            wanted = urllib.parse.parse_qs(url.query).get("instance", [""])[0]
            text = shop.exposition(wanted, time.time()) if url.path == "/metrics" else None
            body = (text or "not found\n").encode()
            self.send_response(200 if text is not None else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # Prometheus scrapes it every 15 s: not worth a log line each

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="demo-shop-target", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@contextlib.contextmanager
def local_prometheus(
    binary: pathlib.Path,
    workdir: pathlib.Path,
    config_file: pathlib.Path,
    data: pathlib.Path,
    *,
    ready_timeout: float = READY_TIMEOUT_SECONDS,
) -> Iterator[str]:
    """A Prometheus on a free loopback port; yields its URL once /-/ready answers."""
    port = free_port()
    log_file = workdir / "prometheus.log"
    url = f"http://127.0.0.1:{port}"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={config_file}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_stop_with_parent(),
        )
        try:
            _wait_ready(url, process, time.monotonic() + ready_timeout, log_file)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _stop_with_parent() -> Callable[[], None] | None:
    """On Linux, the child gets SIGTERM when proms-mcp dies, even by SIGKILL or before its
    signal handlers are in place: the demo Prometheus never outlives the demo. Resolved
    before the fork, so the child only makes the one system call."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    death_signal = 1  # PR_SET_PDEATHSIG

    def arm() -> None:
        prctl(death_signal, signal.SIGTERM)

    return arm


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], deadline: float, log_file: pathlib.Path
) -> None:
    with httpx.Client(timeout=1, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log_file.read_text(errors="replace")[-2000:]
                raise errors.ConfigurationError(f"prometheus exited at start-up:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/-/ready").status_code == 200:
                    return
            time.sleep(0.02)
    raise errors.ConfigurationError(f"prometheus was not ready within {READY_TIMEOUT_SECONDS:g}s")


def _wait_firing(url: str, alert: str, deadline: float) -> None:
    """Until the first rule evaluation has fired `alert` (within the group's 1 s interval)."""
    with httpx.Client(timeout=1, trust_env=False) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                body = client.get(f"{url}/api/v1/alerts").json()
                for found in body["data"]["alerts"]:
                    if found["labels"].get("alertname") == alert and found["state"] == "firing":
                        return
            time.sleep(0.02)
    raise errors.ConfigurationError(f"the demo alert {alert} did not fire in time")
