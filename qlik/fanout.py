"""Independent calls in flight at once, never more than the setting allows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


def fan_out(
    call: Callable[[ArgT], ResultT], args: Iterable[ArgT], max_concurrency: int
) -> list[ResultT]:
    """``[call(arg) for arg in args]``, with up to ``max_concurrency`` calls at once.

    Results keep the order of ``args``. Once a call fails, calls not yet begun are not made;
    the failure of the earliest argument that failed is raised when those in flight have ended.
    """
    work = list(args)
    if max_concurrency <= 1 or len(work) <= 1:
        return [call(arg) for arg in work]
    workers = min(max_concurrency, len(work))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qlik") as pool:
        futures = [pool.submit(call, arg) for arg in work]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            # After a failure (or Ctrl+C) the calls not yet begun are not made.
            for future in futures:
                future.cancel()
    # Calls start in argument order, so every cancelled one comes after the first failure:
    # result() raises that failure before it reaches them.
    return [future.result() for future in futures]
