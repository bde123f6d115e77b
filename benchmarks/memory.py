"""Memory figures of the benchmark's sweep process, as the operating system counts them."""

from __future__ import annotations

import sys
from pathlib import Path


def proc_status_bytes(field: str) -> int | None:
    """A ``/proc/self/status`` memory field (``VmHWM``, ``VmRSS``) in bytes; None off Linux."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text(encoding="ascii", errors="replace").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return None


def max_rss_bytes() -> int | None:
    """This process's peak resident set size (None where neither source exists).

    On Linux, ``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` would also count the parent's
    memory at the fork that spawned this process (it survives the exec), and the parent
    holds the whole benchmark scenario.
    """
    peak_here = proc_status_bytes("VmHWM")
    if peak_here is not None:
        return peak_here
    if sys.platform == "win32":
        return None
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024
