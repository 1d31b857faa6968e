"""The migrations on a scratch database: up, down to nothing, up again; and the models agree
with what they build."""

from __future__ import annotations

import os

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from app.database import current_revision, head_revision, isolation_problems, run_downgrade
from repositories.models import RLS_TABLES, Base
from tests.conftest import SuiteDatabase, drop_database, fresh_database, migrate_database


async def _tables(conn: AsyncConnection) -> set[str]:
    rows = await conn.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
    )
    return set(rows.scalars())


async def test_upgrade_downgrade_upgrade(admin_url: URL) -> None:
    name = f"tenantgraph_migrations_{os.getpid()}"
    urls = await fresh_database(admin_url, name)
    try:
        await migrate_database(urls)
        engine = create_async_engine(urls.owner, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                assert await current_revision(conn) == head_revision()
                assert await _tables(conn) == set(Base.metadata.tables)
                await run_downgrade(conn, urls.runtime_role, "base")
            async with engine.connect() as conn:
                assert await _tables(conn) == set()
                assert await current_revision(conn) is None
        finally:
            await engine.dispose()
        await migrate_database(urls)
        runtime = create_async_engine(urls.runtime, poolclass=NullPool)
        try:
            async with runtime.connect() as conn:
                assert await isolation_problems(conn) == []
        finally:
            await runtime.dispose()
    finally:
        await drop_database(admin_url, name)


async def test_models_match_the_migrated_columns(owner_conn: AsyncConnection) -> None:
    rows = await owner_conn.execute(
        text(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name <> 'alembic_version'"
        )
    )
    in_database = {(r.table_name, r.column_name): r.is_nullable == "YES" for r in rows}
    in_models = {
        (table.name, column.name): bool(column.nullable)
        for table in Base.metadata.tables.values()
        for column in table.columns
    }
    assert in_database == in_models


async def test_isolation_checks_pass_and_catch_a_planted_defect(
    test_database: SuiteDatabase, owner_conn: AsyncConnection, runtime_conn: AsyncConnection
) -> None:
    assert await isolation_problems(runtime_conn) == []
    assert set(RLS_TABLES) <= set(Base.metadata.tables)
    # a new tenant table without RLS, created by the owner in the (rolled back) transaction
    await owner_conn.execute(text("CREATE TABLE invoices (tenant_id uuid NOT NULL, id uuid)"))
    await owner_conn.execute(text("ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY"))
    problems = await isolation_problems(owner_conn)
    assert any("invoices does not have row-level security enabled" in p for p in problems)
    assert any("invoices has a tenant_id but no tenant governance" in p for p in problems)
    assert any("tasks has row-level security enabled but not forced" in p for p in problems)


async def test_membership_in_the_owner_role_is_caught(
    test_database: SuiteDatabase, admin_url: URL
) -> None:
    # a superuser grants the owner role to the runtime role, in a transaction rolled back after
    owner = test_database.urls.owner.username
    runtime = test_database.urls.runtime_role
    engine = create_async_engine(
        admin_url.set(database=test_database.urls.owner.database), poolclass=NullPool
    )
    try:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            await conn.execute(text(f'SET LOCAL ROLE "{runtime}"'))
            assert await isolation_problems(conn) == []
            await conn.execute(text("RESET ROLE"))
            await conn.execute(text(f'GRANT "{owner}" TO "{runtime}"'))
            await conn.execute(text(f'SET LOCAL ROLE "{runtime}"'))
            problems = await isolation_problems(conn)
            await transaction.rollback()
    finally:
        await engine.dispose()
    assert any(f"is a member of {owner}" in p for p in problems), problems
