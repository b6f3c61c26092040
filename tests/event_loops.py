"""Running a coroutine to completion from a test, whatever earlier tests left behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_own_thread(main: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60) -> T:
    """`asyncio.run(main())` on a thread of its own: an earlier test (Streamlit's AppTest) may
    leave an event loop running on the test thread, and asyncio.run refuses to nest."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(main()))
        except BaseException as exc:  # handed to the test thread
            failure.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"the coroutine did not finish within {timeout} s")
    if failure:
        raise failure[0]
    return result[0]
