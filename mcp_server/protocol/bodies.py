"""Reading a request body ahead of the app that serves it, and handing it on unchanged.

The tools/call fast path and the MCP Apps sessions both look at a POST's JSON-RPC message
before deciding whether the MCP SDK answers it; the SDK must then receive exactly the
bytes (and the disconnect, if one came) that the client sent.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import Message, Receive


async def read(
    receive: Receive, headers: Mapping[str, str], limit: int
) -> tuple[bytes, bool, Message | None]:
    """The body; whether it is all there within `limit` bytes; and a message that ended the
    reading early (a disconnect), which the app must still get. A body declared (by
    Content-Length) or found larger than `limit` is left mostly unread."""
    try:
        declared = int(headers.get("content-length", ""))
    except ValueError:
        declared = 0
    if declared > limit:
        return b"", False, None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False, message
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), False, None
        if not message.get("more_body", False):
            return b"".join(chunks), True, None


def replaying(body: bytes, complete: bool, pending: Message | None, receive: Receive) -> Receive:
    """A receive that hands over what was already read, then the rest of the stream."""
    queued: list[Message] = [{"type": "http.request", "body": body, "more_body": not complete}]
    if pending is not None:
        queued.append(pending)

    async def replay() -> Message:
        if queued:
            return queued.pop(0)
        return await receive()

    return replay
