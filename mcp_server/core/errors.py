"""The one exception tree of proms-mcp.

    PromsMcpError                      code            meaning for the agent
    ├── ConfigurationError             configuration   bad start-up settings (never a tool's)
    ├── InvalidArgument                invalid_argument  fix the arguments and call again
    │   └── InvalidQuery               invalid_query   PromQL that does not parse (the backend's
    │                                                  parser when there is one: with `line`,
    │                                                  `column` and a `hint`), or a result the
    │                                                  tool cannot give (a range vector)
    ├── DatasourceNotFound             datasource_not_found  call list_datasources
    ├── DatasourceUnavailable          datasource_unavailable  declared but not served; says why
    ├── Unsupported                    unsupported     this backend type has no such API (or
    │                                                  a query only the backend can parse is
    │                                                  not estimated)
    ├── TooManyCalls                   too_many_calls  this caller already has `limit` calls in
    │                                                  flight (MAX_CALLS_PER_CALLER); retry
    │                                                  when one has finished
    └── UpstreamError                  (abstract)      the backend did not give an answer
        ├── QueryRejected              query_rejected  Prometheus refused the request (400/422)
        ├── BackendUnavailable         backend_unavailable  refused, DNS, TLS, 5xx; retry later
        ├── UpstreamUnauthorized       upstream_unauthorized  the backend refused our credentials
        ├── UpstreamTimeout            timeout         narrow the query or raise the timeout
        ├── ResponseTooLarge           response_too_large  narrow the query
        ├── DestinationNotAllowed      destination_not_allowed  the server's egress policy
        │                                              refused the datasource's address
        └── BadUpstreamResponse        bad_response    the endpoint is not a Prometheus API
            ├── EndpointNotFound       bad_response    HTTP 404 (`capabilities` may re-code it)
            └── EmptyResponse          bad_response    2xx, no body (`capabilities`: no data)

HTTP client errors are translated once, in `backends.prometheus` (a parse error in the
agent's own PromQL becomes InvalidQuery there, not QueryRejected); the MCP layer turns this
tree into tool errors in one place (`protocol.calls.guarded`; FastMCP's own argument
validation failures through `calls.ArgumentErrors`), with each error's `fields` next to its
code and message. Messages are written for an agent and must never carry a URL, header or
secret: the datasource id is enough to locate the problem.

Outside the tree, and never seen by an agent, are the errors of parts that report to their
own caller, each translated where it meets the tree:

    kube.kubeclient.ApiError           the Kubernetes API could not be used (its HTTP status,
                                       0 when it did not answer); a ConfigurationError at
                                       start-up, a denial in authorization, a retry and a
                                       readiness problem in the operator
    kube.kubeconfig.Unusable           a kubeconfig or in-cluster account that cannot be used;
                                       becomes ApiError(0, ...) in `kubeclient`
    sources.provisioning.ProvisioningError  the provisioning path itself is unreadable; the
                                       file source keeps the last good datasources and says
                                       why on /ready (flaws inside a file are Problems)
    proms_operator.specs.SpecError     a PrometheusDatasource spec that cannot be served; its
                                       reason and message go to the CR's status and an Event
    auth.authentication.ReviewUnavailable  a TokenReview got no answer: HTTP 503 to the
                                       caller, nothing cached
"""

from __future__ import annotations

from typing import ClassVar


class PromsMcpError(Exception):
    code: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def fields(self) -> dict[str, str | int]:
        """Facts an agent can act on without reading the message, sent next to it."""
        return {}


class ConfigurationError(PromsMcpError):
    code = "configuration"


class InvalidArgument(PromsMcpError):
    code = "invalid_argument"


class InvalidQuery(InvalidArgument):
    """`line` and `column` (from 1; the column counts bytes) only ever come from the parser
    that found the error; `hint` is a fix where one is known."""

    code = "invalid_query"

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.hint = hint

    def fields(self) -> dict[str, str | int]:
        given = {"line": self.line, "column": self.column, "hint": self.hint}
        return {name: value for name, value in given.items() if value is not None}


class DatasourceNotFound(PromsMcpError):
    code = "datasource_not_found"


class DatasourceUnavailable(PromsMcpError):
    """Declared, but its definition could not be served (an unset variable, a missing Secret);
    the message is the problem `/ready` lists, with its fix."""

    code = "datasource_unavailable"


class Unsupported(PromsMcpError):
    """The datasource's backend does not serve the API a tool needs (targets on Mimir)."""

    code = "unsupported"


class TooManyCalls(PromsMcpError):
    """Refused before it started, never queued: the caller's own calls hold every slot."""

    code = "too_many_calls"
    retryable = True

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"you already have {limit} tool calls in flight, the most one caller may have "
            "(MAX_CALLS_PER_CALLER); retry when one of them has answered"
        )
        self.limit = limit

    def fields(self) -> dict[str, str | int]:
        return {"limit": self.limit}


class UpstreamError(PromsMcpError):
    """The backend was asked and did not give a usable answer."""


class QueryRejected(UpstreamError):
    """Prometheus's own refusal, kept verbatim (`errorType`, `error` as `text`)."""

    code = "query_rejected"

    def __init__(self, message: str, *, error_type: str, status_code: int, text: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.status_code = status_code
        self.text = text


class BackendUnavailable(UpstreamError):
    code = "backend_unavailable"
    retryable = True


class UpstreamUnauthorized(UpstreamError):
    code = "upstream_unauthorized"


class UpstreamTimeout(UpstreamError):
    code = "timeout"
    retryable = True


class ResponseTooLarge(UpstreamError):
    code = "response_too_large"


class DestinationNotAllowed(UpstreamError):
    """The datasource's address (after DNS) is one the server's egress policy refuses
    (EGRESS_ALLOW / EGRESS_DENY): nothing was sent. The message never names the address."""

    code = "destination_not_allowed"


class BadUpstreamResponse(UpstreamError):
    code = "bad_response"


class EndpointNotFound(BadUpstreamResponse):
    """HTTP 404: a wrong base URL, or an optional API the backend does not serve."""


class EmptyResponse(BadUpstreamResponse):
    """A success status with no body (Prometheus answers HTTP 204 when it has no data, e.g.
    exemplars of an expression without a selector): "nothing" from an optional API, a fault
    from one that must answer."""
