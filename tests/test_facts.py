"""``gather_facts`` and ``start``'s ``gather`` fetch what ``jobs.needs`` says, and no more.

Against respx at the transport: the fake tenant for items, spaces and finished reloads, or
``tests.listing_tenant.ListingTenant`` where the listings' order matters (oldest first).
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import respx
from pydantic import SecretStr

from jobs.facts import Known, gather_facts
from jobs.start import Selection, gather
from jobs.sweep import SweepContext
from qlik.client import QlikClient, connect
from qlik.events import FinishedReload
from qlik.models import Item
from qlik.times import format_time
from scheduler.settings import Settings
from state.database import open_database
from state.store import Store
from tests.fake_tenant import TENANT, FakeTenant, app_id
from tests.listing_tenant import NOW, ListingTenant, ago, noise

S1, S2, T1, T2, T3 = (app_id(n) for n in (1, 2, 11, 12, 13))
RELOADS = "GET /api/v1/reloads"


def run(app: str, minutes_ago: float, reload_id: str) -> FinishedReload:
    ended = ago(minutes_ago)
    return FinishedReload(f"ev-{reload_id}", ended, app, reload_id, "success", ended)


def busy_tenant(tenant: FakeTenant) -> None:
    """S1 names T1 and S2 names T2; 1,000 reloads of other apps over the last two hours."""
    tenant.add_app(1, tags=[f"next-{T1}"])
    tenant.add_app(2, tags=[f"next-{T2}"])
    tenant.add_app(11)
    tenant.add_app(12)
    for n in range(1000):
        tenant.finish(app_id(500 + n % 10), at=ago(120 * (n + 0.5) / 1000))


def test_the_listing_stops_at_each_successors_horizon_not_at_the_oldest_source_end(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    busy_tenant(tenant)
    # S1 also finished 80 minutes ago: the old horizon read back that far for every successor.
    runs = [run(S1, 80, "r1"), run(S1, 3, "r2"), run(S2, 5, "r3")]

    facts = gather_facts(ctx.client, ctx.store, runs, ctx.settings, NOW)

    assert facts.latest_reloads == {T1: None, T2: None}
    assert facts.active_reloads is None
    # Both horizons are now - 10 minutes (tolerance): 83 reloads, one page; then one listing of
    # the active reloads created before it stopped (none). Back to 80 minutes: 7 pages + 1.
    assert ctx.client.calls[RELOADS] == 2
    assert (
        sum(1 for r in tenant.reloads if r["creationTime"] >= format_time(ago(80))) // 100 + 1 == 7
    )


def test_not_found_unsettled_and_cycled_successors_cost_no_reload_lookup(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    tenant.add_app(1, tags=[f"next-{T1}", f"next-{S1}", f"next-{app_id(99)}"])
    tenant.add_app(11)
    runs = [run(S1, 20, "r1")]

    facts = gather_facts(
        ctx.client, ctx.store, runs, ctx.settings, NOW, known=Known(frozenset({T1}))
    )

    assert facts.latest_reloads == {}
    assert ctx.client.calls == {"GET /api/v1/items": 2}  # the source, then the successors


def test_spaces_are_asked_only_with_only_managed_spaces(tenant: FakeTenant) -> None:
    tenant.add_app(1, tags=[f"next-{T1}", f"next-{T2}"])
    tenant.add_app(11, space_id="sp-m")
    tenant.add_app(12, space_id="sp-s")
    tenant.spaces |= {"sp-m": "managed", "sp-s": "shared"}
    for managed, spaces in ((False, 0), (True, 2)):
        settings = Settings(tenant_url=TENANT, api_key="k", only_managed_spaces=managed)
        client = connect(TENANT, SecretStr("k"), sender_options={"sleep": lambda _s: None})
        facts = gather_facts(
            client, Store(open_database(":memory:")), [run(S1, 20, "r1")], settings, NOW
        )
        assert client.calls.get("GET /api/v1/spaces/{spaceId}", 0) == spaces
        # Only the successor in a managed space is looked up in the reloads.
        assert set(facts.latest_reloads) == ({T1} if managed else {T1, T2})
        client.close()


def test_no_count_and_no_extra_call_without_max_active_reloads(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    tenant.add_app(1, tags=[f"next-{T1}"])
    tenant.add_app(11)
    tenant.finish(T1, at=ago(1))  # T1's own recent reload settles it on the first page

    facts = gather_facts(ctx.client, ctx.store, [run(S1, 20, "r1")], ctx.settings, NOW)

    assert facts.active_reloads is None
    assert ctx.client.calls[RELOADS] == 1


# --- max_active_reloads, against a tenant that lists oldest first when asked ------------------


def items_route(router: respx.MockRouter, apps: dict[str, list[str]]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        wanted = request.url.params["resourceIds"].split(",")
        rows = [item_row(app, apps[app]) for app in wanted if app in apps]
        return httpx.Response(200, json={"data": rows, "links": {}})

    router.get("/api/v1/items").mock(side_effect=answer)


def item_row(app: str, tags: list[str]) -> dict[str, object]:
    meta = {"tags": [{"id": f"tag-{t}", "name": t} for t in tags], "collections": []}
    return {
        "id": f"item-{app}",
        "name": app,
        "resourceId": app,
        "resourceType": "app",
        "meta": meta,
    }


def counting_tenant() -> ListingTenant:
    """12 queued reloads from hours ago, 2 running now, 300 finished over the last hour."""
    listing = ListingTenant()
    for n in range(12):
        listing.add(app_id(700 + n), 300 - n, "QUEUED")
    noise(listing, 300, 60)
    listing.add(app_id(800), 1, "RELOADING")
    listing.add(T3, 2, "RELOADING")
    return listing


def test_the_active_reloads_of_the_whole_tenant_are_counted(
    router: respx.MockRouter, client: QlikClient
) -> None:
    listing = counting_tenant()
    items_route(router, {S1: [f"next-{T1}", f"next-{T3}"], T1: [], T3: []})
    router.get("/api/v1/reloads").mock(side_effect=listing.answer)
    settings = Settings(tenant_url=TENANT, api_key="k", max_active_reloads=20)

    facts = gather_facts(
        client, Store(open_database(":memory:")), [run(S1, 30, "r1")], settings, NOW
    )

    assert facts.active_reloads == 14
    assert facts.latest_reloads[T1] is None
    running = facts.latest_reloads[T3]
    assert running is not None and running.is_active
    # T1's horizon is 32 minutes ago: 2 pages; the active listing, oldest first, counted the
    # 12 old ones on one page and stopped where the listing did (it had seen the 2 recent).
    assert (listing.pages("listing"), listing.pages("active")) == (2, 1)


def test_start_gathers_through_the_same_needs_and_counts_too(
    router: respx.MockRouter, client: QlikClient
) -> None:
    listing = counting_tenant()
    router.get("/api/v1/reloads").mock(side_effect=listing.answer)
    settings = Settings(tenant_url=TENANT, api_key="k", max_active_reloads=20)
    selection = Selection(
        {T1: Item.model_validate(item_row(T1, [])), T2: Item.model_validate(item_row(T2, []))},
        [],
    )

    facts = gather(client, selection, settings, NOW, unsettled=frozenset({T2}))

    assert facts.active_reloads == 14
    assert facts.latest_reloads == {T1: None}  # T2 is unsettled: its history is not read
    assert (listing.pages("listing"), listing.pages("active")) == (1, 1)
    assert client.calls == {RELOADS: 2}


def test_a_start_without_the_limit_asks_for_the_tolerance_window_only(
    router: respx.MockRouter, client: QlikClient
) -> None:
    listing = counting_tenant()
    router.get("/api/v1/reloads").mock(side_effect=listing.answer)
    settings = Settings(tenant_url=TENANT, api_key="k")
    selection = Selection({T3: Item.model_validate(item_row(T3, []))}, [])

    facts = gather(client, selection, settings, NOW + timedelta(minutes=1))

    assert facts.active_reloads is None
    running = facts.latest_reloads[T3]
    assert running is not None and running.status == "RELOADING"
    assert listing.asked == ["listing"]
