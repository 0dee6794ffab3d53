"""The listening sockets of both ports, bound before anything else starts.

uvicorn binds its own socket only after the app's lifespan has started, and reports a port
in use with an error line, a traceback per server and exit code 3. Bound here first, a
taken port is one sentence naming the setting (`HEALTH_METRICS_PORT 8080 on 127.0.0.1 is
already in use`) before any other work or log line, and uvicorn serves the sockets given.
"""

from __future__ import annotations

import errno
import socket

from ..core import errors


def bind(setting: str, host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address `host` resolves to (as uvicorn would bind them).

    Raises ConfigurationError naming `setting` (and HOST when the address is the problem).
    """
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise errors.ConfigurationError(
            f"HOST {host} does not resolve to an address to listen on ({exc.strerror})"
        ) from None
    bound: list[socket.socket] = []
    try:
        for family, kind, protocol, _, address in dict.fromkeys(addresses):
            listener = socket.socket(family, kind, protocol)
            bound.append(listener)
            # Like uvicorn and asyncio: a restart may bind while old connections linger in
            # TIME_WAIT; on Linux this never lets two servers share a listening port.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listener.bind(address)
    except OSError as exc:
        for listener in bound:
            listener.close()
        raise errors.ConfigurationError(_describe(setting, host, port, exc)) from None
    return bound


def _describe(setting: str, host: str, port: int, exc: OSError) -> str:
    where = f"{setting} {port} on {host}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where} is already in use"
    if exc.errno == errno.EACCES:
        return f"{where}: permission denied (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: HOST {host} is not an address of this machine"
    return f"{where} cannot be listened on: {(exc.strerror or str(exc)).lower()}"
