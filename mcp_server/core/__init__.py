"""core: what every room stands on.

Holds: the one exception tree (`errors`), the settings read once from the environment
(`settings`; the host names and origins they allow: `hosts`), time and duration arithmetic
(`timespec`), text hygiene for backend strings (`hygiene`), the Prometheus API's JSON as
documented (`raw`: TypedDicts), the one TTL cache with coalescing of requests in flight
(`caching`), our own Prometheus metrics (`observability`) and JSON logging (`logs`).

May import: the standard library, pydantic, prometheus-client, promql-parser (durations).
Must not: import any other room of proms-mcp, a web framework, an HTTP client or the MCP SDK;
do I/O beyond reading the environment and writing log lines.
"""
