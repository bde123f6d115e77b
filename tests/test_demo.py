"""``reload-chain demo``: the built-in chain unfolds against the simulator, and is explained."""

from __future__ import annotations

import io

from scheduler.demo import YOUR_TENANT, run_demo
from scheduler.runtime import Runtime
from scheduler.settings import Settings


def test_demo_unfolds_the_finance_chain_and_says_how_to_use_your_tenant() -> None:
    out = io.StringIO()

    assert run_demo(Runtime(Settings()), out, sweep_every_s=0.5, timeout_s=30) == 0

    text = out.getvalue()
    assert "└─ on failure: Data quality alerts" in text
    # Usually both sources finish in one sweep; a sweep may land in the milliseconds between
    # them, and then the second source finds the dashboard running. Either way: started once.
    assert "Finance dashboard  triggered  triggered  General Ledger" in text
    final = text.split("Final state:")[1]
    for name, status, by in [
        ("Finance extract", "SUCCEEDED", "schedule"),
        ("Accounts Payable", "FAILED", "reload-chain"),
        ("Data quality alerts", "SUCCEEDED", "reload-chain"),
        ("Finance dashboard", "SUCCEEDED", "reload-chain"),
    ]:
        assert any(line.split() == [*name.split(), status, by] for line in final.splitlines()), name
    assert "6 reloads started by reload-chain" in text
    assert text.rstrip().endswith(YOUR_TENANT)
