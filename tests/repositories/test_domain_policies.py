"""Row-level security of the domain tables (revision 0002), as the runtime role with raw SQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from repositories.models import SETTINGS_TABLES
from tests.helpers import DemoData

BIND = text(
    "SELECT set_config('app.current_tenant_id', :t, true), set_config('app.current_user_id', :u, true),"
    " set_config('app.public_tenant_id', :p, true)"
)


async def bind(
    conn: AsyncConnection, tenant: object = "", user: object = "", public: object = ""
) -> None:
    await conn.execute(BIND, {"t": str(tenant or ""), "u": str(user or ""), "p": str(public or "")})


async def refused(
    conn: AsyncConnection, sql: str, params: dict | None = None, match: str = ""
) -> None:
    nested = await conn.begin_nested()
    with pytest.raises(DBAPIError, match=match):
        await conn.execute(text(sql), params or {})
    await nested.rollback()


@pytest.mark.parametrize("table", SETTINGS_TABLES)
async def test_settings_singletons(
    runtime_conn: AsyncConnection, demo: DemoData, table: str
) -> None:
    # initech has no settings rows of its own in the demo data; acme and globex have some
    own, other = demo.tenants["initech"], demo.tenants["globex"]
    await bind(runtime_conn, own)
    # the global default is readable; initech may add its own row, once
    assert [
        r.tenant_id for r in await runtime_conn.execute(text(f"SELECT tenant_id FROM {table}"))
    ] == [None]
    await runtime_conn.execute(text(f"INSERT INTO {table} (tenant_id) VALUES (:t)"), {"t": own})
    await refused(runtime_conn, f"INSERT INTO {table} (tenant_id) VALUES (:t)", {"t": own}, "uq_")
    # nobody but the owner writes the global row or another tenant's row
    await refused(
        runtime_conn, f"INSERT INTO {table} (tenant_id) VALUES (NULL)", match="row-level security"
    )
    await refused(
        runtime_conn,
        f"INSERT INTO {table} (tenant_id) VALUES (:t)",
        {"t": other},
        "row-level security",
    )
    changed = await runtime_conn.execute(
        text(f"UPDATE {table} SET updated_at = now() WHERE tenant_id IS NULL")
    )
    assert changed.rowcount == 0
    # globex sees the global row and at most its own, never initech's
    await bind(runtime_conn, other)
    rows = [r.tenant_id for r in await runtime_conn.execute(text(f"SELECT tenant_id FROM {table}"))]
    assert None in rows
    assert set(rows) <= {None, other}
    deleted = await runtime_conn.execute(
        text(f"DELETE FROM {table} WHERE tenant_id = :t"), {"t": own}
    )
    assert deleted.rowcount == 0
    await bind(runtime_conn, own)
    assert sorted(
        str(r.tenant_id) for r in await runtime_conn.execute(text(f"SELECT tenant_id FROM {table}"))
    ) == sorted([str(own), "None"])


async def test_own_membership_elsewhere_is_readable_but_not_writable(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    alice = demo.users["alice@acme.test"]
    await bind(runtime_conn, acme, alice)
    mine = {
        r.tenant_id
        for r in await runtime_conn.execute(
            text("SELECT tenant_id FROM tenant_memberships WHERE user_id = :u"), {"u": alice}
        )
    }
    assert mine == {acme, globex}
    for statement in (
        "DELETE FROM tenant_memberships WHERE tenant_id = :g AND user_id = :u",
        "UPDATE tenant_memberships SET role = 'ADMIN' WHERE tenant_id = :g AND user_id = :u",
    ):
        result = await runtime_conn.execute(text(statement), {"g": globex, "u": alice})
        assert result.rowcount == 0
    await bind(runtime_conn, globex, alice)
    role = await runtime_conn.scalar(
        text("SELECT role FROM tenant_memberships WHERE tenant_id = :g AND user_id = :u"),
        {"g": globex, "u": alice},
    )
    assert role == "STAFF"


async def test_public_path_reads_only_the_hosts_catalogue(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    await bind(runtime_conn, public=acme)
    services = {
        r.tenant_id for r in await runtime_conn.execute(text("SELECT tenant_id FROM services"))
    }
    assert services == {acme}
    count = await runtime_conn.scalar(text("SELECT count(*) FROM services"))
    assert count == 5  # acme's five; globex has three, initech two
    for table in (
        "tasks",
        "bookings",
        "service_requests",
        "tenant_memberships",
        "users",
        "audit_logs",
    ):
        assert await runtime_conn.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table
    # an anonymous submission into the host's tenant, with contact details only
    await runtime_conn.execute(
        text(
            "INSERT INTO service_requests (tenant_id, contact_email, description) "
            "VALUES (:t, 'visitor@example.org', 'Need help with payroll')"
        ),
        {"t": acme},
    )
    await refused(
        runtime_conn,
        "INSERT INTO service_requests (tenant_id, contact_email, description) VALUES (:t, 'v@example.org', 'x')",
        {"t": globex},
        "row-level security",
    )
    await refused(
        runtime_conn,
        "INSERT INTO service_requests (tenant_id, client_id, contact_email, description) "
        "VALUES (:t, :c, 'v@example.org', 'x')",
        {"t": acme, "c": demo.users["carol@acme.test"]},
        "row-level security",
    )
    # and what it submitted is not readable back through the public path
    assert await runtime_conn.scalar(text("SELECT count(*) FROM service_requests")) == 0


async def test_public_path_audits_only_its_own_submission(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    await bind(runtime_conn, public=acme)
    insert = "INSERT INTO audit_logs (tenant_id, actor_id, action, target_type) VALUES (:t, :a, :action, 'service_request')"
    await runtime_conn.execute(
        text(insert), {"t": acme, "a": None, "action": "service_request.submit_public"}
    )
    for params in (
        {"t": globex, "a": None, "action": "service_request.submit_public"},  # another tenant
        {
            "t": acme,
            "a": demo.users["alice@acme.test"],
            "action": "service_request.submit_public",
        },  # an actor
        {"t": acme, "a": None, "action": "task.delete"},  # another action
    ):
        await refused(runtime_conn, insert, params, "row-level security")
    assert await runtime_conn.scalar(text("SELECT count(*) FROM audit_logs")) == 0  # reads nothing


async def test_racing_overlapping_bookings_one_wins(
    runtime_engine: AsyncEngine, owner_engine: AsyncEngine, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    params = {
        "t": acme,
        "staff": demo.users["alice@acme.test"],
        "client": demo.users["carol@acme.test"],
    }
    insert = text(
        "INSERT INTO bookings (tenant_id, service_id, client_id, staff_id, starts_at, ends_at) "
        "SELECT :t, id, :client, :staff, '2031-01-06 10:00+00', '2031-01-06 11:00+00' "
        "FROM services WHERE tenant_id = :t AND slug = 'consultation'"
    )

    async def book(conn: AsyncConnection) -> None:
        await bind(conn, acme, demo.users["alice@acme.test"])
        await conn.execute(insert, params)

    first = await runtime_engine.connect()
    second = await runtime_engine.connect()
    try:
        winner = await first.begin()
        await book(first)
        loser = await second.begin()
        racing = asyncio.create_task(book(second))
        await asyncio.sleep(0.3)
        assert not racing.done()  # waits on the (tenant, staff) lock of the first transaction
        await winner.commit()
        with pytest.raises(IntegrityError, match="already has an open booking") as refused:
            await racing
        assert refused.value.orig.__cause__.constraint_name == "ex_bookings_staff_overlap"  # type: ignore[union-attr]
        await loser.rollback()
    finally:
        await first.close()
        await second.close()
        async with owner_engine.begin() as owner:
            deleted = await owner.execute(
                text(
                    "DELETE FROM bookings WHERE tenant_id = :t AND starts_at = '2031-01-06 10:00+00'"
                ),
                {"t": acme},
            )
    assert deleted.rowcount == 1  # exactly one of the two was stored


async def test_public_path_hides_slots_of_withdrawn_services(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    await bind(runtime_conn, acme, demo.users["alice@acme.test"])
    inserted = await runtime_conn.execute(
        text(
            "INSERT INTO availability_slots (tenant_id, staff_id, service_id, starts_at, ends_at) "
            "SELECT :t, :s, id, now() + interval '3 days', now() + interval '3 days 1 hour' "
            "FROM services WHERE tenant_id = :t AND NOT active RETURNING id"
        ),
        {"t": acme, "s": demo.users["alice@acme.test"]},
    )
    withdrawn = [row.id for row in inserted]
    staff_view = await runtime_conn.scalar(
        text(
            "SELECT count(*) FROM availability_slots a JOIN services s "
            "ON s.tenant_id = a.tenant_id AND s.id = a.service_id WHERE NOT s.active"
        )
    )
    assert staff_view == len(withdrawn) == 1
    await bind(runtime_conn, public=acme)
    # the slot of the withdrawn service, by id (a demo slot of an active service may well start
    # at about the same time of day)
    visible = await runtime_conn.scalar(
        text("SELECT count(*) FROM availability_slots WHERE id = ANY(:ids)"), {"ids": withdrawn}
    )
    assert visible == 0
    assert await runtime_conn.scalar(text("SELECT count(*) FROM availability_slots")) > 0
