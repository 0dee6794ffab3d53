"""`proms-mcp` / `python -m mcp_server`: serve, or run the embedded demo."""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__, demo, errors, logs, server, settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="proms-mcp",
        description="MCP server for Prometheus-compatible backends. Configured by environment "
        "variables (see README): PORT, HEALTH_METRICS_PORT, GRAFANA_DATASOURCES_PATH, ...",
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
        return demo.run(config)
    return server.run(config)


if __name__ == "__main__":
    sys.exit(main())
