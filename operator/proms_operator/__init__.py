"""proms_operator: the Kubernetes controller, and the `proms-mcp` command that runs it.

Holds: PrometheusDatasource specs and their status (`specs`, `conditions`,
`customresources`), Grafana provisioning ConfigMaps (`configmaps`), what both handlers share
(`contributing`), reachability probes
(`probing`), kopf inside our event loop (`embedding`), the extension that runs them all in
the proms-mcp process (`runtime`) and the console script (`main`).

May import: kopf; of mcp_server only the hosting contract (`app.hosting`), `sources`, `kube`
and `core`; `main` alone also the command line it extends.
Must not: import tools, protocol, results, PromQL, backends or auth (import-linter checks it):
what it needs of them, such as a datasource's build info, the host provides.
"""
