"""Which process sent a request: a loopback peer's port -> the pid whose socket it is.

For tests with several `proms-mcp` processes behind one fake backend, which must answer each
replica differently (two replicas that disagree about a backend) or count who probed it.
Linux only: it reads /proc/net/tcp{,6} and the candidates' /proc/<pid>/fd.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Iterable

_ESTABLISHED = "01"


def children() -> list[int]:
    """The pids of this process's children."""
    found = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rpartition(")")[2].split()[1]) == os.getpid():
                found.append(int(stat.parent.name))
    return found


def environment(pid: int, name: str) -> str | None:
    """The value of variable `name` in the environment `pid` started with."""
    with contextlib.suppress(OSError):
        for entry in pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            key, _, value = entry.decode(errors="replace").partition("=")
            if key == name:
                return value
    return None


def owner(peer_port: int, candidates: Iterable[int] | None = None) -> int | None:
    """The pid among `candidates` (default: this process's children) holding the connected
    socket whose local port is `peer_port` (the client end of a loopback connection)."""
    candidates = children() if candidates is None else candidates
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in pathlib.Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == _ESTABLISHED and int(fields[1].rsplit(":", 1)[1], 16) == peer_port:
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in candidates:
        folder = pathlib.Path(f"/proc/{pid}/fd")
        with contextlib.suppress(OSError):
            for descriptor in folder.iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(descriptor) in inodes:
                        return pid
    return None
