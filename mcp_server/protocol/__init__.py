"""protocol: MCP on the wire, and the only room that touches FastMCP's or the MCP SDK's
internals.

Holds: one tool call's framing (`calls`: binding, timing, counting, logging, our errors as tool
errors, the result budget, the per-caller limit), a lean tools/list that shows the MCP App only
to clients that declare it (`listing`), the session ids that remember a 2025 client's
declaration (`app_sessions`), the tools/call fast path (`fast_path`), mounting the
MCP app on its path with the SDK's schema lookup (`mounting`), the Host/Origin check in front
of all of it (`request_guard`), and the FastMCP and SDK releases those were tested with
(`versions`).

May import: backends, results, promql, auth, sources, core; FastMCP, the MCP SDK (`mcp`,
private names included, fenced by `versions`) and starlette.
Must not: define tools or their arguments, or build the application.
"""
