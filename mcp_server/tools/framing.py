"""What every tool call goes through: registration, and the prologue of a call on one
datasource.

A tool is a module-level async function whose first parameter is the live backends; the
rest of its signature is what agents see. `register` hands each one to FastMCP as
`calls.guarded` wraps it (the backends bound, the call timed, counted, logged, its errors
made tool errors). `scope` is the prologue: the datasource the caller may use, its client,
and the call's time window. The epilogue, a capped list with its hint, is `models.page`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from fastmcp import FastMCP

from ..backends import capabilities, catalogue, live, prometheus
from ..protocol import calls
from ..sources import datasources

READ_ONLY = {"readOnlyHint": True}
"""Read-only makes destructiveHint moot, and openWorldHint defaults to true: both are left out."""

P = ParamSpec("P")
R = TypeVar("R")
B = TypeVar("B")

Tool = Callable[..., Awaitable[Any]]
"""`async def name(backends: live.Backends, <arguments agents pass>) -> <result>`."""


def bound(body: Callable[Concatenate[B, P], Awaitable[R]], first: B) -> Callable[P, Awaitable[R]]:
    """`body` with `first` passed as its first argument, and left out of its signature."""

    @functools.wraps(body)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return await body(first, *args, **kwargs)

    return calls.without_first_parameter(call, body)


def register(
    app: FastMCP,
    backends: live.Backends,
    tools: Iterable[Tool],
    meta: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """Attach `tools` to `app`; each one reads `backends` on every call; `meta`: a tool's
    `_meta` by its name (the MCP App's link)."""
    for body in tools:
        app.tool(
            calls.guarded(body, backends),
            annotations=READ_ONLY,
            output_schema=None,
            meta=(meta or {}).get(body.__name__),
        )


@dataclass(frozen=True, slots=True)
class Scope:
    """One call on one datasource, read from one registry snapshot."""

    datasource: datasources.Datasource
    client: prometheus.PrometheusClient
    now: float
    period: catalogue.Period
    """The call's window: `start` and `end` as given, else the last hour."""

    @property
    def id(self) -> str:
        return self.datasource.id

    @property
    def fresh(self) -> bool:
        """Whether discovery reads past the catalogue cache (see `catalogue.still_open`)."""
        return catalogue.still_open(self.period, self.now)


async def scope(
    backends: live.Backends,
    datasource_id: str,
    start: str | float | None = None,
    end: str | float | None = None,
    *,
    discovery: bool = False,
    api: capabilities.Api = capabilities.Api.QUERY,
) -> Scope:
    """The datasource the caller may use (or the error that says why not), that serves
    `api` (else `unsupported`: no query tool reads an Alertmanager), its client, and the
    window: on the catalogue cache's grid for `discovery`, else in whole seconds."""
    datasource, client = await backends.resolve(datasource_id)
    capabilities.require(datasource, api)
    now = backends.clock()
    period = catalogue.window(start, end, now=now, discovery=discovery)
    return Scope(datasource, client, now, period)
