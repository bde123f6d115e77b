"""The command-line contract of SPEC section 5, written once for the tests that check it."""

from __future__ import annotations

# `reload-chain sweep --json`: the top-level keys, in this order.
SWEEP_JSON_KEYS = (
    "sweep_id",
    "dry_run",
    "window",
    "events",
    "sources",
    "decisions",
    "api_calls",
    "duration_s",
)
