"""`tenantgraph adopt` on scratch legacy databases: the dry run, the adoption with orphans given
to a system tenant or archived, an interrupted backfill resumed, every downgrade, bad input, and
the adopted database as the product sees it (isolation checks green, RLS per tenant)."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.adopt import runner
from app.adopt.backfill import BackfillInterrupted
from app.adopt.legacy import LEGACY_TABLES, generate_legacy_data, table_counts
from app.adopt.runner import AdoptionError, Requested, adopt, rollback
from app.database import (
    DatabaseUrls,
    current_revision,
    head_revision,
    isolation_problems,
    run_downgrade,
)
from tests.adopt.fixtures import LEGACY_ROWS, U, load_small_legacy, run_sync, scratch_database
from tests.conftest import migrate_database


def _suffix(key: str) -> str:
    """The 8 hex digits a renamed account's address carries: of the md5 of its id."""
    return hashlib.md5(str(U(key)).encode(), usedforsecurity=False).hexdigest()[:8]


SET_TENANT = text(
    "SELECT set_config('app.current_tenant_id', :t, true),"
    " set_config('app.current_user_id', :u, true)"
)


def _tenant_of(conn: Connection, table: str) -> dict[uuid.UUID, str]:
    """id -> tenant slug of every adopted row of `table` (services: one entry per copy)."""
    rows = conn.execute(
        text(
            f"SELECT x.id, t.slug FROM public.{table} x JOIN public.tenants t ON t.id = x.tenant_id"
        )
    ).all()
    return {r.id: r.slug for r in rows}


def _placement(conn: Connection) -> dict[str, object]:
    """Where every row went, and the bookkeeping of orphans, copies and detached references."""
    found: dict[str, object] = {
        table: _tenant_of(conn, table)
        for table in ("tasks", "compliance_records", "audit_logs", "health_logs")
    }
    for name, sql in {
        "services": "SELECT s.id, t.slug FROM services s JOIN tenants t ON t.id = s.tenant_id",
        # (settings rows have random ids in the fixture)
        "orphans": "SELECT table_name, id, disposition FROM tenantgraph_adopt.orphans"
        " WHERE table_name NOT LIKE '%settings'",
        "detached": "SELECT table_name, row_id, column_name, value FROM tenantgraph_adopt.detached",
        "emails": "SELECT id, email FROM users",
    }.items():
        found[name] = sorted(tuple(map(str, r)) for r in conn.execute(text(sql)).all())
    return found


def _legacy_snapshot(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every legacy row, in a comparable form."""
    snapshot = {}
    for table in LEGACY_TABLES:
        rows = conn.execute(text(f"SELECT to_jsonb(x)::text AS j FROM public.{table} x")).scalars()
        snapshot[table] = sorted(rows)
    return snapshot


def _schema_signature(conn: Connection) -> dict[str, set[tuple[object, ...]]]:
    """Columns, constraints, indexes, policies, RLS flags, grants and functions of `public`."""
    queries = {
        "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = 'public'",
        "constraints": "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)"
        " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE n.nspname = 'public'",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = 'public'",
        "policies": "SELECT tablename, policyname, cmd, roles::text, qual, with_check"
        " FROM pg_policies WHERE schemaname = 'public'",
        "rls": "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        " AND c.relkind = 'r'",
        "grants": "SELECT table_name, grantee, privilege_type FROM"
        " information_schema.role_table_grants WHERE table_schema = 'public'",
        "functions": "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
        "triggers": "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal",
    }
    return {
        name: {tuple(r) for r in conn.execute(text(sql)).all()} for name, sql in queries.items()
    }


async def _runtime_problems(urls: DatabaseUrls) -> list[str]:
    engine = create_async_engine(urls.runtime, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await isolation_problems(conn)
    finally:
        await engine.dispose()


async def test_dry_run_reports_where_rows_go_and_changes_nothing(admin_url: URL) -> None:
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        before = await run_sync(urls.owner, _legacy_snapshot)

        report = await adopt(urls.owner, urls.runtime_role, Requested(), dry_run=True)

        assert report.dry_run
        assert report.ok
        assert report.placement["acme"]["tasks"] == 2  # t1, t5
        assert report.placement["globex"]["tasks"] == 2  # t2, t3
        assert report.placement["system"]["tasks"] == 2  # t4, t6
        assert report.count("services").copies == 1  # consulting, in acme and globex
        assert [original for original, _, _ in report.renamed] == ["dave@acme.test"]
        assert {(t, d) for t, _, d, _ in report.orphans} >= {
            ("tasks", "system"),
            ("services", "system"),
            ("audit_logs", "system"),
            ("health_logs", "system"),
        }
        # nothing written: the legacy tables are as they were, no bookkeeping, no version table
        assert await run_sync(urls.owner, _legacy_snapshot) == before
        schemas = await run_sync(
            urls.owner,
            lambda c: c.execute(
                text(
                    "SELECT count(*) FROM pg_namespace"
                    " WHERE nspname IN ('tenantgraph_adopt', 'tenantgraph_legacy')"
                )
            ).scalar_one(),
        )
        assert schemas == 0


async def test_adoption_with_a_system_tenant_then_every_downgrade(admin_url: URL) -> None:
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        before = await run_sync(urls.owner, _legacy_snapshot)

        await run_sync(
            urls.owner,
            lambda c: c.execute(text("ALTER TABLE tasks ADD COLUMN legacy_code text DEFAULT 'x'")),
        )
        before = await run_sync(urls.owner, _legacy_snapshot)

        # the backfill alone first, as while the legacy application still runs
        summary = await adopt(
            urls.owner, urls.runtime_role, Requested(batch_size=2, backfill_only=True)
        )
        assert isinstance(summary, runner.BackfillSummary)
        assert summary.tables["tasks"] == (6, 0, 2)  # t4, t6 in the system tenant already
        assert await run_sync(urls.owner, runner.main_revision) is None
        # ... which writes a task meanwhile: the final sweep places it
        await run_sync(
            urls.owner,
            lambda c: c.execute(
                text("INSERT INTO tasks (id, title, assignee_id) VALUES (:i, 'Task late', :a)"),
                {"i": U("late"), "a": U("bob")},
            ),
        )

        report = await adopt(urls.owner, urls.runtime_role, Requested(batch_size=2))

        assert report.unplaced_columns == {"tasks": ["legacy_code"]}
        assert report.ok
        assert not report.dry_run
        assert {c.table: c.legacy for c in report.counts if c.table in LEGACY_ROWS} == {
            **LEGACY_ROWS,
            "tasks": 7,
        }
        assert report.count("tenants").adopted == 3  # acme, globex and the system tenant
        assert report.count("services").adopted == 4  # consulting twice, audit, retired
        assert report.count("tasks").to_system == 2
        assert report.renamed == [
            ("dave@acme.test", f"dave+legacy-{_suffix('dave2')}@acme.test", "Dave@Acme.test")
        ]

        def adopted(conn: Connection) -> None:
            tasks = _tenant_of(conn, "tasks")
            assert tasks == {
                U("t1"): "acme",
                U("t2"): "globex",
                U("t3"): "globex",  # carol (acme, globex) assigned by bob (globex)
                U("t4"): "system",
                U("t5"): "acme",  # creator alice's tenant
                U("t6"): "system",
                U("late"): "globex",  # written after the backfill, placed by the final sweep
            }
            assert _tenant_of(conn, "compliance_records") == {
                U("c1"): "acme",
                U("c2"): "system",  # follows its task
                U("c3"): "globex",
            }
            assert _tenant_of(conn, "audit_logs") == {
                U("a1"): "acme",
                U("a2"): "globex",  # no actor: the task it names
                U("a3"): "system",
                U("a4"): "globex",  # carol (home acme) acting on globex's task
            }
            defaults = conn.execute(
                text(
                    "SELECT t.slug FROM tenant_memberships m JOIN tenants t ON t.id = m.tenant_id"
                    " WHERE m.user_id = :u AND m.is_default"
                ),
                {"u": U("carol")},
            ).scalars()
            assert list(defaults) == ["acme"]
            assert _tenant_of(conn, "health_logs") == {U("h1"): "globex", U("h2"): "system"}
            services = conn.execute(
                text(
                    "SELECT s.slug, t.slug AS tenant FROM services s JOIN tenants t"
                    " ON t.id = s.tenant_id ORDER BY 1, 2"
                )
            ).all()
            assert [tuple(r) for r in services] == [
                ("audit", "acme"),
                ("consulting", "acme"),  # the same slug in two tenants is legal now
                ("consulting", "globex"),
                ("retired", "system"),
            ]
            # eve is no member of acme: t5 keeps no assignee, and the reference is recorded
            t5 = conn.execute(
                text("SELECT assignee_id, created_by_id FROM tasks WHERE id = :i"), {"i": U("t5")}
            ).one()
            assert t5 == (None, U("alice"))
            detached = conn.execute(
                text(
                    "SELECT row_id, column_name, value FROM tenantgraph_adopt.detached"
                    " WHERE table_name = 'tasks' AND row_id = :i"
                ),
                {"i": U("t5")},
            ).all()
            assert [tuple(r) for r in detached] == [(U("t5"), "assignee_id", U("eve"))]
            h1 = conn.execute(
                text("SELECT details FROM health_logs WHERE id = :i"), {"i": U("h1")}
            ).scalar_one()
            assert h1 == {"ip": "10.0.0.1", "legacy_actor_id": str(U("bob"))}
            emails = set(conn.execute(text("SELECT email FROM users")).scalars())
            assert {"Dave@Acme.test", f"dave+legacy-{_suffix('dave2')}@acme.test"} <= emails
            org = conn.execute(
                text("SELECT tenant_id, display_name, timezone FROM organization_settings")
            ).all()
            assert [tuple(r) for r in org] == [(None, "Legacy Firm", "Europe/Paris")]
            archived = conn.execute(
                text(
                    "SELECT row->>'display_name' FROM tenantgraph_adopt.orphans"
                    " WHERE table_name = 'organization_settings'"
                )
            ).scalars()
            assert list(archived) == ["Old"]
            system = conn.execute(
                text("SELECT status FROM tenants WHERE slug = 'system'")
            ).scalar_one()
            assert system == "suspended"

        await run_sync(urls.owner, adopted)
        owner = create_async_engine(urls.owner, poolclass=NullPool)
        try:
            async with owner.connect() as conn:
                assert await current_revision(conn) == head_revision()
        finally:
            await owner.dispose()
        assert await _runtime_problems(urls) == []
        await _isolation_holds(urls)
        # exactly the schema of a fresh database
        adopted_schema = await run_sync(urls.owner, _schema_signature)
        async with scratch_database(admin_url) as fresh:
            await migrate_database(fresh)
            assert await run_sync(fresh.owner, _schema_signature) == adopted_schema

        # the adoption runs again: nothing to do, the same report
        again = await adopt(urls.owner, urls.runtime_role, Requested())
        assert again.already_adopted
        assert again.counts == report.counts

        # every downgrade, one revision at a time, back to the legacy database
        async def down(target: str) -> None:
            await run_sync(
                urls.owner, lambda c: runner._adopt_downgrade(c, urls.runtime_role, target)
            )

        # the main revisions after the adoption's baseline come off first
        engine = create_async_engine(urls.owner, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                await run_downgrade(conn, urls.runtime_role, runner.MAIN_BASELINE)
        finally:
            await engine.dispose()
        await down("adopt_0003")
        assert await run_sync(urls.owner, runner.main_revision) is None
        assert (
            await run_sync(
                urls.owner,
                lambda c: c.execute(
                    text("SELECT count(*) FROM public.tasks WHERE tenant_id IS NOT NULL")
                ).scalar_one(),
            )
            == 7
        )  # the backfill is still there
        await down("adopt_0002")
        await down("adopt_0001")
        await down("base")
        await run_sync(
            urls.owner, lambda c: c.execute(text("DROP SCHEMA tenantgraph_adopt CASCADE"))
        )
        await run_sync(
            urls.owner,
            lambda c: c.execute(text("DELETE FROM tasks WHERE id = :i"), {"i": U("late")}),
        )
        assert await run_sync(urls.owner, _legacy_snapshot) == before
        await run_sync(
            urls.owner,
            lambda c: c.execute(
                text("INSERT INTO tasks (id, title, assignee_id) VALUES (:i, 'Task late', :a)"),
                {"i": U("late"), "a": U("bob")},
            ),
        )
        # and up again, in one go this time
        report = await adopt(urls.owner, urls.runtime_role, Requested(batch_size=1000))
        assert report.ok
        assert report.count("tasks").adopted == 7
        await run_sync(urls.owner, adopted)


async def _isolation_holds(urls: DatabaseUrls) -> None:
    """On the adopted database the runtime role, in acme's context, sees acme's rows only."""
    engine = create_async_engine(urls.runtime, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            for tenant, user, mine, others in (
                ("acme", "alice", {U("t1"), U("t5")}, {U("t2"), U("t3"), U("t4"), U("t6")}),
                (
                    "globex",
                    "bob",
                    {U("t2"), U("t3"), U("late")},
                    {U("t1"), U("t5"), U("t4"), U("t6")},
                ),
            ):
                transaction = await conn.begin()
                await conn.execute(SET_TENANT, {"t": str(U(tenant)), "u": str(U(user))})
                seen = set((await conn.execute(text("SELECT id FROM tasks"))).scalars())
                assert seen == mine
                assert not seen & others
                services = set((await conn.execute(text("SELECT slug FROM services"))).scalars())
                assert services == ({"audit", "consulting"} if tenant == "acme" else {"consulting"})
                # a slug another tenant uses is free here; one this tenant uses is not
                await conn.execute(
                    text(
                        "INSERT INTO services (tenant_id, slug, name) VALUES (:t, 'retired', 'R')"
                    ),
                    {"t": str(U(tenant))},
                )
                await transaction.rollback()
            # the legacy tables and the bookkeeping are out of the runtime role's reach
            for table in ("tenantgraph_legacy.tasks", "tenantgraph_adopt.orphans"):
                transaction = await conn.begin()
                with pytest.raises(DBAPIError, match="permission denied for schema"):
                    await conn.execute(text(f"SELECT 1 FROM {table}"))
                await transaction.rollback()
            transaction = await conn.begin()
            await conn.execute(SET_TENANT, {"t": str(U("acme")), "u": str(U("alice"))})
            with pytest.raises(IntegrityError):
                await conn.execute(
                    text("INSERT INTO services (tenant_id, slug, name) VALUES (:t, 'audit', 'A')"),
                    {"t": str(U("acme"))},
                )
            await transaction.rollback()
    finally:
        await engine.dispose()


async def test_archived_orphans_and_an_interrupted_backfill_resumed(admin_url: URL) -> None:
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        requested = Requested(orphans="archive", batch_size=1)

        with pytest.raises(BackfillInterrupted):
            await adopt(urls.owner, urls.runtime_role, requested, max_batches=5)
        progress = await run_sync(
            urls.owner,
            lambda c: c.execute(
                text("SELECT sum(batches), bool_and(finished) FROM tenantgraph_adopt.progress")
            ).one(),
        )
        assert progress[0] == 5
        assert progress[1] is False
        # other options than the interrupted run's are refused, with nothing lost
        with pytest.raises(AdoptionError, match="--orphans archive"):
            await adopt(urls.owner, urls.runtime_role, Requested(orphans="system"))
        with pytest.raises(BackfillInterrupted):
            await adopt(urls.owner, urls.runtime_role, requested, max_batches=4)

        report = await adopt(urls.owner, urls.runtime_role, Requested(batch_size=2))

        assert report.ok
        assert report.orphan_policy == "archive"
        assert "system" not in report.placement
        assert report.count("tasks").archived == 2
        assert report.count("tasks").adopted == 4
        assert report.count("compliance_records").archived == 1  # c2: its task is archived
        assert report.count("services").archived == 1  # retired
        assert report.count("tenants").adopted == 2  # no system tenant

        def archived(conn: Connection) -> None:
            assert _tenant_of(conn, "tasks") == {
                U("t1"): "acme",
                U("t2"): "globex",
                U("t3"): "globex",
                U("t5"): "acme",
            }
            rows = conn.execute(
                text(
                    "SELECT id, row->>'title' AS title FROM tenantgraph_adopt.orphans"
                    " WHERE table_name = 'tasks' AND disposition = 'archive' ORDER BY 2"
                )
            ).all()
            assert [tuple(r) for r in rows] == [(U("t4"), "Task t4"), (U("t6"), "Task t6")]
            # the legacy rows stay too
            legacy = conn.execute(text("SELECT count(*) FROM tenantgraph_legacy.tasks")).scalar()
            assert legacy == 6

        await run_sync(urls.owner, archived)
        assert await _runtime_problems(urls) == []
        # the same result as a run that was never interrupted, row for row
        resumed = await run_sync(urls.owner, _placement)
        async with scratch_database(admin_url) as straight:
            await run_sync(straight.owner, load_small_legacy)
            await adopt(straight.owner, straight.runtime_role, Requested(orphans="archive"))
            assert await run_sync(straight.owner, _placement) == resumed

        # rolled back as a whole: the legacy database as it was
        await rollback(urls.owner, urls.runtime_role)
        assert await run_sync(urls.owner, runner.adopt_revision) is None
        counts = await run_sync(urls.owner, lambda c: table_counts(c, LEGACY_TABLES))
        assert {t: n for t, n in counts.items() if t in LEGACY_ROWS} == LEGACY_ROWS


async def test_bad_input_is_refused_with_nothing_lost(admin_url: URL) -> None:
    async with scratch_database(admin_url) as urls:
        with pytest.raises(AdoptionError, match="table tasks is missing"):
            await adopt(urls.owner, urls.runtime_role, Requested())
        await run_sync(urls.owner, load_small_legacy)
        with pytest.raises(AdoptionError, match="not a tenant slug"):
            await adopt(urls.owner, urls.runtime_role, Requested(system_tenant="No Such!"))
        with pytest.raises(AdoptionError, match="a legacy tenant is called 'acme'"):
            await adopt(urls.owner, urls.runtime_role, Requested(system_tenant="acme"))
        with pytest.raises(AdoptionError, match="no adoption to roll back"):
            await rollback(urls.owner, urls.runtime_role)
        # a legacy row the current schema refuses: the whole swap rolls back, nothing lost
        await run_sync(
            urls.owner,
            lambda c: c.execute(
                text("UPDATE tasks SET status = 'WAITING' WHERE id = :i"), {"i": U("t1")}
            ),
        )
        with pytest.raises(IntegrityError, match="ck_tasks_status"):
            await adopt(urls.owner, urls.runtime_role, Requested())
        assert await run_sync(urls.owner, runner.main_revision) is None
        assert await run_sync(urls.owner, runner.adopt_revision) == "adopt_0002"
        await run_sync(
            urls.owner,
            lambda c: c.execute(
                text("UPDATE tasks SET status = 'TODO' WHERE id = :i"), {"i": U("t1")}
            ),
        )
        report = await adopt(urls.owner, urls.runtime_role, Requested())
        assert report.ok
        assert report.count("tasks").adopted == 6
        # a database with the current schema has nothing to adopt
    async with scratch_database(admin_url) as urls:
        await migrate_database(urls)
        with pytest.raises(AdoptionError, match="already has the current schema"):
            await adopt(urls.owner, urls.runtime_role, Requested())


async def test_a_generated_legacy_database_adopts(admin_url: URL) -> None:
    """The bulk generator at a small scale (the benchmark runs it at 100,000 rows)."""
    async with scratch_database(admin_url) as urls:
        legacy = await run_sync(urls.owner, lambda c: _generate(c, 600))

        report = await adopt(urls.owner, urls.runtime_role, Requested(batch_size=250))

        assert report.ok
        assert {c.table: c.legacy for c in report.counts} == legacy
        assert report.renamed  # case variants of the same address
        assert report.count("tasks").to_system == 6  # every 100th task
        assert report.count("services").copies > 0
        assert sum(report.orphan_totals.values()) > 0
        assert await _runtime_problems(urls) == []


def _generate(conn: Connection, tasks: int) -> dict[str, int]:
    from app.adopt.legacy import create_legacy_schema

    create_legacy_schema(conn)
    return generate_legacy_data(conn, tasks=tasks, tenants=5)
