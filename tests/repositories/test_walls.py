"""Each isolation wall proven on its own, with the other walls out of the way."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.context import Role, TenantContext
from app.errors import NotFound, TenantMismatch
from repositories.models import TENANT_OWNED_TABLES, Task
from repositories.session import apply_context
from repositories.tasks import TaskRepository
from tests.helpers import DemoData

SET_TENANT = text("SELECT set_config('app.current_tenant_id', :t, true)")


def ctx_for(demo: DemoData, slug: str, email: str, role: Role = Role.ADMIN) -> TenantContext:
    return TenantContext(
        request_id="test", tenant_id=demo.tenants[slug], user_id=demo.users[email], role=role
    )


# --- wall 2: the repository, on a connection that bypasses RLS ------------------------------------


async def test_owner_connection_bypasses_rls_so_the_repository_is_alone(
    owner_conn: AsyncConnection, demo: DemoData
) -> None:
    # Given the owner connection, which row-level security does not restrict
    seen = {
        r.tenant_id for r in await owner_conn.execute(text("SELECT DISTINCT tenant_id FROM tasks"))
    }
    # Then it sees every demo tenant (and any a test made): the scoping that follows is the
    # repository's doing
    assert set(demo.tenants.values()) <= seen


async def test_repository_reads_only_the_context_tenant(
    owner_conn: AsyncConnection, demo: DemoData
) -> None:
    session = AsyncSession(bind=owner_conn, join_transaction_mode="create_savepoint")
    repo = TaskRepository(session, ctx_for(demo, "acme", "alice@acme.test"))

    page = await repo.list(first=100)

    ids = {row.id for row in page.rows}
    assert ids == demo.tasks["acme"]
    assert not ids & demo.tasks["globex"]
    assert not ids & demo.tasks["initech"]
    assert await repo.count() == len(demo.tasks["acme"]) == 37
    # another tenant's task is simply not there
    assert await repo.get(id=next(iter(demo.tasks["globex"]))) is None


async def test_repository_refuses_cross_tenant_update_and_delete(
    owner_conn: AsyncConnection, demo: DemoData
) -> None:
    session = AsyncSession(bind=owner_conn, join_transaction_mode="create_savepoint")
    repo = TaskRepository(session, ctx_for(demo, "acme", "alice@acme.test"))
    victim = sorted(demo.tasks["globex"])[0]
    before = (
        await owner_conn.execute(text("SELECT title FROM tasks WHERE id = :i"), {"i": victim})
    ).scalar()

    with pytest.raises(NotFound):
        await repo.update(id=victim, changes={"title": "hijacked"})
    with pytest.raises(NotFound):
        await repo.delete(id=victim)

    after = (
        await owner_conn.execute(text("SELECT title FROM tasks WHERE id = :i"), {"i": victim})
    ).scalar()
    assert after == before != "hijacked"
    # and the acme task of the same shape is editable, so the refusal is about the tenant
    own = sorted(demo.tasks["acme"])[0]
    updated = await repo.update(id=own, changes={"title": "renamed"})
    assert updated.title == "renamed"


async def test_flush_guard_refuses_a_row_of_another_tenant(
    owner_conn: AsyncConnection, demo: DemoData
) -> None:
    session = AsyncSession(bind=owner_conn, join_transaction_mode="create_savepoint")
    await apply_context(session, ctx_for(demo, "acme", "alice@acme.test"))
    session.add(Task(tenant_id=demo.tenants["globex"], id=uuid.uuid4(), title="smuggled"))

    with pytest.raises(TenantMismatch):
        await session.flush()

    await session.rollback()
    found = await owner_conn.scalar(text("SELECT count(*) FROM tasks WHERE title = 'smuggled'"))
    assert found == 0


async def test_flush_guard_stamps_new_rows_with_the_context_tenant(
    owner_conn: AsyncConnection, demo: DemoData
) -> None:
    session = AsyncSession(bind=owner_conn, join_transaction_mode="create_savepoint")
    await apply_context(session, ctx_for(demo, "initech", "dave@initech.test"))
    task = Task(id=uuid.uuid4(), title="stamped")
    session.add(task)
    await session.flush()

    tenant = await owner_conn.scalar(
        text("SELECT tenant_id FROM tasks WHERE id = :i"), {"i": task.id}
    )
    assert tenant == demo.tenants["initech"] != demo.tenants["acme"]


# --- wall 3: row-level security, raw SQL as the runtime role -----------------------------------


@pytest.mark.parametrize(("slug", "expected"), [("acme", 37), ("globex", 23), ("initech", 11)])
async def test_rls_shows_only_the_current_tenant(
    runtime_conn: AsyncConnection, demo: DemoData, slug: str, expected: int
) -> None:
    await runtime_conn.execute(SET_TENANT, {"t": str(demo.tenants[slug])})

    rows = (await runtime_conn.execute(text("SELECT tenant_id, id FROM tasks"))).all()

    assert len(rows) == expected
    assert {r.tenant_id for r in rows} == {demo.tenants[slug]}
    others = set().union(*(ids for s, ids in demo.tasks.items() if s != slug))
    assert not {r.id for r in rows} & others


async def test_rls_shows_nothing_without_a_tenant(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    for table in (*TENANT_OWNED_TABLES, "tenant_domains", "tenants", "users"):
        count = await runtime_conn.scalar(text(f"SELECT count(*) FROM {table}"))
        assert count == 0, table
    # a setting reset to '' (what a pooled connection carries after the transaction) is the same
    await runtime_conn.execute(SET_TENANT, {"t": str(demo.tenants["acme"])})
    assert await runtime_conn.scalar(text("SELECT count(*) FROM tasks")) == 37
    await runtime_conn.execute(SET_TENANT, {"t": ""})
    assert await runtime_conn.scalar(text("SELECT count(*) FROM tasks")) == 0


async def test_rls_settings_do_not_outlive_the_transaction(
    runtime_engine: AsyncEngine, demo: DemoData
) -> None:
    async with runtime_engine.connect() as conn:
        async with conn.begin():
            await conn.execute(SET_TENANT, {"t": str(demo.tenants["acme"])})
            assert await conn.scalar(text("SELECT count(*) FROM tasks")) == 37
        async with conn.begin():
            assert await conn.scalar(text("SELECT count(*) FROM tasks")) == 0


async def test_rls_refuses_writes_into_another_tenant(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    await runtime_conn.execute(SET_TENANT, {"t": str(demo.tenants["acme"])})
    victim = sorted(demo.tasks["globex"])[0]

    updated = await runtime_conn.execute(
        text("UPDATE tasks SET title = 'hijacked' WHERE id = :i"), {"i": victim}
    )
    deleted = await runtime_conn.execute(text("DELETE FROM tasks WHERE id = :i"), {"i": victim})
    assert updated.rowcount == 0
    assert deleted.rowcount == 0

    nested = await runtime_conn.begin_nested()
    with pytest.raises(DBAPIError, match="row-level security"):
        await runtime_conn.execute(
            text("INSERT INTO tasks (tenant_id, title) VALUES (:t, 'smuggled')"),
            {"t": demo.tenants["globex"]},
        )
    await nested.rollback()


async def test_rls_users_and_tenants_visible_only_through_membership(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    await runtime_conn.execute(SET_TENANT, {"t": str(demo.tenants["acme"])})
    emails = set((await runtime_conn.execute(text("SELECT email FROM users"))).scalars())
    slugs = set((await runtime_conn.execute(text("SELECT slug FROM tenants"))).scalars())

    assert emails == {"alice@acme.test", "carol@acme.test", "dave@initech.test"}
    assert "bob@globex.test" not in emails
    assert "root@platform.test" not in emails
    assert slugs == {"acme"}


async def test_runtime_role_cannot_touch_owner_only_tables(runtime_conn: AsyncConnection) -> None:
    nested = await runtime_conn.begin_nested()
    with pytest.raises(DBAPIError, match="permission denied"):
        await runtime_conn.execute(text("UPDATE tenants SET name = 'x'"))
    await nested.rollback()
    nested = await runtime_conn.begin_nested()
    with pytest.raises(DBAPIError, match="permission denied"):
        await runtime_conn.execute(text("DELETE FROM audit_logs"))
    await nested.rollback()


# --- wall 4: composite foreign keys, even for the owner ---------------------------------------


@pytest.mark.parametrize("column", ["assignee_id", "created_by_id"])
async def test_composite_key_rejects_a_member_of_another_tenant(
    owner_conn: AsyncConnection, demo: DemoData, column: str
) -> None:
    # bob is a member of globex only
    nested = await owner_conn.begin_nested()
    with pytest.raises(IntegrityError, match="fk_tasks"):
        await owner_conn.execute(
            text(f"INSERT INTO tasks (tenant_id, title, {column}) VALUES (:t, 'x', :u)"),
            {"t": demo.tenants["acme"], "u": demo.users["bob@globex.test"]},
        )
    await nested.rollback()
    # the same insert pointing at an acme member is accepted
    await owner_conn.execute(
        text(f"INSERT INTO tasks (tenant_id, title, {column}) VALUES (:t, 'x', :u)"),
        {"t": demo.tenants["acme"], "u": demo.users["carol@acme.test"]},
    )


async def test_composite_key_rejects_another_tenants_service(
    owner_conn: AsyncConnection, demo: DemoData
) -> None:
    service = await owner_conn.scalar(
        text("SELECT id FROM services WHERE tenant_id = :t LIMIT 1"), {"t": demo.tenants["globex"]}
    )
    nested = await owner_conn.begin_nested()
    with pytest.raises(IntegrityError, match="fk_tasks_service"):
        await owner_conn.execute(
            text("INSERT INTO tasks (tenant_id, title, service_id) VALUES (:t, 'x', :s)"),
            {"t": demo.tenants["acme"], "s": service},
        )
    await nested.rollback()
