"""A minimal HTTP/1.1 keep-alive client for load generation: one connection per worker,
pre-encoded requests, just enough response parsing (Content-Length or chunked).

The benchmark runs the load generator, Prometheus and proms-mcp on the same few cores; a
full client library (httpx costs about 2 ms of CPU per request here) would measure itself
more than the servers. This one costs a few tens of microseconds per request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


class HttpError(Exception):
    """A response that is not 200, or a malformed one."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


class Connection:
    """One keep-alive connection; requests on it are sequential. `local_address` is the
    address it connects from (127.0.0.2 is another caller to a server on 127.0.0.1)."""

    def __init__(self, url: str, *, local_address: str | None = None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._local = (local_address, 0) if local_address else None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        return await self.send("\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body)

    async def send(self, request: bytes) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, local_addr=self._local
            )
        assert self._reader is not None
        self._writer.write(request)
        return await _read_response(self._reader)

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()
            self._writer = self._reader = None


async def _read_response(reader: asyncio.StreamReader) -> Response:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise HttpError(f"malformed status line {lines[0]!r}") from None
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        body = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        content = bytes(body)
    elif length is not None:
        content = await reader.readexactly(length)
    else:
        raise HttpError("response without Content-Length or chunked encoding")
    if status != 200:
        raise HttpError(f"HTTP {status}: {content[:300]!r}")
    return Response(status, content)
