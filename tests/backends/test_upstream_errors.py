"""How upstream failures reach an agent: every fault becomes a tool error with a stable code,
Prometheus's own words are kept, and no URL, port, header or secret ever leaks.

Real servers throughout, reached by a real MCP client over HTTP: the real Prometheus for
what it can be made to answer (400, 422, its own timeout, large bodies), a socket that never
answers, a closed port, and a tiny programmable HTTP server for the faults a real Prometheus
cannot produce on demand (502 pages, 401, 404, garbage, huge bodies).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastmcp import Client

from tests.support import harness
from tests.support import prometheus_process as synthetic
from tests.support.answers import call, call_error
from tests.support.harness import McpClient, RunningServer
from tests.support.prometheus_process import RunningPrometheus

END = synthetic.SYNTHETIC_END
CAP_BYTES = 1024 * 1024
"""max_response_bytes of the main server under test."""
SLOW_TIMEOUT = 1
"""jsonData.timeout (seconds) of the datasources that are expected to time out."""
HEAVY_QUERY = (
    "count("
    + "label_replace(" * 4
    + "demo_cardinality_series"
    + "".join(f', "copy{n}", "$1", "shard", "(.*)")' for n in range(4))
    + ")"
)
"""Over the 6 h window at a 2 s step Prometheus 2.42 needs ~16 s for this (5.4 M regex
replacements per level). It checks its deadline at every step of a function over instant
vectors, so it gives up within ~10 ms of the timeout; functions over range vectors
(sum_over_time) and subqueries are only checked between whole evaluations and answered up to
2 s late, past our client-side deadline."""

UNAVAILABLE_TEXT = "store gateway overloaded, 3 of 3 replicas down"
BASIC_USER = "agent-user"
BASIC_PASSWORD = "s3cr3t-basic-XYZ"  # a fake secret that must never leak
HEADER_VALUE = "s3cr3t-header-XYZ"
SECRET_PATH = "internal-s3cr3t-path"
LEAKY_BEHAVIOURS = ("500", "401", "404", "garbage", "badgateway", "redirect")


# ------------------------------------------------------------------------------------------
# Real servers of our own
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as the fake backend received it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: dict[str, str]  # names lower-cased

    @property
    def params(self) -> list[tuple[str, str]]:
        """Query string and form body together, as Prometheus's FormValue reads them."""
        return self.query + self.form


def _success(endpoint: str) -> dict[str, Any]:
    data: Any
    if endpoint == "query":
        data = {
            "resultType": "vector",
            "result": [{"metric": {"job": "fake"}, "value": [END, "1"]}],
        }
    elif endpoint == "query_range":
        data = {"resultType": "matrix", "result": [{"metric": {"job": "fake"}, "values": []}]}
    elif endpoint == "metadata":
        data = {}
    else:  # labels, label/<name>/values, series
        data = ["fake_metric", "job"]
    return {"status": "success", "data": data}


class FakeBackend:
    """A real HTTP server on 127.0.0.1 that records every request; what it answers is chosen
    by the last segment of the sub-path in front of `/api/v1/` (`/fault/401/api/v1/query`)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                backend._handle(self)

            def do_POST(self) -> None:
                backend._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def requests_under(self, prefix: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.startswith(prefix + "/")]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        is_form = "form-urlencoded" in (handler.headers.get("Content-Type") or "")
        seen = Seen(
            method=handler.command,
            path=split.path,
            query=urllib.parse.parse_qsl(split.query, keep_blank_values=True),
            form=urllib.parse.parse_qsl(body.decode(), keep_blank_values=True) if is_form else [],
            headers={name.lower(): value for name, value in handler.headers.items()},
        )
        with self._lock:
            self.seen.append(seen)
        prefix, _, endpoint = split.path.partition("/api/v1/")
        behaviour = prefix.rsplit("/", 1)[-1]
        # What a misconfigured proxy's error page might show: must never be passed on.
        echo = (
            f"error for {handler.headers.get('Authorization')} "
            f"org {handler.headers.get('X-Scope-OrgID')} at {self.url}{handler.path}"
        ).encode()
        # The client may stop reading early, as it should for oversized bodies.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(handler, behaviour, endpoint, echo)

    def _answer(
        self, handler: BaseHTTPRequestHandler, behaviour: str, endpoint: str, echo: bytes
    ) -> None:
        if behaviour in ("ok", "prometheus"):
            self._send(handler, 200, json.dumps(_success(endpoint)).encode(), "application/json")
        elif behaviour == "unavailable":
            body = {"status": "error", "errorType": "unavailable", "error": UNAVAILABLE_TEXT}
            self._send(handler, 503, json.dumps(body).encode(), "application/json")
        elif behaviour == "badgateway":
            page = b"<html><body><h1>502 Bad Gateway</h1>" + echo + b"</body></html>"
            self._send(handler, 502, page, "text/html")
        elif behaviour.isdigit():
            self._send(handler, int(behaviour), echo, "text/plain")
        elif behaviour == "garbage":
            self._send(handler, 200, b'{"status": "success", "data": [' + echo, "application/json")
        elif behaviour == "not-an-api":
            self._send(handler, 200, b'{"hello": "world"}', "application/json")
        elif behaviour == "redirect":
            handler.send_response(302)
            handler.send_header("Location", f"{self.url}/login?next={handler.path}")
            handler.send_header("Content-Length", str(len(echo)))
            handler.end_headers()
            handler.wfile.write(echo)
        elif behaviour == "declared-huge":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(10**12))
            handler.end_headers()
            handler.wfile.write(b'{"status": "success", "data": [' + b"1," * 512)
        elif behaviour == "streamed-huge":  # no Content-Length: HTTP/1.0, ends at close
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.end_headers()
            handler.wfile.write(b'{"status": "success", "data": [')
            chunk = b"1," * 32 * 1024
            for _ in range(4 * CAP_BYTES // len(chunk)):
                handler.wfile.write(chunk)
        else:
            self._send(handler, 404, b"404 page not found", "text/plain")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


class SilentServer:
    """Accepts TCP connections and never answers (a hung backend or a blackholed proxy)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._connections.append(connection)
            self.accepted += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for connection in self._connections:
            connection.close()


# ------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBackend]:
    backend = FakeBackend()
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def _prom(name: str, url: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": "prometheus", "url": url, **fields}


def _leaky(behaviour: str, fake: FakeBackend) -> dict[str, Any]:
    return _prom(
        f"leaky-{behaviour}",
        f"{fake.url}/{SECRET_PATH}/{behaviour}",
        basicAuth=True,
        basicAuthUser=BASIC_USER,
        jsonData={"httpHeaderName1": "X-Scope-OrgID"},
        secureJsonData={"basicAuthPassword": BASIC_PASSWORD, "httpHeaderValue1": HEADER_VALUE},
    )


FAULTS = (
    "unavailable",
    "badgateway",
    "500",
    "429",
    "401",
    "403",
    "404",
    "garbage",
    "not-an-api",
    "redirect",
    "declared-huge",
    "streamed-huge",
)


@pytest.fixture(scope="module")
def proms_mcp(
    tmp_path_factory: pytest.TempPathFactory,
    prometheus: RunningPrometheus,
    closed_port_url: str,
    fake: FakeBackend,
    silent: SilentServer,
) -> Iterator[RunningServer]:
    custom = "dedup=false&partial_response=true"
    entries = [
        _prom("prom", prometheus.url),
        _prom("prom-slow", prometheus.url, jsonData={"timeout": SLOW_TIMEOUT}),
        _prom("prom-fractional-timeout", prometheus.url, jsonData={"timeout": 2.5}),
        _prom("hang", silent.url, jsonData={"timeout": SLOW_TIMEOUT}),
        _prom("refused", closed_port_url),
        *(_prom(f"fake-{fault}", f"{fake.url}/fault/{fault}") for fault in FAULTS),
        *(_leaky(behaviour, fake) for behaviour in LEAKY_BEHAVIOURS),
        _prom(
            "fake-post",
            f"{fake.url}/post/ok",
            jsonData={"timeout": 7, "customQueryParameters": custom},
        ),
        _prom(
            "fake-get",
            f"{fake.url}/get/ok",
            jsonData={"timeout": 7, "customQueryParameters": custom, "httpMethod": "GET"},
        ),
        _prom(
            "subpath-slash",
            f"{fake.url}/prometheus/",
            jsonData={"customQueryParameters": "which=slash"},
        ),
        _prom(
            "subpath-bare",
            f"{fake.url}/prometheus",
            jsonData={"customQueryParameters": "which=bare"},
        ),
    ]
    with harness.serving_datasources(
        tmp_path_factory.mktemp("upstream-errors"),
        *entries,
        prometheus={"max_response_bytes": CAP_BYTES},
    ) as running:
        served = set(running.application.registry.current().datasources)
        assert served == {e["name"] for e in entries}, "every test datasource must be served"
        yield running


@pytest.fixture(scope="module")
def small_cap_mcp(
    tmp_path_factory: pytest.TempPathFactory, prometheus: RunningPrometheus
) -> Iterator[RunningServer]:
    with harness.serving_datasources(
        tmp_path_factory.mktemp("small-cap"),
        _prom("prom", prometheus.url),
        prometheus={"max_response_bytes": 2048},
    ) as running:
        yield running


agent = harness.client_of("proms_mcp")


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def prometheus_error(prometheus: RunningPrometheus, query: str) -> tuple[int, str, str]:
    """What Prometheus itself answers for an instant query at END: status, errorType, error."""
    response = httpx.post(
        prometheus.url + "/api/v1/query",
        data={"query": query, "time": str(END)},
        trust_env=False,
        timeout=10,
    )
    body = response.json()
    assert body["status"] == "error", body
    return response.status_code, body["errorType"], body["error"]


eventually = harness.eventually


def assert_no_address(message: str, *addresses: str) -> None:
    assert "127.0.0.1" not in message and "http://" not in message, message
    for address in addresses:
        assert address not in message, message


# ------------------------------------------------------------------------------------------
# Errors from the real Prometheus
# ------------------------------------------------------------------------------------------


async def test_a_regex_prometheus_rejects_is_query_rejected_with_prometheus_text(
    agent: McpClient, prometheus: RunningPrometheus
) -> None:
    """Go's RE2 has no back-references; Python's re would have accepted this pattern."""
    error = await call_error(
        agent, "find_metrics_by_pattern", datasource_id="prom", pattern=r"(a)\1"
    )
    assert error["code"] == "query_rejected" and error["retryable"] is False
    assert error["message"].startswith("Prometheus (bad_data): ")
    assert "invalid escape sequence" in error["message"]
    assert_no_address(error["message"], str(prometheus.port))


async def test_a_many_to_many_match_is_query_rejected_with_prometheus_execution_message(
    agent: McpClient, prometheus: RunningPrometheus
) -> None:
    query = "demo_http_requests_total + on() demo_queue_depth"
    status, error_type, text = prometheus_error(prometheus, query)
    assert (status, error_type) == (422, "execution")
    error = await call_error(agent, "query_instant", datasource_id="prom", promql=query, time=END)
    assert error["code"] == "query_rejected" and error["retryable"] is False
    assert error["message"] == f"Prometheus (execution): {json.dumps(text, ensure_ascii=False)}"
    assert "found duplicate series" in error["message"]


async def test_prometheus_own_query_timeout_is_a_retryable_timeout_with_its_message(
    agent: McpClient,
) -> None:
    """jsonData.timeout is sent as `timeout=`; Prometheus gives up and answers 503 timeout
    before our client-side deadline (timeout + 1 s), so its own message reaches the agent."""
    started = time.monotonic()
    error = await call_error(
        agent,
        "query_range",
        datasource_id="prom-slow",
        promql=HEAVY_QUERY,
        start=synthetic.SYNTHETIC_START,
        end=END,
        step="2s",
    )
    elapsed = time.monotonic() - started
    assert error["code"] == "timeout" and error["retryable"] is True
    assert error["message"].startswith('Prometheus: "query timed out'), error["message"]
    assert elapsed < SLOW_TIMEOUT + 3


async def test_a_fractional_datasource_timeout_is_accepted_by_prometheus(
    agent: McpClient,
) -> None:
    got = await call(
        agent, "query_instant", datasource_id="prom-fractional-timeout", promql="vector(1)"
    )
    assert got["series"] == [{"labels": {}, "value": 1}]


async def test_an_oversized_prometheus_answer_is_response_too_large_with_how_to_narrow(
    small_cap_mcp: RunningServer,
) -> None:
    async with Client(small_cap_mcp.mcp_url) as mcp:
        small = await call(mcp, "query_instant", datasource_id="prom", promql="vector(1)")
        assert small["series"] == [{"labels": {}, "value": 1}]  # the cap leaves small answers
        error = await call_error(
            mcp, "query_instant", datasource_id="prom", promql="demo_cardinality_series", time=END
        )
    assert error["code"] == "response_too_large" and error["retryable"] is False
    assert "narrow the query" in error["message"] and "label matchers" in error["message"]


async def test_the_response_size_limit_is_stated_truthfully(small_cap_mcp: RunningServer) -> None:
    async with Client(small_cap_mcp.mcp_url) as mcp:
        error = await call_error(
            mcp, "query_instant", datasource_id="prom", promql="demo_cardinality_series", time=END
        )
    assert error["code"] == "response_too_large"
    assert " 0 MiB" not in error["message"], error["message"]


# ------------------------------------------------------------------------------------------
# Transport failures
# ------------------------------------------------------------------------------------------


async def test_a_backend_that_never_answers_times_out_without_blocking_other_datasources(
    agent: McpClient, silent: SilentServer
) -> None:
    finished: dict[str, float] = {}
    before = silent.accepted
    started = time.monotonic()

    async def hanging() -> dict[str, Any]:
        error = await call_error(agent, "query_instant", datasource_id="hang", promql="up")
        finished["hang"] = time.monotonic()
        return error

    async def fast_while_the_other_hangs() -> dict[str, Any]:
        await eventually(lambda: silent.accepted > before, timeout=SLOW_TIMEOUT)
        assert "hang" not in finished
        got = await call(
            agent,
            "query_instant",
            datasource_id="prom",
            promql="count(demo_queue_depth)",
            time=END,
        )
        finished["fast"] = time.monotonic()
        return got

    error, fast = await asyncio.gather(hanging(), fast_while_the_other_hangs())

    assert fast["series"] == [{"labels": {}, "value": 4}]
    assert finished["fast"] < finished["hang"]
    assert error["code"] == "timeout" and error["retryable"] is True
    assert f"within {SLOW_TIMEOUT}s" in error["message"]
    assert_no_address(error["message"], str(silent.port))
    elapsed = finished["hang"] - started
    assert SLOW_TIMEOUT <= elapsed < SLOW_TIMEOUT + 3


async def test_a_refused_connection_is_retryable_backend_unavailable_without_address(
    agent: McpClient, closed_port_url: str
) -> None:
    error = await call_error(agent, "query_instant", datasource_id="refused", promql="up")
    assert error["code"] == "backend_unavailable" and error["retryable"] is True
    assert "refused" in error["message"]
    assert_no_address(error["message"], closed_port_url.rsplit(":", 1)[1])


# ------------------------------------------------------------------------------------------
# Faults of other servers
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "retryable", "says"),
    [
        (
            "unavailable",
            "backend_unavailable",
            True,
            f"Prometheus (unavailable): {json.dumps(UNAVAILABLE_TEXT)}",
        ),
        ("badgateway", "backend_unavailable", True, "HTTP 502; retry later"),
        ("500", "backend_unavailable", True, "HTTP 500; retry later"),
        ("429", "backend_unavailable", True, "rate limiting"),
        ("401", "upstream_unauthorized", False, "credentials"),
        ("403", "upstream_unauthorized", False, "HTTP 403"),
        ("404", "bad_response", False, "sub-path"),
        ("garbage", "bad_response", False, "not a Prometheus API response"),
        ("not-an-api", "bad_response", False, "not a Prometheus API response"),
        ("redirect", "bad_response", False, "HTTP 302"),
        ("declared-huge", "response_too_large", False, "narrow the query"),
        ("streamed-huge", "response_too_large", False, "narrow the query"),
    ],
)
async def test_each_upstream_fault_has_its_code_and_says_what_to_do(
    agent: McpClient,
    fake: FakeBackend,
    fault: str,
    code: str,
    retryable: bool,
    says: str,
) -> None:
    before = len(fake.requests_under(f"/fault/{fault}"))
    error = await call_error(agent, "query_instant", datasource_id=f"fake-{fault}", promql="up")
    assert len(fake.requests_under(f"/fault/{fault}")) == before + 1  # it really was asked
    assert error["code"] == code and error["retryable"] is retryable
    assert says in error["message"]
    assert_no_address(error["message"], str(fake.port), "/fault/")


# ------------------------------------------------------------------------------------------
# Secrets
# ------------------------------------------------------------------------------------------

_STANDARD_RECORD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)
_QUIETED_IN_PRODUCTION = ("httpx", "httpcore", "mcp", "fastmcp", "sse_starlette")
"""Library loggers `logs.configure` holds at WARNING at every LOG_LEVEL (they print URLs)."""


def _logged_text(record: logging.LogRecord) -> str:
    """What a log line shows of a record: its message, its extra fields, its exception."""
    extras = {
        key: value for key, value in record.__dict__.items() if key not in _STANDARD_RECORD_FIELDS
    }
    parts = [record.getMessage(), json.dumps(extras, default=str)]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


@pytest.mark.parametrize("behaviour", LEAKY_BEHAVIOURS)
async def test_credentials_are_sent_but_never_leak_into_errors_or_logs(
    agent: McpClient,
    fake: FakeBackend,
    caplog: pytest.LogCaptureFixture,
    behaviour: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    for library in _QUIETED_IN_PRODUCTION:
        caplog.set_level(logging.WARNING, logger=library)
    datasource_id = f"leaky-{behaviour}"
    prefix = f"/{SECRET_PATH}/{behaviour}"
    before = len(fake.requests_under(prefix))

    texts = []
    for tool, arguments in (
        ("query_instant", {"promql": "up"}),  # POST
        ("get_label_values", {"label_name": "job"}),  # GET
    ):
        result = await agent.call_tool(
            tool, {"datasource_id": datasource_id, **arguments}, raise_on_error=False
        )
        assert result.is_error
        texts.append(result.content[0].text)  # type: ignore[union-attr]

    received = fake.requests_under(prefix)[before:]
    assert [r.method for r in received] == ["POST", "GET"]
    token = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
    for request in received:
        assert request.headers["authorization"] == f"Basic {token}"
        assert request.headers["x-scope-orgid"] == HEADER_VALUE

    call_logs = [
        r
        for r in caplog.records
        if getattr(r, "tool", None) in {"query_instant", "get_label_values"}
    ]
    assert {getattr(r, "datasource_id", None) for r in call_logs} == {datasource_id}, (
        "the server's call log lines must be captured, or this test proves nothing"
    )
    secrets = (BASIC_PASSWORD, HEADER_VALUE, token, SECRET_PATH, str(fake.port))
    logged = [_logged_text(record) for record in caplog.records]
    for secret in secrets:
        for text in texts:
            assert secret not in text, text
        for line in logged:
            assert secret not in line, line


# ------------------------------------------------------------------------------------------
# What is sent
# ------------------------------------------------------------------------------------------


INSTANT = ("query_instant", {"promql": "up", "time": END})
LABELS = ("get_metric_labels", {"metric_name": "up"})


async def sent_to(
    agent: McpClient, fake: FakeBackend, method: str, *calls: tuple[str, dict[str, Any]]
) -> list[Seen]:
    """The requests datasource fake-<method> sends the fake backend for `calls`, in order."""
    before = len(fake.requests_under(f"/{method}"))
    for tool, arguments in calls:
        await call(agent, tool, datasource_id=f"fake-{method}", **arguments)
    return fake.requests_under(f"/{method}")[before:]


async def test_queries_go_as_post_forms_with_timeout_and_custom_parameters(
    agent: McpClient, fake: FakeBackend
) -> None:
    sent = await sent_to(
        agent,
        fake,
        "post",
        INSTANT,
        ("query_range", {"promql": "up"}),
        LABELS,
        ("get_label_values", {"label_name": "job"}),
    )
    assert [(r.method, r.path) for r in sent] == [
        ("POST", "/post/ok/api/v1/query"),
        ("GET", "/post/ok/api/v1/status/config"),  # its scrape interval floors the step
        ("POST", "/post/ok/api/v1/query_range"),
        ("POST", "/post/ok/api/v1/labels"),
        ("GET", "/post/ok/api/v1/label/job/values"),
    ]
    query, _, query_range, labels, values = sent
    assert query.headers["content-type"] == "application/x-www-form-urlencoded"
    assert query.query == [], "PromQL must not travel in the URL when POST is configured"
    assert ("query", "up") in query.form and ("time", f"{END:.3f}") in query.form
    assert ("match[]", "up") in labels.form
    for request in sent:
        assert {("dedup", "false"), ("partial_response", "true")} <= set(request.params)
    for request in (query, query_range):
        assert dict(request.params)["timeout"] == "7"
    for request in (labels, values):
        assert "timeout" not in dict(request.params)


async def test_a_get_datasource_sends_queries_in_the_query_string(
    agent: McpClient, fake: FakeBackend
) -> None:
    query, labels = await sent_to(agent, fake, "get", INSTANT, LABELS)
    assert (query.method, query.path) == ("GET", "/get/ok/api/v1/query")
    assert query.form == [] and "content-type" not in query.headers
    assert {
        ("query", "up"),
        ("time", f"{END:.3f}"),
        ("timeout", "7"),
        ("dedup", "false"),
        ("partial_response", "true"),
    } <= set(query.query)
    assert (labels.method, labels.path) == ("GET", "/get/ok/api/v1/labels")
    assert ("match[]", "up") in labels.query


@pytest.mark.parametrize("which", ["slash", "bare"])
async def test_a_sub_path_url_is_kept_with_or_without_a_trailing_slash(
    agent: McpClient, fake: FakeBackend, which: str
) -> None:
    await call(agent, "query_instant", datasource_id=f"subpath-{which}", promql="up", time=END)
    mine = [r for r in fake.requests_under("/prometheus") if ("which", which) in r.params]
    assert [r.path for r in mine] == ["/prometheus/api/v1/query"]
