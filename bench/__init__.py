"""Benchmarks (`make bench`): proms-mcp side by side with direct Prometheus."""
