"""The benchmark's dataset generator at a small scale: the sizes it plans, the rows it loads (with
every foreign key and trigger checked), and row-level security over what it generated."""

from __future__ import annotations

import os
import statistics
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy.engine import URL

from app.database import DatabaseUrls
from bench.data import (
    BIG_SLUG,
    COLUMNS,
    SECOND_SLUG,
    Spec,
    TenantRows,
    _services,
    _tasks_of_month,
    _users,
    load,
    plan,
)
from bench.db import dsn
from tests.conftest import drop_database, fresh_database, migrate_database

SPEC = Spec(tenants=6, tasks=1_500, big_tasks=400, seed=3)


def test_plan_gives_the_named_tenant_its_size_and_skews_the_others() -> None:
    # given a thousand tenants sharing a million tasks
    spec = Spec(tenants=1_000, tasks=1_000_000)
    # when they are planned
    tenants = plan(spec)
    # then every task is placed, the named tenant has exactly its 10,000, every tenant some
    sizes = [t.tasks for t in tenants]
    assert len(tenants) == 1_000
    assert sum(sizes) == 1_000_000
    assert tenants[0].slug == BIG_SLUG
    assert tenants[0].tasks == 10_000
    assert tenants[1].slug == SECOND_SLUG
    assert min(sizes) >= 1
    assert len({t.slug for t in tenants}) == 1_000
    # and the sizes are skewed like real tenants: the largest tenth holds far more than a tenth
    ordered = sorted(sizes, reverse=True)
    assert sum(ordered[:100]) > 0.4 * sum(sizes)
    assert statistics.median(sizes) < statistics.mean(sizes)
    # and the plan is the same every time for one seed, and another for another seed
    assert plan(spec) == tenants
    assert plan(Spec(tenants=1_000, tasks=1_000_000, seed=9)) != tenants


def test_the_named_tenant_has_the_same_rows_in_a_small_and_a_large_database() -> None:
    # given the named tenant planned among 10 and among 1,000 tenants
    now = datetime(2026, 6, 1, tzinfo=UTC)
    small = TenantRows(plan(Spec(tenants=10, tasks=20_000))[0], now, 8)
    large = TenantRows(plan(Spec(tenants=1_000, tasks=1_000_000))[0], now, 8)
    other_seed = TenantRows(plan(Spec(tenants=10, tasks=20_000, seed=9))[0], now, 9)

    def rows(t: TenantRows) -> list[tuple[object, ...]]:
        out = [user for user, _ in _users(t, "hash")]
        out += list(_services(t))
        for month in range(12):
            out += list(_tasks_of_month(t, month))
        return out

    # when their rows are generated, then they are identical (and differ under another seed)
    generated = rows(small)
    assert len([r for r in generated if len(r) == len(COLUMNS["tasks"])]) == 10_000
    assert generated == rows(large)
    assert generated != rows(other_seed)


@dataclass(frozen=True)
class Loaded:
    admin: URL
    urls: DatabaseUrls
    tenants: dict[str, uuid.UUID]
    sizes: dict[str, int]


@pytest.fixture(scope="module")
async def loaded(admin_url: URL) -> AsyncIterator[Loaded]:
    """SPEC loaded into a database of its own with every check on (foreign keys, triggers)."""
    name = f"tenantgraph_test_benchdata_{os.getpid()}"
    urls = await fresh_database(admin_url, name)
    await migrate_database(urls)
    conn = await asyncpg.connect(dsn(admin_url.set(database=name)))
    try:
        if not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            pytest.skip("loading with COPY under row-level security needs a superuser DATABASE_URL")
        await load(conn, SPEC, show_progress=False, fast=False, log=lambda _m: None)
        tenants = {r["slug"]: r["id"] for r in await conn.fetch("SELECT id, slug FROM tenants")}
    finally:
        await conn.close()
    yield Loaded(admin_url.set(database=name), urls, tenants, {t.slug: t.tasks for t in plan(SPEC)})
    await drop_database(admin_url, name)


async def test_the_load_writes_the_planned_rows(loaded: Loaded) -> None:
    # given the small dataset, read by a superuser
    conn = await asyncpg.connect(dsn(loaded.admin))
    try:
        per_tenant = {
            r["slug"]: r["n"]
            for r in await conn.fetch(
                "SELECT t.slug, count(k.id) AS n FROM tenants t "
                "LEFT JOIN tasks k ON k.tenant_id = t.id GROUP BY t.slug"
            )
        }
        counts = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("tenants", "tasks", "bookings", "service_requests", "compliance_records")
        }
        members = await conn.fetchval("SELECT count(*) FROM tenant_memberships")
        users = await conn.fetchval("SELECT count(*) FROM users")
        wrong_status = await conn.fetchval(
            "SELECT count(*) FROM service_requests WHERE (status = 'CONVERTED') <> (task_id IS NOT NULL)"
        )
        analyzed = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'tasks' AND last_analyze IS NOT NULL"
        )
    finally:
        await conn.close()
    # then every tenant has the tasks planned for it, and the other tables follow the plan
    plans = plan(SPEC)
    assert per_tenant == loaded.sizes
    assert per_tenant[BIG_SLUG] == 400
    assert counts == {
        "tenants": 6,
        "tasks": 1_500,
        "bookings": sum(p.bookings for p in plans),
        "service_requests": sum(p.service_requests for p in plans),
        "compliance_records": sum(p.compliance_records for p in plans),
    }
    assert users == sum(p.members for p in plans)
    assert members == users + 1  # the named tenant's admin is also a member of the second
    assert wrong_status == 0
    assert analyzed == 1


async def _visible(runtime: URL, tenant: uuid.UUID, table: str) -> tuple[int, int]:
    """(rows seen, rows seen of another tenant) as the runtime role bound to `tenant`."""
    conn = await asyncpg.connect(dsn(runtime))
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.current_tenant_id', $1, true)", str(tenant))
            row = await conn.fetchrow(
                f"SELECT count(*) AS seen, count(*) FILTER (WHERE tenant_id <> $1) AS foreign "
                f"FROM {table}",
                tenant,
            )
    finally:
        await conn.close()
    return row["seen"], row["foreign"]


@pytest.mark.parametrize("table", ["tasks", "bookings", "service_requests", "compliance_records"])
async def test_the_runtime_role_sees_only_its_tenants_generated_rows(
    loaded: Loaded, table: str
) -> None:
    # given two tenants of the generated data with different numbers of rows
    a, b = loaded.tenants[BIG_SLUG], loaded.tenants[SECOND_SLUG]
    admin = await asyncpg.connect(dsn(loaded.admin))
    try:
        own = {
            r["tenant_id"]: r["n"]
            for r in await admin.fetch(f"SELECT tenant_id, count(*) AS n FROM {table} GROUP BY 1")
        }
    finally:
        await admin.close()
    assert own[a] != own[b]
    # when the runtime role reads the table bound to A, then to B
    seen_a = await _visible(loaded.urls.runtime, a, table)
    seen_b = await _visible(loaded.urls.runtime, b, table)
    # then each sees exactly its own rows and none of the other's
    assert seen_a == (own[a], 0)
    assert seen_b == (own[b], 0)


async def test_the_runtime_role_sees_nothing_without_a_tenant(loaded: Loaded) -> None:
    conn = await asyncpg.connect(dsn(loaded.urls.runtime))
    try:
        seen = await conn.fetchval("SELECT count(*) FROM tasks")
    finally:
        await conn.close()
    assert seen == 0
