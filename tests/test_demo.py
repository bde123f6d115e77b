"""``reload-chain demo``: the built-in chain unfolds against the simulator, and is explained."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from scheduler.demo import YOUR_TENANT, demo_alerts, run_demo
from scheduler.demo_receiver import AlertReceiver
from scheduler.runtime import Runtime
from scheduler.settings import Settings

TIMELINE = "The chain run, as `reload-chain runs` shows it:"


@pytest.fixture(scope="module")
def report_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo") / "report.html"


@pytest.fixture(scope="module")
def demo(report_path: Path) -> tuple[str, AlertReceiver]:
    """One run of the demo (it takes seconds): its output, and the receiver of its alerts."""
    out = io.StringIO()
    with AlertReceiver() as receiver:
        code = run_demo(
            Runtime(Settings()),
            out,
            sweep_every_s=0.5,
            timeout_s=30,
            receiver=receiver,
            report_path=report_path,
        )
    assert code == 0, out.getvalue()
    return out.getvalue(), receiver


def test_the_demo_writes_the_html_report_and_prints_its_path(
    demo: tuple[str, AlertReceiver], report_path: Path
) -> None:
    text, _ = demo
    assert f"The HTML report (reload-chain report --html): {report_path.resolve()}" in text
    page = report_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    for name in ("Finance extract", "Accounts Payable", "Data quality alerts"):
        assert name in page


def test_demo_unfolds_the_finance_chain_and_says_how_to_use_your_tenant(
    demo: tuple[str, AlertReceiver],
) -> None:
    text, _ = demo

    assert "└─ on failure: Data quality alerts" in text
    # Usually both sources finish in one sweep; a sweep may land in the milliseconds between
    # them, and then the second source finds the dashboard running. Either way: started once.
    assert "Finance dashboard  triggered  triggered  General Ledger" in text
    final = text.split("Final state:")[1].split(TIMELINE)[0]
    for name, status, by in [
        ("Finance extract", "SUCCEEDED", "schedule"),
        ("Finance transform", "SUCCEEDED", "native task"),
        ("Accounts Payable", "FAILED", "reload-chain"),
        ("Data quality alerts", "SUCCEEDED", "reload-chain"),
        ("Finance dashboard", "SUCCEEDED", "reload-chain"),
    ]:
        assert any(
            line.split() == [*name.split(), status, *by.split()] for line in final.splitlines()
        ), name
    assert "5 reloads started by reload-chain" in text
    assert text.rstrip().endswith(YOUR_TENANT)


def test_the_demo_shows_the_hop_qlik_runs_and_the_native_task_qlik_stopped(
    demo: tuple[str, AlertReceiver],
) -> None:
    text, receiver = demo

    native = "[also native task Finance transform after extract]"
    assert f"├─ Finance transform (script)  {native}" in text
    assert "disabled: CONSECUTIVE-FAILURES]" in text
    assert "Finance transform  skipped   native_task  Finance extract" in text
    (stopped,) = [alert for alert in receiver.received if alert.kind == "native_task_disabled"]
    assert stopped.title == "reload-chain: Native task stopped: Accounts Receivable"
    assert "is disabled: CONSECUTIVE-FAILURES" in stopped.message


def test_the_failing_branch_is_one_reload_failed_alert_delivered_to_the_receiver(
    demo: tuple[str, AlertReceiver],
) -> None:
    text, receiver = demo

    kinds = [alert.kind for alert in receiver.received]
    assert sorted(kinds) == ["native_task_disabled", "reload_failed"]
    assert [alert.path for alert in receiver.received] == ["/alerts", "/alerts"]
    # Each printed once, after the sweep that raised it, before the final state.
    assert text.count("alert received: ") == 2
    assert text.count("alert received: reload-chain: Reload failed") == 1
    printed = text.split("alert received: reload-chain: Reload failed")[1]
    printed = "reload-chain: Reload failed" + printed.split("Final state:")[0]
    lines = [line.strip() for line in printed.splitlines()]
    assert lines[0] == "reload-chain: Reload failed: Accounts Payable"
    assert lines[1] == "Reload failed."
    assert lines[2].startswith("App: Accounts Payable (")
    assert lines[3].startswith("Chain root: Finance transform (")
    assert "started by reload-chain, ended in failure" in lines[4]
    assert lines[5].startswith("Open the app: http://127.0.0.1:")
    assert "2 alerts delivered." in text


def test_the_demo_ends_with_the_chain_runs_timeline(demo: tuple[str, AlertReceiver]) -> None:
    text, _ = demo

    timeline = text.split(TIMELINE)[1].split("\n\n")[1]
    lines = timeline.splitlines()
    assert lines[0].startswith("failed ")  # the run failed: Accounts Payable did
    # Qlik's native task reloaded the transform: the run of what reload-chain started is its.
    assert lines[1].startswith("root Finance transform (") and " succeeded at " in lines[1]
    for name, status in [
        ("General Ledger", "succeeded"),
        ("Accounts Payable", "failed"),
        ("Accounts Receivable", "succeeded"),
        ("Data quality alerts", "succeeded"),
        ("Finance dashboard", "succeeded"),
    ]:
        words = len(name.split())
        rows = [line.split() for line in lines if line.startswith(name + " (")]
        assert [row[words + 1] for row in rows] == [status], name
    # The readable table, not the JSON `runs` prints to a pipe; then only the closing lines.
    assert "{" not in timeline
    assert text.index(TIMELINE) > text.index("Final state:")
    closing = text.split(TIMELINE)[1].split("\n\n")[2]
    assert re.match(r"\d+ sweeps, 5 reloads started by reload-chain, ", closing)
    assert closing.rstrip().endswith(YOUR_TENANT)


def test_the_demo_alert_table_is_read_as_the_settings_file_reads_it() -> None:
    text, (route,) = demo_alerts("json://127.0.0.1:8123/alerts")

    assert text.startswith("[[alert]]\n")
    assert route.urls == ("json://127.0.0.1:8123/alerts",)
    assert route.kinds == {"reload_failed", "start_failed", "not_found", "native_task_disabled"}
    assert route.origin == "the demo's [[alert]] table:1"
