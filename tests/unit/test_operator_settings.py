"""How the operator waits out an API server that is away: short, capped retries that never run out."""

from __future__ import annotations

import itertools

from modelroute.cluster.watch import RetryBackoffs


def test_retries_never_run_out_and_never_wait_more_than_two_seconds() -> None:
    waits = list(itertools.islice(RetryBackoffs(), 1000))
    assert len(waits) == 1000
    assert max(waits) == 2.0
    assert sum(waits[:6]) < 10  # an API server back after a restart is seen within seconds


def test_every_request_starts_from_the_shortest_wait() -> None:
    backoffs = RetryBackoffs()
    first = list(itertools.islice(backoffs, 3))
    assert list(itertools.islice(backoffs, 3)) == first == [0.5, 1.0, 1.0]
