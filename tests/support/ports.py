"""Loopback ports for the servers tests start, picked where nothing else will take them.

A port found free has to stay free until the server binds it. `bind(("127.0.0.1", 0))`
hands out ports from Linux's ephemeral range (32768-60999), the same range every outgoing
connection's local port comes from, so in a busy suite another socket could take it in
between. Ports below that range are only ever taken by an explicit bind, and one session
never hands out the same port twice.
"""

from __future__ import annotations

import random
import socket

_BELOW_EPHEMERAL = range(20_000, 32_768)
_unused = iter(random.sample(_BELOW_EPHEMERAL, len(_BELOW_EPHEMERAL)))


def free_port() -> int:
    """A loopback port nothing listens on now and no other test of this session gets."""
    for port in _unused:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port left below the ephemeral range")
