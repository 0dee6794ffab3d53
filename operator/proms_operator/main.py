"""`proms-mcp`: the MCP server, with the Kubernetes operator when a cluster is configured."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mcp_server import cli, errors, kubeclient, server, settings

from . import runtime


def extensions(config: settings.Settings) -> Sequence[server.Extension]:
    mode = config.operator.mode
    if mode is settings.RunMode.STANDALONE:
        return ()
    if mode is settings.RunMode.OPERATOR or kubeclient.configured(config.operator.kubeconfig):
        if mode is settings.RunMode.OPERATOR and not kubeclient.configured(
            config.operator.kubeconfig
        ):
            raise errors.ConfigurationError(
                "PROMS_MCP_MODE=operator but no Kubernetes API is configured: run in a pod, "
                "or set KUBECONFIG to an existing file"
            )
        return (runtime.KubernetesSources(config),)
    return ()


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, extensions=extensions)


if __name__ == "__main__":
    sys.exit(main())
