"""What `tools/list` shows. Its text is sent to the model in every session, so it is kept
lean: no output schemas (results are self-describing compact JSON), optional arguments
without `anyOf [..., null]` and `default: null` noise, and no tool that none of the
caller's datasources can answer (alerts on an all-Mimir fleet). A hidden tool still answers
when called, with the `unsupported` error. The `namespace` argument is shown only to callers
with a datasource that takes it (an OpenShift tenancy profile that pins none).

MCP Apps (`io.modelcontextprotocol/ui`): tools carry their `_meta.ui` link to the chart, and
the app-only tool and the `ui://` resource are listed, only to a client that declared the
extension in its capabilities (a 2025 client at initialize, remembered by its session id:
`app_sessions`); every other client sees the listing it saw before the app
existed, byte for byte."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mcp_types
from fastmcp.apps.config import UI_EXTENSION_ID, UI_MIME_TYPE
from fastmcp.resources.base import Resource
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import Tool

from ..backends import capabilities, live
from ..sources import tenancy
from . import app_sessions

TOOL_APIS: dict[str, tuple[capabilities.Api, ...]] = {
    "list_alerts": (capabilities.Api.ALERTS,),
    "list_rules": (capabilities.Api.RULES,),
    "list_targets": (capabilities.Api.TARGETS,),
    "get_tsdb_status": (capabilities.Api.TSDB_STATUS,),
    "query_exemplars": (capabilities.Api.EXEMPLARS,),
    "list_alertmanager_alerts": (capabilities.Api.ALERTMANAGER,),
    "list_silences": (capabilities.Api.ALERTMANAGER,),
    "list_alert_groups": (capabilities.Api.ALERTMANAGER,),
    "investigate_alert": (capabilities.Api.ALERTS, capabilities.Api.ALERTMANAGER),
}
"""Tools that only some datasources can answer, and the APIs any one of which they need."""


NAMESPACE = "namespace"
"""The tenancy argument (`tools.arguments.Namespace`), listed only where it applies."""


class LeanListing(Middleware):
    def __init__(self, backends: live.Backends) -> None:
        self._live = backends
        self._lean: dict[tuple[str, bool, bool], tuple[Tool, Tool]] = {}
        """(key, whether `namespace` is kept, whether `_meta.ui` is) -> (tool, its lean copy)"""

    async def on_list_tools(
        self,
        context: MiddlewareContext[mcp_types.ListToolsRequest],
        call_next: CallNext[mcp_types.ListToolsRequest, Sequence[Tool]],
    ) -> Sequence[Tool]:
        tools = await call_next(context)
        visible = await self._live.visible(self._live.registry.current())
        namespaced = any(tenancy.asks_namespace(d.connection.tenancy) for d in visible)
        apps = declares_apps(context)
        return [
            self._lean_copy(tool, namespaced, apps)
            for tool in tools
            if (tool.name not in TOOL_APIS
                or any(capabilities.any_supports(visible, api) for api in TOOL_APIS[tool.name]))
            and (apps or not app_only(tool))
        ]  # fmt: skip

    async def on_list_resources(
        self,
        context: MiddlewareContext[mcp_types.ListResourcesRequest],
        call_next: CallNext[mcp_types.ListResourcesRequest, Sequence[Resource]],
    ) -> Sequence[Resource]:
        resources = await call_next(context)
        if declares_apps(context):
            return resources
        return [r for r in resources if r.mime_type != UI_MIME_TYPE]

    def _lean_copy(self, tool: Tool, namespaced: bool, apps: bool) -> Tool:
        """Made once per tool and variant: the copy only changes when the tool object does."""
        cached = self._lean.get((tool.key, namespaced, apps))
        if cached is not None and cached[0] is tool:
            return cached[1]
        parameters = lean_schema(tool.parameters)
        if not namespaced:
            parameters["properties"].pop(NAMESPACE, None)
        update: dict[str, Any] = {"parameters": parameters, "output_schema": None}
        if not apps and tool.meta and UI in tool.meta:
            update["meta"] = {k: v for k, v in tool.meta.items() if k != UI} or None
        lean = tool.model_copy(update=update)
        self._lean[(tool.key, namespaced, apps)] = (tool, lean)
        return lean


UI = "ui"
"""The `_meta` key of MCP Apps: `resourceUri`, `visibility` (tools), `csp` (resources)."""


def declares_apps(context: MiddlewareContext[Any]) -> bool:
    """Whether the client declared MCP Apps: in each request's `_meta` on the 2026-07-28
    protocol; at `initialize` on a 2025 one, which the session id it sends back remembers
    (`app_sessions`)."""
    if app_sessions.declared.get():
        return True
    fastmcp_context = context.fastmcp_context
    return fastmcp_context is not None and fastmcp_context.client_supports_extension(
        UI_EXTENSION_ID
    )


def app_only(tool: Tool) -> bool:
    """A tool the host keeps from the model (`_meta.ui.visibility` without "model")."""
    ui = (tool.meta or {}).get(UI)
    return isinstance(ui, dict) and "model" not in ui.get("visibility", ["model"])


def lean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The same constraints in fewer tokens: `{"anyOf": [{"type": "integer", ...},
    {"type": "null"}], "default": null}` becomes `{"type": "integer", ...}` (leaving an
    optional argument out is how an agent says null)."""
    lean = {k: v for k, v in schema.items() if k != "additionalProperties"}
    lean["properties"] = {
        name: _lean_property(spec) for name, spec in schema.get("properties", {}).items()
    }
    return lean


def _lean_property(spec: dict[str, Any]) -> dict[str, Any]:
    prop = dict(spec)
    if "default" in prop and prop["default"] is None:
        del prop["default"]
    choices = prop.get("anyOf")
    if isinstance(choices, list):
        kept = [c for c in choices if c != {"type": "null"}]
        del prop["anyOf"]
        if len(kept) == 1:
            prop = {**kept[0], **prop}
        elif all(set(c) == {"type"} for c in kept):
            prop["type"] = [c["type"] for c in kept]
        else:
            prop["anyOf"] = kept
    return prop
