"""The Overview's reads run concurrently: every call runs, at the same time (each waits for
the others at a barrier, which only concurrent calls pass), and a failing one is left for the
page's own call to raise."""

from __future__ import annotations

import threading

from dashboard.overview_queries import run_concurrently


def test_calls_run_at_the_same_time_and_errors_stay_for_the_page():
    barrier = threading.Barrier(3, timeout=30)
    done: list[int] = []

    def meet(n: int) -> None:
        barrier.wait()  # raises BrokenBarrierError unless all three are running at once
        done.append(n)

    def fail() -> None:
        raise RuntimeError("the page's own call reports this")

    run_concurrently([lambda: meet(1), lambda: meet(2), lambda: meet(3), fail])
    assert sorted(done) == [1, 2, 3]
