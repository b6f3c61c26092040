"""The one background schedule sealing, detection and streaming run on, driven without a
clock through its injectable wait."""

from __future__ import annotations

import threading

import pytest

from sql.periodic import PeriodicTask


def test_calls_at_once_then_after_each_interval_until_the_wait_says_stop() -> None:
    calls: list[int] = []
    waits: list[float] = []
    task = PeriodicTask(
        lambda: calls.append(len(calls)),
        name="t",
        interval=7.0,
        wait=lambda s: waits.append(s) or len(waits) == 3,
    )
    task.run_forever()
    assert calls == [0, 1, 2] and waits == [7.0, 7.0, 7.0]
    assert task.runs == 3 and task.first_run_done.is_set()


def test_more_work_means_the_next_call_comes_at_once() -> None:
    results = iter([5, 3, 0, 2, 0])
    waits: list[float] = []
    task = PeriodicTask(
        lambda: next(results),
        name="t",
        interval=1.0,
        again=lambda sent: sent > 0,
        wait=lambda s: waits.append(s) or len(waits) == 2,
    )
    task.run_forever()
    assert task.runs == 5 and waits == [1.0, 1.0]  # waited only after the idle passes


def test_a_failed_call_is_reported_and_retried_after_the_error_interval() -> None:
    outcomes = iter([RuntimeError("database restarting"), None])
    errors: list[str] = []
    waits: list[float] = []

    def job() -> None:
        problem = next(outcomes)
        if problem:
            raise problem

    task = PeriodicTask(
        job,
        name="t",
        interval=60.0,
        error_interval=5.0,
        on_error=lambda exc: errors.append(str(exc)),
        wait=lambda s: waits.append(s) or len(waits) == 2,
    )
    task.run_forever()
    assert errors == ["database restarting"] and waits == [5.0, 60.0] and task.runs == 2


def test_without_on_error_a_failure_ends_the_loop() -> None:
    def job() -> None:
        raise ValueError("bad")

    task = PeriodicTask(job, name="t", interval=1.0, wait=lambda s: False)
    with pytest.raises(ValueError, match="bad"):
        task.run_forever()
    assert task.runs == 1 and task.first_run_done.is_set()


def test_a_started_task_stops_when_asked_and_a_callers_event_stops_it_too() -> None:
    called = threading.Event()
    task = PeriodicTask(called.set, name="auditlens-test", interval=3600).start()
    assert called.wait(30) and task.running
    task.stop(30)
    assert not task.running

    stop = threading.Event()
    own = PeriodicTask(stop.set, name="t", interval=3600, stop=stop)
    own.run_forever()  # the call sets the caller's event: the loop ends without waiting
    assert own.runs == 1
