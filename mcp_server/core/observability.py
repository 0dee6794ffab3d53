"""Prometheus metrics of proms-mcp itself, served on the health port.

Label values are bounded: tool names, error codes, datasource ids and API paths; never a
query, a URL or anything a caller typed freely.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

from .. import __version__

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

BUILD = Info("proms_mcp_build", "Version of the running proms-mcp")
BUILD.info({"version": __version__})

TOOL_CALLS = Counter(
    "proms_mcp_tool_calls",
    "MCP tool calls by tool and outcome (success, or the error code)",
    ["tool", "outcome"],
)
TOOL_LATENCY = Histogram(
    "proms_mcp_tool_duration_seconds",
    "Wall time of MCP tool calls",
    ["tool"],
    buckets=_LATENCY_BUCKETS,
)
UPSTREAM_REQUESTS = Counter(
    "proms_mcp_upstream_requests",
    "Requests to datasources by datasource, API path and HTTP status ('error' if none)",
    ["datasource", "path", "status"],
)
UPSTREAM_LATENCY = Histogram(
    "proms_mcp_upstream_duration_seconds",
    "Latency of requests to datasources",
    ["datasource", "path"],
    buckets=_LATENCY_BUCKETS,
)
UPSTREAM_COALESCED = Counter(
    "proms_mcp_upstream_coalesced",
    "Requests answered by an identical request already in flight, by datasource and path",
    ["datasource", "path"],
)
UPSTREAM_CACHE_HITS = Counter(
    "proms_mcp_upstream_cache_hits",
    "Discovery answers served from the per-datasource catalogue cache",
    ["datasource", "path"],
)
DATASOURCES = Gauge("proms_mcp_datasources", "Datasources currently served")
DATASOURCE_PROBLEMS = Gauge(
    "proms_mcp_datasource_problems", "Datasource definitions that could not be served"
)
CONFIG_RELOADS = Counter(
    "proms_mcp_config_reloads",
    "Reloads of datasource sources by source kind and outcome (success, failure)",
    ["source", "outcome"],
)

AUTH_REVIEWS = Counter(
    "proms_mcp_auth_reviews",
    "TokenReviews and SubjectAccessReviews sent, by kind (token, access) and outcome",
    ["kind", "outcome"],
)
AUTH_CACHE_HITS = Counter(
    "proms_mcp_auth_cache_hits", "Review answers served from cache, by kind", ["kind"]
)
REQUESTS_REJECTED = Counter(
    "proms_mcp_requests_rejected",
    "Requests to the MCP port refused before anything else saw them: host (a Host header "
    "not allowed, 421) or origin (a foreign browser Origin, 403)",
    ["reason"],
)
AUTH_DENIALS = Counter(
    "proms_mcp_auth_denials",
    "Requests refused: unauthenticated, unavailable (API down), forbidden (per datasource)",
    ["reason"],
)

LEADER = Gauge(
    "proms_mcp_leader",
    "1 while this replica holds the Lease (it alone probes and writes statuses), else 0",
    ["identity"],
)
STATUS_WRITES = Counter(
    "proms_mcp_status_writes",
    "Writes of the operator to the Kubernetes API, by kind (status, event) and outcome",
    ["kind", "outcome"],
)
PROBES = Counter(
    "proms_mcp_probes",
    "Reachability probes of PrometheusDatasources, by the Reachable status they found",
    ["reachable"],
)
