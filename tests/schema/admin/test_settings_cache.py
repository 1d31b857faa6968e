"""Effective settings through the per-tenant cache: a hit never answers another tenant, a
change in a tenant drops only that tenant's entries, and a transaction that changed a tenant
never reads an entry from before its own write. Both backends (Redis when reachable)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.cache import Cache, MemoryCache, RedisCache
from app.context import Role, TenantContext
from repositories.session import apply_context
from repositories.settings import SettingsRepository
from tests.helpers import DemoData, Session, gql, login
from tests.schema.admin.conftest import counting_statements

BOOKING = "query { settings { booking { minNoticeHours maxAdvanceDays customized } } }"
UPDATE = """
mutation($input: BookingSettingsInput!) {
  updateBookingSettings(input: $input) { minNoticeHours }
}
"""


async def booking(client: httpx.AsyncClient, session: Session) -> dict:  # type: ignore[type-arg]
    body = (await gql(client, BOOKING, session=session)).json()
    assert "errors" not in body, body
    return body["data"]["settings"]["booking"]  # type: ignore[no-any-return]


def reads_settings(statements: list[str]) -> bool:
    return any("booking_settings" in statement for statement in statements)


async def settings_keys(cache: Cache) -> list[str]:
    if isinstance(cache, MemoryCache):
        keys = cache.keys()
    else:
        assert isinstance(cache, RedisCache)
        keys = [key.decode() async for key in cache._redis.scan_iter(match=f"{cache.prefix}t:*")]
    return [key for key in keys if ":settings.v1:" in key]


async def test_a_second_read_comes_from_the_tenants_entry(
    cached_client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    demo: DemoData,
    any_cache: Cache,
) -> None:
    alice = await login(cached_client, "alice@acme.test")
    with counting_statements(runtime_conn) as cold:
        first = await booking(cached_client, alice)
    with counting_statements(runtime_conn) as warm:
        assert await booking(cached_client, alice) == first
    assert reads_settings(cold)
    assert not reads_settings(warm)
    keys = await settings_keys(any_cache)
    assert keys
    assert all(f"t:{demo.tenants['acme']}:" in key for key in keys)


async def test_identical_reads_of_two_tenants_never_share_an_entry(
    cached_client: httpx.AsyncClient, demo: DemoData, any_cache: Cache
) -> None:
    # acme reads the platform defaults, globex has its own booking row
    alice = await login(cached_client, "alice@acme.test")
    bob = await login(cached_client, "bob@globex.test", host="globex.localhost")
    acme, globex = await booking(cached_client, alice), await booking(cached_client, bob)
    assert acme != globex
    assert globex["customized"]
    assert not acme["customized"]
    # from the cache, each still gets its own
    assert await booking(cached_client, alice) == acme
    assert await booking(cached_client, bob) == globex
    keys = await settings_keys(any_cache)
    for slug in ("acme", "globex"):
        assert len([k for k in keys if f"t:{demo.tenants[slug]}:" in k]) == 1


async def test_a_change_in_b_refreshes_b_and_never_moves_a(
    cached_client: httpx.AsyncClient, runtime_conn: AsyncConnection, any_cache: Cache
) -> None:
    alice = await login(cached_client, "alice@acme.test")
    bob = await login(cached_client, "bob@globex.test", host="globex.localhost")
    acme_before = await booking(cached_client, alice)
    globex_before = await booking(cached_client, bob)
    # when globex's admin changes its notice period
    wanted = globex_before["minNoticeHours"] + 7
    body = (
        await gql(cached_client, UPDATE, {"input": {"minNoticeHours": wanted}}, session=bob)
    ).json()
    assert body == {"data": {"updateBookingSettings": {"minNoticeHours": wanted}}}
    # then globex reads the new value at once (its entry is gone)...
    with counting_statements(runtime_conn) as statements:
        assert (await booking(cached_client, bob))["minNoticeHours"] == wanted
    assert reads_settings(statements)
    # ...and acme's answer neither moves nor leaves the cache
    with counting_statements(runtime_conn) as statements:
        assert await booking(cached_client, alice) == acme_before
    assert not reads_settings(statements)


async def test_a_transaction_that_changed_the_tenant_reads_its_own_write(
    runtime_conn: AsyncConnection, demo: DemoData, any_cache: Cache
) -> None:
    # given acme's booking section cached by an earlier request
    ctx = TenantContext(
        request_id="test",
        tenant_id=demo.tenants["acme"],
        user_id=demo.users["alice@acme.test"],
        role=Role.ADMIN,
    )
    async with AsyncSession(bind=runtime_conn, join_transaction_mode="create_savepoint") as s:
        await apply_context(s, ctx)
        before = await SettingsRepository(s, ctx, cache=any_cache).get(section="booking")
    # when a later transaction changes it and reads it again before committing
    async with AsyncSession(bind=runtime_conn, join_transaction_mode="create_savepoint") as s:
        await apply_context(s, ctx)
        repo = SettingsRepository(s, ctx, cache=any_cache)
        assert (await repo.get(section="booking")).values == before.values  # a hit
        await repo.update(section="booking", changes={"min_notice_hours": 500})
        # then it sees its own write, not the entry from before it
        after = await repo.get(section="booking")
    assert after.values["min_notice_hours"] == 500
    assert before.values["min_notice_hours"] != 500
