"""tools: what agents can call, and the text they read about it.

Holds: the arguments every tool shares and their checks (`arguments`), the prologue and the
registration every tool goes through (`framing`), the seed's eight tools (`querying`), the
backend's own state (`inspecting`), PromQL help (`checking`, `estimating`), Alertmanager's
alerts, silences and groups (`alerting`), one alert's investigation (`investigating`, which
finds the alert and the datasources on its other side with `locating`, reads the backends with
`evidence` and suggests queries with `followups`), resources, prompts and completions
(`guidance`), and the MCP App's chart: its viewer resource and app-only tool (`charting`).
Tools are module-level functions registered from a list; each takes the live backends as its
first argument.

May import: protocol, backends, results, promql, sources, core; FastMCP's public API.
Must not: touch FastMCP's or the SDK's private names, talk HTTP itself, or read settings.
"""
