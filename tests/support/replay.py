"""A backend that answers every distinct request once from the real Prometheus and then
again from memory: two stacks asked the same question see the same bytes, even from live
state (alerts, targets, scrape times) that changes between their calls."""

from __future__ import annotations

import contextlib
import threading
import urllib.request
from collections.abc import Iterator

from tests.support import harness

Answer = tuple[int, str, bytes]


@contextlib.contextmanager
def replaying(upstream: str) -> Iterator[str]:
    """A loopback URL in front of `upstream`; yields it while it serves."""
    answers: dict[tuple[str, str, bytes], Answer] = {}
    lock = threading.Lock()

    class Replay(harness.Handler):
        def do_GET(self) -> None:
            self._answer(b"")

        def do_POST(self) -> None:
            self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def _answer(self, body: bytes) -> None:
            key = (self.command, self.path, body)
            with lock:
                if key not in answers:
                    answers[key] = _ask(upstream, self.command, self.path, body, self.headers)
                status, content_type, payload = answers[key]
            self.reply(payload, content_type, status=status)

    with harness.http_server(Replay) as url:
        yield url


def _ask(upstream: str, method: str, path: str, body: bytes, headers: object) -> Answer:
    request = urllib.request.Request(upstream + path, data=body or None, method=method)
    content_type = getattr(headers, "get", lambda _: None)("Content-Type")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()
