"""``reload-chain schedule-task``: a Windows Task Scheduler definition (being written)."""

from __future__ import annotations

import argparse
from typing import TextIO


def write_task(args: argparse.Namespace, out: TextIO) -> int:
    """Write the task XML and print the ``schtasks`` line that registers it."""
    raise NotImplementedError("schedule-task is being built")
