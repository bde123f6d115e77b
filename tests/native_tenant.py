"""A fake tenant mixing chain tags and native tasks, for the tests of ``graph``, the report's
graph and ``doctor``: one hop declared both ways, one native task disabled, one waiting on a
task that no longer exists."""

from __future__ import annotations

from dataclasses import dataclass

from tests.fake_tenant import FakeTenant
from tests.native_rows import task_json

DISABLED = "CONSECUTIVE-FAILURES"


@dataclass(frozen=True)
class Mixed:
    """App 1 -> App 2 by a tag and by task t-b; App 2 -> App 3 by t-c (disabled); App 3 ->
    App 4 by t-d, whose upstream task t-gone is not listed; t-a is App 1's scheduled task."""

    one: str
    two: str
    three: str
    four: str


def mixed(tenant: FakeTenant) -> Mixed:
    """Add the apps and tasks to ``tenant``."""
    two, three, four = tenant.add_app(2), tenant.add_app(3), tenant.add_app(4)
    one = tenant.add_app(1, tags=[f"next-{two}"])
    tenant.tasks += [
        task_json("t-a", one),
        task_json("t-b", two, after="t-a", after_app=one),
        task_json("t-c", three, after="t-b", after_app=two, enabled=False, disabled_code=DISABLED),
        task_json("t-d", four, after="t-gone", after_app=three),
    ]
    return Mixed(one, two, three, four)
