"""Independent calls in flight at once, never more than the setting allows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


def fan_out(
    call: Callable[[ArgT], ResultT], args: Iterable[ArgT], max_concurrency: int
) -> list[ResultT]:
    """``[call(arg) for arg in args]``, with up to ``max_concurrency`` calls at once.

    Results keep the order of ``args``. The first failure is raised once the calls already
    in flight have ended; calls not yet begun are not made.
    """
    work = list(args)
    if max_concurrency <= 1 or len(work) <= 1:
        return [call(arg) for arg in work]
    workers = min(max_concurrency, len(work))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qlik") as pool:
        futures = [pool.submit(call, arg) for arg in work]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
