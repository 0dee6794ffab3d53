"""`proms-mcp`: the MCP server, with the Kubernetes operator when a cluster is configured.

The operator (and with it kopf and kubernetes-asyncio, about 60 MiB of memory and a second
or more of imports) is imported only once a cluster is configured: in standalone mode this
command costs what `python -m mcp_server` costs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mcp_server import cli
from mcp_server.app import hosting
from mcp_server.core import errors, settings
from mcp_server.kube import kubeclient


def extensions(config: settings.Settings) -> Sequence[hosting.Extension]:
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
        from . import runtime  # imports kopf: only now that there is a cluster to watch

        return (runtime.KubernetesSources(config),)
    return ()


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, extensions=extensions)


if __name__ == "__main__":
    sys.exit(main())
