"""app: the composition root; one proms-mcp process.

Holds: the application that builds every part when it is constructed and serves both ports
(`assembly`), the HTTP servers (`servers`), their sockets (`listeners`), the operations port
(`health`), running until a signal (`lifecycle`), and the narrow contract with what the
process hosts (`hosting`: the operator and the demo plug in as extensions through it).

May import: every room below it; uvicorn.
Must not: import the operator or kopf (extensions are passed in), or hold tool logic.
"""
