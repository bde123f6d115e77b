"""The reload listing read to each app's own horizon, against ``ListingTenant`` (respx)."""

from __future__ import annotations

from datetime import datetime

import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from qlik.client import QlikClient
from qlik.models import Reload
from tests.fake_tenant import app_id
from tests.listing_tenant import ACTIVE, ListingTenant, ago, latest_since, noise, serve

APPS = [app_id(n) for n in range(1, 7)]
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)


# --- examples ----------------------------------------------------------------------------------


def test_each_app_is_read_back_to_its_own_horizon_not_the_oldest() -> None:
    tenant = ListingTenant()
    noise(tenant, 1000, 100)  # 10 reloads a minute
    tenant.add(APPS[0], 3)
    horizons = {APPS[0]: ago(90), APPS[1]: ago(12), APPS[2]: ago(20)}

    latest, active = latest_since(tenant, horizons)

    assert latest == {APPS[0]: "r01000", APPS[1]: None, APPS[2]: None}
    assert active is None
    # 20 minutes of reloads is 200 rows: 3 pages to see one older; APPS[0] found on page 1.
    assert tenant.pages("listing") == 3
    assert tenant.pages("active") == 1  # none of the apps has a reload since its horizon


def test_an_active_reload_older_than_every_horizon_is_still_found() -> None:
    tenant = ListingTenant()
    tenant.add(APPS[1], 300, "QUEUED")  # queued five hours ago: matters for "running"
    tenant.add(APPS[2], 250, "RELOADING")
    noise(tenant, 400, 60)
    for n in range(150):  # active reloads created after the listing stopped: seen there
        tenant.add(app_id(800 + n), 1 + n / 1000, "QUEUED")

    latest, _ = latest_since(tenant, {APPS[1]: ago(10), APPS[2]: ago(10)})

    assert latest == {APPS[1]: "r00000", APPS[2]: "r00001"}
    # 150 queued and 67 finished rows are newer than the horizons: 3 pages; oldest first, the
    # active listing found both apps on its first page and went no further.
    assert (tenant.pages("listing"), tenant.pages("active")) == (3, 1)


def test_the_active_listing_stops_where_the_main_listing_stopped() -> None:
    tenant = ListingTenant()
    noise(tenant, 300, 60)
    for n in range(250):  # many queued reloads, all created after the listing's last row
        tenant.add(app_id(700 + n), n / 100, "QUEUED")

    latest, _ = latest_since(tenant, {APPS[1]: ago(5)})

    assert latest == {APPS[1]: None}
    assert (tenant.pages("listing"), tenant.pages("active")) == (3, 1)


def test_no_active_listing_once_the_main_listing_read_the_whole_tenant() -> None:
    tenant = ListingTenant()
    noise(tenant, 50, 60)

    assert latest_since(tenant, {APPS[1]: ago(600)}) == ({APPS[1]: None}, None)
    assert tenant.asked == ["listing"]


def test_active_reloads_are_counted_in_the_whole_tenant() -> None:
    tenant = ListingTenant()
    for n in range(130):
        tenant.add(app_id(600 + n), 200 - n, "QUEUED")
    tenant.add(APPS[0], 1, "RELOADING")
    noise(tenant, 50, 30)

    latest, active = latest_since(tenant, {APPS[0]: ago(10)}, count_up_to=1000)

    assert (latest, active) == ({APPS[0]: "r00130"}, 131)
    # The listing's one page saw 49 of them; oldest first, one page of the active listing saw
    # the 82 created up to where the listing stopped, and stopped there.
    assert (tenant.pages("listing"), tenant.pages("active")) == (1, 1)


def test_counting_stops_once_the_limit_is_reached() -> None:
    tenant = ListingTenant()
    for n in range(250):
        tenant.add(app_id(600 + n), 300 - n, "QUEUED")

    assert latest_since(tenant, {}, count_up_to=30) == ({}, 100)
    assert tenant.asked == ["active"]


def test_without_apps_or_count_nothing_is_asked() -> None:
    tenant = ListingTenant()
    assert latest_since(tenant, {}) == ({}, None)
    assert tenant.asked == []


def test_no_count_for_an_identity_that_may_not_list_the_tenant(
    router: respx.MockRouter, client: QlikClient
) -> None:
    errors = {"errors": [{"code": "RELOADS-003", "title": "Not permitted"}]}
    router.get("/api/v1/reloads").respond(403, json=errors)

    found = client.latest_reloads_since({}, count_active_up_to=5)

    assert (found.latest, found.active) == ({}, None)
    assert client.tenant_wide_listing is False


# --- properties --------------------------------------------------------------------------------


@st.composite
def tenants(draw: st.DrawFn) -> ListingTenant:
    """Up to 260 reloads over 6 apps and others; only an app's newest reload may be active."""
    tenant = ListingTenant()
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, 12), st.integers(0, 600), st.booleans()),
            max_size=260,
        )
    )
    newest: dict[str, int] = {}
    for index, (who, minutes, _) in enumerate(rows):
        app = APPS[who] if who < len(APPS) else app_id(900 + who)
        if app not in newest or minutes < rows[newest[app]][1]:
            newest[app] = index
    for index, (who, minutes, active) in enumerate(rows):
        app = APPS[who] if who < len(APPS) else app_id(900 + who)
        status = draw(st.sampled_from(ACTIVE)) if active and newest[app] == index else "FAILED"
        tenant.add(app, minutes + index / 10_000, status)
    return tenant


def expected(tenant: ListingTenant, horizons: dict[str, datetime]) -> dict[str, str | None]:
    """Each app's newest reload if created since its horizon or still active, else None."""
    answer: dict[str, str | None] = {}
    for app, since in horizons.items():
        mine = [Reload.model_validate(r) for r in tenant.reloads if r["appId"] == app]
        newest = max(mine, key=lambda r: r.creation_time, default=None)
        keep = newest is not None and (newest.creation_time >= since or newest.is_active)
        answer[app] = newest.id if keep and newest else None
    return answer


@PROPERTY
@given(
    tenants(),
    st.dictionaries(st.sampled_from(APPS), st.integers(0, 700), max_size=6),
    st.none() | st.integers(1, 40),
)
def test_the_listing_answers_as_if_it_had_read_everything(
    tenant: ListingTenant, minutes: dict[str, int], count_up_to: int | None
) -> None:
    horizons = {app: ago(m) for app, m in minutes.items()}

    latest, active = latest_since(tenant, horizons, count_up_to)

    assert latest == expected(tenant, horizons)
    if count_up_to is None:
        assert active is None
    else:
        everyone = sum(1 for r in tenant.reloads if r["status"] in ACTIVE)
        assert active is not None and min(everyone, count_up_to) <= active <= everyone
    if horizons:
        assert tenant.pages("listing") <= pages_needed(tenant, horizons)


def pages_needed(tenant: ListingTenant, horizons: dict[str, datetime]) -> int:
    """The fewest newest-first pages after which every app has a row or is past its horizon."""
    rows = [Reload.model_validate(r) for r in tenant.reloads]
    rows.sort(key=lambda r: (r.creation_time, r.id), reverse=True)
    for pages in range(1, len(rows) // 100 + 2):
        read = rows[: pages * 100]
        apps = {r.app_id for r in read}
        if not read or all(
            app in apps or read[-1].creation_time < h for app, h in horizons.items()
        ):
            return pages
    return len(rows) // 100 + 1


@pytest.mark.parametrize("horizon_minutes", [0, 30, 700])
def test_one_horizon_for_every_app_is_the_old_latest_reloads(horizon_minutes: int) -> None:
    tenant = ListingTenant()
    noise(tenant, 120, 60)
    tenant.add(APPS[0], 20)
    router, client = serve(tenant)
    with router:
        found = client.latest_reloads([APPS[0].upper()], ago(horizon_minutes))
    client.close()
    assert {app: r.id if r else None for app, r in found.items()} == expected(
        tenant, {APPS[0]: ago(horizon_minutes)}
    )
