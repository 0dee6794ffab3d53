"""A rolling restart under load fails no call: two `proms-mcp` processes (the shipped
console script, operator mode, leader election, SHUTDOWN_DELAY_SECONDS=3) behind a
round-robin proxy that follows /ready, each restarted in turn with SIGTERM while clients call
tools (`bench.rolling`, which `make bench` runs with 32 clients).

Nothing here is timed: a terminating replica keeps accepting for 3 s after its /ready fails,
and the proxy reads /ready every 0.1 s, so every call reaches a replica that answers it.
With SHUTDOWN_DELAY_SECONDS=0 the same run fails calls (connections refused).
"""

from __future__ import annotations

import pytest

from bench import rolling


# Four process starts (3-10 s each on a busy machine) and two shutdown delays: the suite's
# 60 s timeout was met once at load average 7.
@pytest.mark.timeout(240)
def test_a_rolling_restart_of_two_replicas_under_load_fails_no_call() -> None:
    report = rolling.run(clients=8, settle=0.5)
    assert report["steps"] == [
        "replica 0 stopped",
        "replica 0 restarted and in rotation",
        "replica 1 stopped",
        "replica 1 restarted and in rotation",
    ]
    assert report["calls"] > 100
    assert (report["failed"], report["errors"]) == (0, [])
