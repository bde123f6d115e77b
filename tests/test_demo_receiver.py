"""The demo's alert receiver: Apprise's json:// POSTs, recorded and described."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from scheduler.alert_send import AlertMessage, deliver
from scheduler.demo_receiver import AlertReceiver, ReceivedAlert, describe

MESSAGE = AlertMessage(
    kind="reload_failed",
    app_id="a281c98c-fa79-516a-8b66-1d91e2762055",
    app_name="Accounts Payable",
    root_app_id="e4f23495a1103e1db75e91fd",
    root_app_name="Finance extract",
    reason="reload 000000000000000000000004, started by reload-chain, ended in failure",
    app_link=None,
)


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    with AlertReceiver() as started:
        yield started


def test_an_alert_delivered_through_apprise_is_recorded_with_its_kind(
    receiver: AlertReceiver,
) -> None:
    assert receiver.url.startswith("json://127.0.0.1:")
    assert receiver.url.endswith("/alerts")

    result = deliver([receiver.url], MESSAGE, timeout_s=5)

    assert result.ok, result.error
    [alert] = receiver.received
    assert alert == ReceivedAlert("/alerts", MESSAGE.title, MESSAGE.body)
    assert alert.kind == "reload_failed"


def test_take_new_hands_out_each_alert_once(receiver: AlertReceiver) -> None:
    assert receiver.take_new() == []
    assert deliver([receiver.url], MESSAGE, timeout_s=5).ok

    assert [alert.title for alert in receiver.take_new()] == [MESSAGE.title]
    assert receiver.take_new() == []
    assert len(receiver.received) == 1


def test_a_post_that_is_not_an_alert_is_refused_and_not_recorded(
    receiver: AlertReceiver,
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/alerts", data=b"[1, 2]")

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)

    assert refused.value.code == 400
    assert receiver.received == ()


def test_describe_prints_the_title_then_the_message_indented() -> None:
    alert = ReceivedAlert("/alerts", MESSAGE.title, "Reload failed.\nApp: Accounts Payable (x)")

    assert describe(alert) == (
        "alert received: reload-chain: Reload failed: Accounts Payable\n"
        "    Reload failed.\n"
        "    App: Accounts Payable (x)"
    )


def test_a_title_without_a_known_label_has_no_kind() -> None:
    assert ReceivedAlert("/alerts", "something else", "").kind is None
    assert (
        ReceivedAlert("/x", "reload-chain: Deadline missed: Finance dashboard", "").kind == "late"
    )
