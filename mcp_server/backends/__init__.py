"""backends: the Prometheus-compatible backends and what is known about them.

Holds: the HTTP client (`prometheus`: the seam where aiohttp meets the rest; transport
failures and Prometheus error bodies become our errors there, once, and untyped JSON ends
there), its TLS contexts (`tls`), the tenancy profile applied to each request (`tenancy`)
and the pool of one client per datasource (`pooling`); the live view a tool call resolves
a datasource from, with access checked (`live`); which APIs each flavour serves
(`capabilities`) and which flavour an undeclared backend is (`flavour`); cached catalogues
of names and values (`catalogue`); facts about a datasource (`facts`); why a query came
back empty (`diagnosis`); whose parser decides whether PromQL is valid (`parsing`); and
Alertmanager's API v2, read-only, through the same pooled client (`alertmanager`).

May import: promql, auth, sources, core; aiohttp only in `prometheus`.
Must not: shape results for agents, import results, or know about MCP, FastMCP or tools.
"""
