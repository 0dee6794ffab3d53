"""sources: where datasources come from, and the registry they are served from.

Holds: the frozen datasource records (`datasources`) and their tenancy profiles
(`tenancy`), the registry of immutable snapshots swapped atomically (`registry`), Grafana
provisioning documents (`provisioning`) and their entries (`entries`), the file source that
polls GRAFANA_DATASOURCES_PATH (`filewatch`) and the readiness every source reports to
(`readiness`).

May import: core.
Must not: talk to a backend or the Kubernetes API (the operator feeds the registry from
there), or know about MCP, tools or results.
"""
