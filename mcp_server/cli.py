"""The command line: `proms-mcp [serve|demo]`.

`python -m mcp_server` runs it without Kubernetes sources; the `proms-mcp` console script
(proms_operator.main) passes the operator in as an extension when a cluster is configured.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .app import hosting, lifecycle
from .core import errors, logs, settings
from .demo import command

ExtensionFactory = Callable[[settings.Settings], Sequence[hosting.Extension]]


def main(argv: list[str] | None = None, *, extensions: ExtensionFactory | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="proms-mcp",
        description="MCP server for Prometheus-compatible backends. Configured by environment "
        "variables (see docs/configuration.md): PORT, HEALTH_METRICS_PORT, "
        "GRAFANA_DATASOURCES_PATH, ...",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the configured datasources (the default)")
    commands.add_parser(
        "demo",
        help="serve GRAFANA_DATASOURCES_PATH or local_config/datasources.yaml if present, "
        "else start a local Prometheus and serve it",
    )
    arguments = parser.parse_args(argv)
    try:
        config = settings.from_environ(os.environ)
    except errors.ConfigurationError as exc:
        print(f"proms-mcp: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.logging.level)
    if arguments.command == "demo":
        return command.run(config)
    try:
        chosen = extensions(config) if extensions is not None else ()
    except errors.ConfigurationError as exc:
        print(f"proms-mcp: {exc}", file=sys.stderr)
        return 2
    if extensions is None and config.operator.mode is settings.RunMode.OPERATOR:
        print(
            "proms-mcp: PROMS_MCP_MODE=operator needs the proms-mcp command "
            "(python -m mcp_server serves files only)",
            file=sys.stderr,
        )
        return 2
    return lifecycle.run(config, extensions=chosen)
