"""demo: `proms-mcp demo` (what `make run` starts), a working server with no configuration.

Holds: the command (`command`), the local Prometheus it starts, backfills and stops
(`local`) and the synthetic shop it serves (`synthetic`).

May import: app and the rooms below it (it starts the application); httpx (only here and
in kube).
Must not: be imported by the application (the command line is its only way in; tests reuse
its helpers).
"""
