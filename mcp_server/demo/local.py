"""The demo's local Prometheus: found on PATH (or PROMETHEUS_BIN), backfilled with the
synthetic shop's history by promtool, scraping the shop live on a small /metrics target of
its own, and stopped with the demo (even when the demo is killed)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from ..core import errors
from . import synthetic

logger = logging.getLogger("proms_mcp.demo")

READY_TIMEOUT_SECONDS = 20.0
"""Prometheus answering and the first rule evaluation; both take well under a second here."""
_INSTALL = (
    "install it (Debian/Ubuntu: apt-get install prometheus; `make run` does this) or set "
    "PROMETHEUS_BIN, or point GRAFANA_DATASOURCES_PATH at your own datasources"
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
        backfill(binaries.promtool, shop.history(), workdir, data)
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
    promtool: pathlib.Path, history: str, workdir: pathlib.Path, data: pathlib.Path
) -> None:
    """`history` (OpenMetrics ending in `# EOF`) as TSDB blocks in `data`, before Prometheus
    opens it (the demo's ~94,000 samples: 0.4-1 s here, the largest part of its start-up)."""
    source = workdir / "history.om.txt"
    source.write_text(history)
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
        raise errors.ConfigurationError(f"promtool could not backfill the history:\n{output}")


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

    with http_server(Handler, name="demo-shop-target") as address:
        yield address


@contextlib.contextmanager
def http_server(
    handler: type[BaseHTTPRequestHandler],
    *,
    name: str,
    tls: ssl.SSLContext | None = None,
    address: tuple[str, int] = ("127.0.0.1", 0),
) -> Iterator[str]:
    """`handler` served on `address` (by default a free loopback port) by the thread `name`
    (over TLS with a server context `tls`); yields host:port."""
    httpd = ThreadingHTTPServer(address, handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"{address[0]}:{httpd.server_address[1]}"
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
            stop(process, timeout=10)


def stop(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM, then SIGKILL if `process` has not exited within `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
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


def wait_firing(url: str, alert: str, deadline: float) -> None:
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
