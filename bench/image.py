"""`python -m bench.image`: the container image's size, its start-up to ready, its memory.

The image is built as `make image-check` builds it (on $PYTHON_IMAGE, or on the stand-in base
made from Debian packages where no registry is reachable; an unchanged tree is a cached build)
and run as the Helm chart's Deployment runs it, serving the synthetic Prometheus and a
datasource that always fails. It reports the image's size (and its base's), the seconds from
`docker run` to /ready answering 200 (three starts), and the memory idle and after 200 tool
calls: the process's RSS and the container's working set as the kubelet counts it (what the
chart's request is about), then the highest RSS and cgroup usage while 64 of the largest
query_range answers are served 32 at a time (what its limit is about).

Writes bench/results/image.md and image.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import pathlib
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from bench import save, soak
from tests.support import docker_engine, harness, image_build, image_run, prometheus_process

_MIB = 2**20
_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def container_memory(container: image_run.Container) -> float:
    """The container's memory in MiB as `docker stats` shows it: usage less inactive file
    cache, the working set the kubelet compares with requests and limits."""
    shown = container.docker(
        "stats", "--no-stream", "--format", "{{.MemUsage}}", container.name
    ).stdout
    match = re.match(r"\s*([\d.]+)\s*([A-Za-z]+)", shown)
    if match is None:
        raise ValueError(f"unexpected docker stats output: {shown!r}")
    return float(match.group(1)) * _UNITS[match.group(2)] / _MIB


def process_rss(container: image_run.Container) -> float:
    """process_resident_memory_bytes from the server's /metrics, in MiB."""
    metrics = httpx.get(container.health_url + "/metrics", trust_env=False, timeout=5).text
    match = re.search(r"^process_resident_memory_bytes ([\d.e+]+)$", metrics, re.M)
    if match is None:
        raise ValueError("no process_resident_memory_bytes in /metrics")
    return float(match.group(1)) / _MIB


def memory(container: image_run.Container) -> dict[str, float]:
    return {"rss_mib": process_rss(container), "container_mib": container_memory(container)}


def container_peak(container: image_run.Container) -> float:
    """The container's highest memory use so far in MiB (cgroup v2 memory.peak, or v1
    memory.max_usage_in_bytes; both count page cache the kernel could reclaim)."""
    shown = container.docker(
        "exec",
        container.name,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory.peak 2>/dev/null"
        " || cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes",
    ).stdout
    return int(shown.strip()) / _MIB


@contextlib.contextmanager
def highest_rss(container: image_run.Container) -> Iterator[list[float]]:
    """The highest RSS /metrics showed while the block ran (looked at every 50 ms)."""
    peak = [0.0]
    done = threading.Event()

    def look() -> None:
        while not done.wait(0.05):
            with contextlib.suppress(httpx.HTTPError, ValueError):
                peak[0] = max(peak[0], process_rss(container))

    watcher = threading.Thread(target=look, name="rss-watcher")
    watcher.start()
    try:
        yield peak
    finally:
        done.set()
        watcher.join()


async def large_answers(url: str, count: int, concurrency: int) -> int:
    """query_range over (nearly) the whole synthetic window of the 500-series metric: the
    largest upstream answers the dataset gives (about 4 MB of JSON each), each window a minute
    shorter than the last so that no two calls share an upstream request; how many failed."""
    failed = 0
    pending = iter(range(count))

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal failed
        for request_id in pending:
            arguments = {
                "datasource_id": soak.HEALTHY[0],
                "promql": "demo_cardinality_series",
                "start": prometheus_process.SYNTHETIC_START,
                "end": prometheus_process.SYNTHETIC_END - 60 * request_id,
                "step": "60s",
            }
            answer = await soak.call_tool(http, url, request_id, "query_range", arguments)
            failed += soak.error_code(answer.get("result") or {}) is not None

    limits = soak.client_limits(concurrency)
    async with httpx.AsyncClient(trust_env=False, timeout=120, limits=limits) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return failed


async def two_hundred_calls(url: str) -> int:
    """The soak's mix of 200 calls at concurrency 8; how many were not as expected."""
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        outcomes = await soak.run(http, url, soak.soak_calls(200), concurrency=8)
    return sum(not outcome.as_expected for outcome in outcomes)


def run(starts: int) -> dict[str, Any]:
    report: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as folder,
        docker_engine.engine() as engine,
        prometheus_process.running_prometheus(pathlib.Path(folder)) as prom,
    ):
        workdir = pathlib.Path(folder)
        base = image_build.python_base(engine)
        built = image_build.build(engine, base, workdir / "build")
        base_size = int(engine.docker("image", "inspect", "--format", "{{.Size}}", base).stdout)
        report["image"] = {
            "base": base,
            "size_mb": built.size_bytes / 1e6,
            "base_size_mb": base_size / 1e6,
            "added_mb": (built.size_bytes - base_size) / 1e6,
            "build_seconds": built.seconds,
        }
        pod = image_run.chart_pod(image_run.find_helm())
        provisioning = workdir / "provisioning"
        provisioning.mkdir()
        document = soak.provisioning(prom.url, f"http://127.0.0.1:{harness.free_port()}")
        (provisioning / "datasources.yaml").write_text(json.dumps(document))
        standalone = {
            "PROMS_MCP_MODE": "standalone",
            "AUTH_MODE": "none",
            "LOG_LEVEL": "WARNING",
            "MAX_CALLS_PER_CALLER": str(soak.LOAD_GENERATOR_CALLS),
        }
        volumes = {provisioning: "/etc/grafana/provisioning/datasources"}
        ready: list[float] = []
        for _ in range(starts - 1):
            started = time.monotonic()
            with image_run.running(engine, built.tag, pod, env=standalone, volumes=volumes) as c:
                c.wait_ready()
                ready.append(time.monotonic() - started)
        started = time.monotonic()
        with image_run.running(engine, built.tag, pod, env=standalone, volumes=volumes) as c:
            c.wait_ready()
            ready.append(time.monotonic() - started)
            c.wait_for(_settled(c), "settled", timeout=30)
            idle = memory(c)
            unexpected = asyncio.run(two_hundred_calls(c.mcp_url))
            after = memory(c)
            with highest_rss(c) as peak:
                failed = asyncio.run(large_answers(c.mcp_url, count=64, concurrency=32))
            burst = {
                **memory(c),
                "peak_rss_mib": peak[0],
                "peak_container_mib": container_peak(c),
                "failed": failed,
            }
        report["startup_to_ready_s"] = {"each": ready, "median": statistics.median(ready)}
        report["memory"] = {
            "limit_mib": pod.memory_limit / _MIB,
            "request_mib": pod.memory_request / _MIB,
            "idle": idle,
            "after_200_calls": after,
            "unexpected_answers": unexpected,
            "after_64_large_answers_at_32": burst,
        }
    return report


def _settled(container: image_run.Container) -> Callable[[], bool]:
    """True once the RSS has stopped growing between two looks 0.5 s apart (start-up's
    lazy work done), so 'idle' is not a moment of start-up."""
    last: list[float] = []

    def check() -> bool:
        last.append(process_rss(container))
        if len(last) < 2:
            return False
        time.sleep(0.5)
        return abs(process_rss(container) - last[-1]) < 0.5

    return check


def markdown(report: dict[str, Any]) -> str:
    image, memory_, ready = report["image"], report["memory"], report["startup_to_ready_s"]
    idle, after = memory_["idle"], memory_["after_200_calls"]
    burst = memory_["after_64_large_answers_at_32"]
    each = ", ".join(f"{s:.2f}" for s in ready["each"])
    size = (
        f"{image['size_mb']:.0f} MB (base {image['base_size_mb']:.0f} MB "
        f"+ {image['added_mb']:.0f} MB)"
    )

    def used(at: dict[str, float]) -> str:
        return f"RSS {at['rss_mib']:.0f} MiB, container {at['container_mib']:.0f} MiB"

    rows = [
        "| the image, run as the chart runs it | measured | goal |",
        "|---|---|---|",
        f"| image size on {image['base']} | {size} | < 250 MB on python:3.11-slim |",
        f"| `docker run` to /ready 200 | {ready['median']:.2f} s (median of {each}) | < 2 s |",
        f"| memory idle | {used(idle)} | request {memory_['request_mib']:.0f} MiB |",
        f"| memory after 200 calls ({memory_['unexpected_answers']} unexpected) "
        f"| {used(after)} | limit {memory_['limit_mib']:.0f} MiB |",
        f"| after 64 six-hour query_range of 500 series at concurrency 32 "
        f"({burst['failed']} failed) "
        f"| peak RSS {burst['peak_rss_mib']:.0f} MiB, container peak "
        f"{burst['peak_container_mib']:.0f} MiB (page cache included); after: {used(burst)} | |",
        f"| build | {image['build_seconds']:.0f} s | |",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.image")
    parser.add_argument("--starts", type=int, default=3, help="starts timed to ready")
    arguments = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        report = run(arguments.starts)
        save("image", report, markdown(report))


if __name__ == "__main__":
    main()
