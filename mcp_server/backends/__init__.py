"""backends: the Prometheus-compatible backends and what is known about them.

Holds: the HTTP client (`prometheus`, the seam where aiohttp meets the rest: transport
failures and Prometheus error bodies become our errors there, once; raw API JSON is typed
there), its TLS contexts (`tls`) and the pool of one client per datasource (`pooling`); the
live view a tool call resolves a datasource from (`live`); which APIs each flavour serves
(`capabilities`); cached catalogues of names and values (`catalogue`); facts about a
datasource (`facts`); why a query came back empty (`diagnosis`); and whose parser decides
whether PromQL is valid (`parsing`).

May import: promql, auth, sources, kube (never directly), core; aiohttp only in
`prometheus`, `pooling` and `tls`.
Must not: shape results for agents, or know about MCP, FastMCP or tools.
"""
