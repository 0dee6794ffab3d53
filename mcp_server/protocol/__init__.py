"""protocol: MCP on the wire, and the only room that touches FastMCP's or the MCP SDK's
internals.

Holds: one tool call's framing (`calls`: timing, counting, logging, our errors as tool
errors, the result budget), a lean tools/list (`listing`), the tools/call fast path
(`fast_path`, fenced to the FastMCP and SDK versions it was tested against) and mounting the
MCP app on its path (`mounting`).

May import: backends, results, promql, auth, sources, core; FastMCP, the MCP SDK (`mcp`,
private names included) and starlette.
Must not: define tools or their arguments, or build the application.
"""
