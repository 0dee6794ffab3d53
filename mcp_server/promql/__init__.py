"""promql: the PromQL language, pure.

Holds: walks and facts of the promql-parser tree (`syntax`), explanations (`explaining`),
lint findings (`linting`), syntax errors with positions and hints as agents need them
(`syntax_errors`), the limits every query is checked against before a parser or backend
sees it (`checks`), label matchers as selectors and Alertmanager write them (`matchers`),
and an alert rule's condition split into sides and threshold (`conditions`).

May import: core, promql-parser.
Must not: do I/O, talk to a backend (whose parser decides is `backends.parsing`), or know
about MCP, tools or results.
"""
