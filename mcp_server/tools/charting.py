"""The MCP App (`io.modelcontextprotocol/ui`): a chart of every query answer for the person
beside the agent, while the model keeps its small answer.

Three parts: the `ui://` resource (the viewer's one self-contained HTML file, built from npm
into the package by `make install` or the image build), the `_meta.ui` link on the tools
whose answers it draws (`LINKED`), and `chart_series`, a tool only the app calls, which
loads the points of a window at the chart's resolution under the app's own cap instead of
the model's token budget. `protocol.listing` shows all three only to clients that declared
the extension.
"""

from __future__ import annotations

import importlib.resources
import math
from dataclasses import dataclass
from typing import Annotated, Any

from fastmcp import FastMCP
from fastmcp.apps.config import UI_MIME_TYPE
from pydantic import Field

from ..backends import catalogue, live
from ..protocol import calls
from ..results import budget
from . import arguments, evaluating, framing, querying

RESOURCE_URI = "ui://proms-mcp/chart.html"
VIEWER = importlib.resources.files("mcp_server.tools").joinpath("viewer", "chart.html")
"""The built viewer, packaged with the wheel (pyproject's hatch `artifacts`); absent until
`make install` (or the image build) has run the npm build."""
NOT_BUILT = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>proms-mcp chart'
    "</title></head><body><p>viewer not built: run make install</p></body></html>"
)
LINKED = ("query_instant", "query_range", "investigate_alert")
"""The tools whose answers the app draws (fleet answers included: the same two tools)."""
TOOL_META: dict[str, Any] = {"ui": {"resourceUri": RESOURCE_URI}}
RESOURCE_META: dict[str, Any] = {"ui": {"csp": {"connectDomains": [], "resourceDomains": []}}}
"""Self-contained: the viewer loads nothing from the network."""
MIN_WIDTH, MAX_WIDTH = 50, 4000


@dataclass(frozen=True, slots=True)
class Caps:
    """The app's own cap on one chart_series answer (APP_MAX_SERIES, APP_MAX_POINTS)."""

    max_series: int
    max_points: int

    @property
    def budget_tokens(self) -> int:
        """A budget the capped points always fit in (a float is at most 24 bytes, 8 tokens;
        labels get a generous 200 tokens a series), so the cut is by series, never text."""
        return self.max_points * 8 + self.max_series * 200 + budget.DEFAULT_MAX_TOKENS


@dataclass(frozen=True, slots=True)
class Charting:
    backends: live.Backends
    caps: Caps


def viewer_html() -> str:
    """The viewer's HTML, read on each request (a rebuilt viewer is served at once); a page
    saying how to build it when it is not there, so the server starts without it."""
    try:
        return VIEWER.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return NOT_BUILT


async def chart_series(
    charting: Charting,
    datasource_id: arguments.OneDatasource = None,
    *,
    promql: arguments.PromQL,
    start: arguments.TimeArg = None,
    end: arguments.TimeArg = None,
    width: Annotated[
        int, Field(ge=MIN_WIDTH, le=MAX_WIDTH, description="chart width in pixels")
    ] = 800,
    datasources: arguments.Datasources = None,
    labels: arguments.Labels = None,
    namespace: arguments.Namespace = None,
) -> dict[str, Any] | budget.Encoded:
    """For the chart app only: query_range's answer for a window, one point per pixel
    (step = ceil((end - start) / width) seconds), every point, never summarised."""
    backends = charting.backends
    start_s, end_s = catalogue.window(start, end, now=backends.clock())
    step_s = float(max(1, math.ceil((end_s - start_s) / width)))
    count = evaluating.points(start_s, end_s, step_s)
    most = max(1, min(charting.caps.max_series, charting.caps.max_points // count))
    return await querying.query_range(
        backends,
        datasource_id,
        promql=promql,
        start=start_s,
        end=end_s,
        step=step_s,
        limit=most,
        format="points",
        datasources=datasources,
        labels=labels,
        namespace=namespace,
    )


def register(app: FastMCP, backends: live.Backends, caps: Caps) -> None:
    """Attach the viewer resource and the app-only tool to `app`."""
    app.resource(
        RESOURCE_URI,
        name="chart",
        description="Charts query answers (MCP App)",
        mime_type=UI_MIME_TYPE,
        meta=RESOURCE_META,
    )(viewer_html)
    app.tool(
        calls.guarded(chart_series, Charting(backends, caps), own_budget=caps.budget_tokens),
        annotations=framing.READ_ONLY,
        output_schema=None,
        meta={"ui": {"resourceUri": RESOURCE_URI, "visibility": ["app"]}},
    )
