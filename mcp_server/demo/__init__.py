"""demo: `proms-mcp demo` (what `make run` starts), a working server with no configuration.

Holds: the command (`command`), the local Prometheus it starts and backfills (`local`) and
the synthetic shop it serves (`synthetic`).

May import: app, core; httpx (only here and in kube).
Must not: be imported by anything but the command line.
"""
