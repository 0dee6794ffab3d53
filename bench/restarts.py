"""`python -m bench.restarts`: what a first start and a restart of the operator cost the
Kubernetes API and the backends, and how soon it is ready.

Configuration: the shipped `proms-mcp` (`.venv/bin/proms-mcp serve`, operator mode, one
replica with LEADER_ELECTION=on as the chart runs it, LOG_LEVEL=WARNING), KMock over HTTP
(`tests/support/leases.LeasingEmulator`: Leases, and a record of every write) holding 1000
PrometheusDatasources and 200 Grafana provisioning ConfigMaps (one datasource each). Every
CR points at one small backend that answers buildinfo and notes when it was asked, so the
probes can be counted per second; PROBE_INTERVAL is 20 s.

For the first start (no status on any CR) and then a restart with nothing changed:
start-up to ready (process start to the first 200 on /ready), status PATCHes and events
written before ready and within two probe intervals after it, and the probes per second over
those two intervals (the busiest second against the average).

For scale, the same `proms-mcp` standalone with one datasource (a provisioning file) is
started first: its start-up to ready is what the process needs (imports, the servers) before
any fleet, so the difference is what 1000 CRs and 200 ConfigMaps add.

Writes bench/results/restarts.md and restarts.json.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import tempfile
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from bench import kubeapi, save, scale, soak
from tests.support import harness, leases

CRS, CONFIGMAPS = 1000, 200
PROBE_INTERVAL = 20.0
WINDOW = 2 * PROBE_INTERVAL


class _Buildinfo(harness.BuildinfoTarget):
    times: ClassVar[list[float]] = []


def _reachable(body: dict[str, Any]) -> bool:
    found = (body.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Reachable" and c.get("status") == "True" for c in found)


def _spread(since: float) -> dict[str, float]:
    """Probes per second over WINDOW seconds from `since`."""
    with _Buildinfo.lock:
        moments = [t - since for t in _Buildinfo.times if since <= t < since + WINDOW]
    seconds = [0] * int(WINDOW)
    for moment in moments:
        seconds[int(moment)] += 1
    average = len(moments) / WINDOW
    return {
        "probes": len(moments),
        "per_second_average": average,
        "per_second_max": max(seconds),
        "max_over_average": max(seconds) / average if average else 0.0,
    }


@contextlib.contextmanager
def _started(folder: pathlib.Path, api: kubeapi.KubeApi) -> Iterator[tuple[float, float]]:
    """(start moment, ready moment) of one `proms-mcp` run, time.monotonic()."""
    started = time.monotonic()
    with soak.server_process(
        folder,
        None,
        ready_timeout=300,
        **kubeapi.operator_environment(api),
        PROBE_INTERVAL=str(PROBE_INTERVAL),
    ):
        yield started, time.monotonic()


def _run(folder: pathlib.Path, api: kubeapi.KubeApi, keys: list[tuple[str, str]]) -> dict[str, Any]:
    with _started(folder, api) as (started, ready):
        deadline = ready + WINDOW
        while time.monotonic() < deadline or api.count(keys, _reachable) < len(keys):
            if time.monotonic() > ready + 600:
                raise RuntimeError("the statuses did not settle within 600 s")
            time.sleep(0.5)
    writes = [w for w in kubeapi.writes(api) if w.at >= started]

    def count(until: float, kind: str) -> int:
        wanted = ("/status",) if kind == "status" else ("/events",)
        return sum(1 for w in writes if w.at < until and w.path.endswith(wanted))

    return {
        "startup_to_ready_s": ready - started,
        "status_writes_before_ready": count(ready, "status"),
        "events_before_ready": count(ready, "events"),
        "status_writes_in_window": count(ready + WINDOW, "status"),
        "events_in_window": count(ready + WINDOW, "events"),
        "probes": _spread(ready),
    }


def run() -> dict[str, Any]:
    report: dict[str, Any] = {
        "crs": CRS,
        "configmaps": CONFIGMAPS,
        "probe_interval_s": PROBE_INTERVAL,
    }
    with (
        tempfile.TemporaryDirectory() as name,
        harness.http_server(_Buildinfo) as backend,
    ):
        folder = pathlib.Path(name)
        bodies = kubeapi.datasource_bodies(backend, CRS)
        maps = kubeapi.configmap_bodies(backend, CONFIGMAPS)
        keys = [
            (kube_key["metadata"]["namespace"], kube_key["metadata"]["name"]) for kube_key in bodies
        ]
        baseline = folder / "baseline"
        baseline.mkdir()
        with soak.server_process(baseline, scale.provisioning(backend, 1)) as server:
            report["standalone_one_datasource_startup_to_ready_s"] = server.startup_seconds
        with kubeapi.serving(
            folder, bodies, configmaps=maps, emulator_class=leases.LeasingEmulator
        ) as api:
            for label in ("first start", "restart, nothing changed"):
                own = folder / label.split(",")[0].replace(" ", "-")
                own.mkdir()
                report[label] = _run(own, api, keys)
                print(line(label, report[label]), flush=True)
    return report


HEADER = (
    "| run (1000 CRs, 200 ConfigMaps) | start-up to ready | status writes before ready / "
    "within 40 s | events before ready / within 40 s | probes per second: average, busiest |\n"
    "|---|---|---|---|---|"
)


def line(label: str, row: dict[str, Any]) -> str:
    probes = row["probes"]
    return (
        f"| {label} | {row['startup_to_ready_s']:.1f} s "
        f"| {row['status_writes_before_ready']} / {row['status_writes_in_window']} "
        f"| {row['events_before_ready']} / {row['events_in_window']} "
        f"| {probes['per_second_average']:.1f}, {probes['per_second_max']} "
        f"({probes['max_over_average']:.1f}x) |"
    )


def main() -> None:
    print(HEADER, flush=True)
    report = run()
    rows = [line(k, v) for k, v in report.items() if isinstance(v, dict)]
    baseline = report["standalone_one_datasource_startup_to_ready_s"]
    note = f"\n`proms-mcp` standalone with one datasource, same run: {baseline:.1f} s to ready.\n"
    table = "\n".join([HEADER, *rows]) + "\n" + note
    save("restarts", report, table, show=False, entry_point=soak.PROMS_MCP.name)
    print(note, flush=True)
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}))


if __name__ == "__main__":
    main()
