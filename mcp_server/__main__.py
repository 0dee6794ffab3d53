"""`python -m mcp_server`: standalone mode (provisioning files), no Kubernetes."""

import sys

from mcp_server import cli

sys.exit(cli.main())
