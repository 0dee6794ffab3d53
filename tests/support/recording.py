"""A backend that records every request it receives, for tests that must show what was (or
was never) sent where: a caller's token, a connection to a refused address."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.support import harness


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def carries(self, text: str) -> bool:
        """Whether `text` appears anywhere in the request (path, any header, the body)."""
        return (
            text in self.path
            or any(text in f"{name}: {value}" for name, value in self.headers.items())
            or text.encode() in self.body
        )


@dataclass
class Recorder:
    url: str = ""
    requests: list[Request] = field(default_factory=list)

    def authorizations(self) -> list[str | None]:
        return [r.headers.get("Authorization") for r in self.requests]


@contextlib.contextmanager
def recording_backend(host: str = "127.0.0.1", port: int = 0) -> Iterator[Recorder]:
    """A Prometheus-shaped backend on `host`, recording each request before it answers:
    queries a scalar 1, label and series lookups `["up"]`, buildinfo a version."""
    recorder = Recorder()

    class Recording(harness.Handler):
        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            recorder.requests.append(
                Request(self.command, self.path, dict(self.headers.items()), body)
            )
            data: Any = {"resultType": "scalar", "result": [0, "1"]}
            if self.path.startswith("/api/v1/status/buildinfo"):
                data = {"version": "2.42.0"}
            elif self.path.startswith(("/api/v1/label", "/api/v1/series")):
                data = ["up"]
            self.reply(json.dumps({"status": "success", "data": data}).encode())

        do_POST = do_GET

    with harness.http_server(Recording, address=(host, port)) as url:
        recorder.url = url
        yield recorder
