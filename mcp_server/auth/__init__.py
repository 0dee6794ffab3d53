"""auth: who is calling and what they may use.

Holds: the caller's identity and token for the duration of a request (`identity`), bearer
token authentication with TokenReview in front of the MCP endpoint (`authentication`), and
per-datasource authorization with SubjectAccessReview (`authorization`); what the ASGI
middlewares in front of the MCP app share (`middleware`, also the request guard's base).

May import: sources (where a datasource is declared decides who may use it), kube, core;
starlette's ASGI types.
Must not: know about backends, tools, results or the MCP SDK.
"""
