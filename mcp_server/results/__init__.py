"""results: what a tool answers, shaped to fit a token budget; pure, no I/O.

Holds: the output models agents see (`models`, `inspection`, `promql_help`), the inspection
answers converted from the backend's JSON (`converting`), the token budget and its generic
cuts (`budget`), the documented degradation steps of query results (`shaping`), per-series
statistics and sparklines (`summaries`), exact sums and means (`figures`), Alertmanager
answers (`alerting`) and the parts of an alert's investigation: its ALERTS history
(`history`), silences and inhibitions that apply or almost do (`suppression`), and the
answer with its own budget cuts (`investigation`).

May import: core, pydantic.
Must not: do I/O, import a backend client, the MCP SDK or FastMCP (the budget's middleware
lives in `protocol.calls`), or the backends (both take the backend's JSON as `core.raw`).
"""
