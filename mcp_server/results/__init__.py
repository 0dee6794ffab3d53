"""results: what a tool answers, shaped to fit a token budget; pure, no I/O.

Holds: the output models agents see (`models`, `inspection`), their conversion from the
backend's JSON (`converting`), the token budget and generic cuts (`budget`), the documented
degradation steps of query results (`shaping`) and exact sums and means (`figures`).

May import: core, pydantic.
Must not: do I/O, import a backend client, the MCP SDK or FastMCP (the budget's middleware
lives in `protocol`).
"""
