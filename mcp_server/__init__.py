"""proms-mcp: one MCP endpoint for many Prometheus-compatible backends."""

__version__ = "0.1.0"
