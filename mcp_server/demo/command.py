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
import json
import logging
import pathlib
import sys
import tempfile
import time

from ..app import hosting, lifecycle
from ..core import errors, settings
from ..protocol import mounting
from . import local, synthetic

logger = logging.getLogger("proms_mcp.demo")

LOCAL_CONFIG = pathlib.Path("local_config/datasources.yaml")
DEMO_DATASOURCE = "demo-prometheus"


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
            url = stack.enter_context(
                local.demo_prometheus(local.find_binaries(), workdir, self_target)
            )
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
        deadline = time.monotonic() + local.READY_TIMEOUT_SECONDS
        await asyncio.to_thread(local.wait_firing, self._url, synthetic.ALERT, deadline)
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
