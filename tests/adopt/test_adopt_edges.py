"""`tenantgraph adopt` on legacy data the small fixture does not cover: case-duplicate emails of
accounts whose ids share a prefix (time-ordered uuids), audit rows about compliance records, and
accounts the legacy application creates after `--backfill-only`."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from app.adopt.backfill import BackfillInterrupted
from app.adopt.runner import AdoptionError, Requested, adopt, adopt_revision
from app.database import DatabaseUrls, isolation_problems
from tests.adopt.fixtures import U, load_small_legacy, run_sync, scratch_database
from tests.conftest import drop_database

SET_TENANT = text(
    "SELECT set_config('app.current_tenant_id', :t, true),"
    " set_config('app.current_user_id', :u, true)"
)


def _tenant_of(conn: Connection, table: str) -> dict[uuid.UUID, str]:
    rows = conn.execute(
        text(
            f"SELECT r.id, t.slug FROM public.{table} r JOIN public.tenants t ON t.id = r.tenant_id"
        )
    ).all()
    return {r.id: r.slug for r in rows}


async def _runtime_problems(urls: DatabaseUrls) -> list[str]:
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(urls.owner, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await isolation_problems(conn, urls.runtime_role)
    finally:
        await engine.dispose()


async def test_case_duplicate_emails_of_time_ordered_ids_get_distinct_addresses(
    admin_url: URL,
) -> None:
    """Three accounts whose emails differ only by case, with uuidv7-style ids created in the same
    minute (the first 8 hex digits are the same timestamp): each later account needs an address
    of its own, or the adoption cannot finish."""
    ids = [uuid.UUID(f"01890a5d-ac96-7{n:03x}-8000-{n:012x}") for n in (1, 2, 3)]

    def legacy(conn: Connection) -> None:
        load_small_legacy(conn)
        for n, (id_, email) in enumerate(
            zip(ids, ["Zoe@Acme.test", "zoe@acme.test", "ZOE@ACME.TEST"], strict=True)
        ):
            conn.execute(
                text(
                    "INSERT INTO users (id, email, created_at)"
                    " VALUES (:i, :e, now() - (:n || ' minutes')::interval)"
                ),
                {"i": id_, "e": email, "n": str(10 - n)},
            )
        conn.execute(
            text(
                "INSERT INTO tenant_memberships (tenant_id, user_id, role, is_default)"
                " SELECT :a, id, 'STAFF', true FROM users WHERE id = ANY(:ids)"
            ),
            {"a": U("acme"), "ids": ids},
        )

    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, legacy)

        report = await adopt(urls.owner, urls.runtime_role, Requested())

        assert report.ok

        def emails(conn: Connection) -> dict[uuid.UUID, str]:
            rows = conn.execute(
                text("SELECT id, email FROM public.users WHERE id = ANY(:ids)"), {"ids": ids}
            ).all()
            return {r.id: r.email for r in rows}

        adopted = await run_sync(urls.owner, emails)
        assert adopted[ids[0]] == "Zoe@Acme.test"  # the oldest keeps its address
        assert len({e.lower() for e in adopted.values()}) == 3
        assert all("+legacy-" in adopted[i] for i in ids[1:])
        assert await _runtime_problems(urls) == []


async def test_an_audit_row_about_a_compliance_record_goes_to_the_record_s_tenant(
    admin_url: URL,
) -> None:
    """carol belongs to acme (her default) and globex. Her audit row about globex's compliance
    record carries globex's data: it belongs to globex, and acme must not see it."""

    def legacy(conn: Connection) -> None:
        load_small_legacy(conn)
        conn.execute(
            text(
                "INSERT INTO compliance_records (id, task_id, title) VALUES (:i, :t, 'Globex only')"
            ),
            {"i": U("c-globex"), "t": U("t2")},
        )
        conn.execute(
            text(
                "INSERT INTO audit_logs (id, actor_id, action, target_type, target_id, changes)"
                " VALUES (:i, :a, 'compliance_record.update', 'compliance_record', :t,"
                ' \'{"notes": "globex secret"}\')'
            ),
            {"i": U("a-cr"), "a": U("carol"), "t": U("c-globex")},
        )

    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, legacy)

        report = await adopt(urls.owner, urls.runtime_role, Requested())

        assert report.ok
        placed = await run_sync(urls.owner, lambda c: _tenant_of(c, "audit_logs"))
        assert placed[U("a-cr")] == "globex"
        records = await run_sync(urls.owner, lambda c: _tenant_of(c, "compliance_records"))
        assert records[U("c-globex")] == "globex"

        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        engine = create_async_engine(urls.runtime, poolclass=NullPool)
        try:
            seen = {}
            for tenant in ("acme", "globex"):
                async with engine.begin() as conn:
                    await conn.execute(SET_TENANT, {"t": str(U(tenant)), "u": str(U("carol"))})
                    seen[tenant] = set(
                        (await conn.execute(text("SELECT id FROM audit_logs"))).scalars()
                    )
        finally:
            await engine.dispose()
        assert U("a-cr") in seen["globex"]
        assert U("a-cr") not in seen["acme"]


async def test_an_audit_row_by_a_member_of_another_tenant_stays_with_the_task(
    admin_url: URL,
) -> None:
    """bob belongs to globex only. His legacy audit row about acme's task t1 carries acme's data
    in `changes`: it goes to acme with the task, not to bob's home globex."""

    def legacy(conn: Connection) -> None:
        load_small_legacy(conn)
        conn.execute(
            text(
                "INSERT INTO audit_logs (id, actor_id, action, target_type, target_id, changes)"
                " VALUES (:i, :a, 'task.update', 'task', :t, '{\"title\": \"acme only\"}')"
            ),
            {"i": U("a-bob-t1"), "a": U("bob"), "t": U("t1")},
        )

    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, legacy)

        report = await adopt(urls.owner, urls.runtime_role, Requested())

        assert report.ok
        placed = await run_sync(urls.owner, lambda c: _tenant_of(c, "audit_logs"))
        assert placed[U("a-bob-t1")] == "acme"
        assert placed[U("a4")] == "globex"  # carol's row about globex's t3, as before
        assert placed[U("a1")] == "acme"  # no target: alice's home


async def test_accounts_created_after_the_backfill_find_their_tenant(admin_url: URL) -> None:
    """`--backfill-only` leaves the legacy application running: an account it then creates, with
    a membership in globex, a task and a health log, a case variant of an existing email, and a
    newer settings row. The final run places the rows in globex (not the system tenant), keeps
    the membership the account's default, renames the case variant and keeps the newest
    settings."""
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        await adopt(urls.owner, urls.runtime_role, Requested(backfill_only=True))

        def legacy_writes(conn: Connection) -> None:
            conn.execute(
                text(
                    "INSERT INTO users (id, email) VALUES (:n, 'newbie@globex.test'),"
                    " (:v, 'BOB@globex.test')"
                ),
                {"n": U("newbie"), "v": U("bob-variant")},
            )
            conn.execute(
                text(
                    "INSERT INTO tenant_memberships (tenant_id, user_id, role, is_default)"
                    " VALUES (:g, :n, 'STAFF', true), (:g, :v, 'CLIENT', true)"
                ),
                {"g": U("globex"), "n": U("newbie"), "v": U("bob-variant")},
            )
            conn.execute(
                text("INSERT INTO tasks (id, title, assignee_id) VALUES (:t, 'New', :n)"),
                {"t": U("t-new"), "n": U("newbie")},
            )
            conn.execute(
                text(
                    "INSERT INTO health_logs (id, actor_id, check_name, status)"
                    " VALUES (:h, :n, 'realtime.connect', 'OK')"
                ),
                {"h": U("h-new"), "n": U("newbie")},
            )
            conn.execute(
                text(
                    "INSERT INTO organization_settings (display_name, updated_at)"
                    " VALUES ('Renamed late', now() + interval '1 minute')"
                )
            )

        await run_sync(urls.owner, legacy_writes)

        report = await adopt(urls.owner, urls.runtime_role, Requested())

        assert report.ok

        def placed(conn: Connection) -> None:
            assert _tenant_of(conn, "tasks")[U("t-new")] == "globex"
            assert _tenant_of(conn, "health_logs")[U("h-new")] == "globex"
            default = conn.execute(
                text("SELECT is_default FROM public.tenant_memberships WHERE user_id = :n"),
                {"n": U("newbie")},
            ).scalar_one()
            assert default is True
            emails = dict(
                conn.execute(
                    text("SELECT id, email FROM public.users WHERE id IN (:b, :v)"),
                    {"b": U("bob"), "v": U("bob-variant")},
                ).all()
            )
            assert emails[U("bob")] == "bob@globex.test"
            assert emails[U("bob-variant")].startswith("BOB+legacy-")
            # the settings row written last is the platform default; the others are archived
            default = conn.execute(
                text(
                    "SELECT display_name FROM public.organization_settings WHERE tenant_id IS NULL"
                )
            ).scalar_one()
            assert default == "Renamed late"

        await run_sync(urls.owner, placed)
        assert await _runtime_problems(urls) == []


async def test_a_schema_public_anyone_may_create_in_is_refused_before_anything_changes(
    admin_url: URL,
) -> None:
    """A legacy database from before PostgreSQL 15 lets PUBLIC create in schema public. Adopted
    as it is, the runtime role could create (and own) objects beside the tenant tables and the
    closing verify fails after every row has moved: the adoption refuses up front instead."""
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        await run_sync(
            urls.owner, lambda c: c.execute(text("GRANT CREATE ON SCHEMA public TO PUBLIC"))
        )

        with pytest.raises(AdoptionError, match="REVOKE CREATE ON SCHEMA public FROM PUBLIC"):
            await adopt(urls.owner, urls.runtime_role, Requested())
        assert await run_sync(urls.owner, adopt_revision) is None

        await run_sync(
            urls.owner, lambda c: c.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        )
        report = await adopt(urls.owner, urls.runtime_role, Requested())
        assert report.ok
        assert await _runtime_problems(urls) == []


async def test_a_rollback_waits_for_no_running_adoption(admin_url: URL) -> None:
    """A rollback started while an adoption runs read the revision before the swap committed
    and then aimed adopt_0002's downgrade at the freshly built tables: it is refused while an
    adoption holds the database, and works once it is done."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from app.adopt import runner

    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        await adopt(urls.owner, urls.runtime_role, Requested(backfill_only=True))

        engine = create_async_engine(urls.owner, poolclass=NullPool)
        try:
            async with engine.connect() as running:  # what a running adoption holds
                assert await running.scalar(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": runner._LOCK}
                )
                with pytest.raises(AdoptionError, match="is running on this database"):
                    await runner.rollback(urls.owner, urls.runtime_role)
                assert await run_sync(urls.owner, adopt_revision) == "adopt_0002"
                await running.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": runner._LOCK})
        finally:
            await engine.dispose()

        assert await runner.rollback(urls.owner, urls.runtime_role) == "adopt_0002"
        assert await run_sync(urls.owner, adopt_revision) is None


async def test_an_account_created_while_a_backfill_waits_to_resume_finds_its_tenant(
    admin_url: URL,
) -> None:
    """The legacy application keeps running between an interrupted backfill and its resumption:
    an account it creates then, a member of globex, is assigned a task by alice (acme) and logs
    a health check. Resumed, the backfill places both rows in globex, as a run that was never
    interrupted does — not the task in alice's acme, nor the log in the system tenant."""
    late_task = uuid.UUID("ffffffff-0000-4000-8000-000000000001")  # after any cursor
    late_log = uuid.UUID("ffffffff-0000-4000-8000-000000000002")

    def late_account(conn: Connection) -> None:
        conn.execute(
            text("INSERT INTO users (id, email) VALUES (:n, 'newbie@globex.test')"),
            {"n": U("newbie")},
        )
        conn.execute(
            text(
                "INSERT INTO tenant_memberships (tenant_id, user_id, role, is_default)"
                " VALUES (:g, :n, 'STAFF', true)"
            ),
            {"g": U("globex"), "n": U("newbie")},
        )
        conn.execute(
            text(
                "INSERT INTO tasks (id, title, assignee_id, created_by_id)"
                " VALUES (:t, 'Late', :n, :a)"
            ),
            {"t": late_task, "n": U("newbie"), "a": U("alice")},
        )
        conn.execute(
            text(
                "INSERT INTO health_logs (id, actor_id, check_name, status)"
                " VALUES (:h, :n, 'realtime.connect', 'OK')"
            ),
            {"h": late_log, "n": U("newbie")},
        )

    def placed(conn: Connection) -> tuple[dict[uuid.UUID, str], ...]:
        return _tenant_of(conn, "tasks"), _tenant_of(conn, "health_logs")

    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        with pytest.raises(BackfillInterrupted):  # user_home, emails and one batch of tasks
            await adopt(urls.owner, urls.runtime_role, Requested(batch_size=2), max_batches=3)
        await run_sync(urls.owner, late_account)
        report = await adopt(urls.owner, urls.runtime_role, Requested(batch_size=2))
        assert report.ok
        tasks, logs = resumed = await run_sync(urls.owner, placed)
        assert tasks[late_task] == "globex"
        assert logs[late_log] == "globex"
        assert await _runtime_problems(urls) == []
    async with scratch_database(admin_url) as straight:
        await run_sync(straight.owner, load_small_legacy)
        await run_sync(straight.owner, late_account)
        await adopt(straight.owner, straight.runtime_role, Requested(batch_size=2))
        assert await run_sync(straight.owner, placed) == resumed


async def test_a_rollback_without_the_legacy_tables_is_refused_and_changes_nothing(
    admin_url: URL,
) -> None:
    """`DROP SCHEMA tenantgraph_legacy CASCADE` ends the way back (README): a rollback then says
    so, and keeps the adopted database as it is."""
    from app.adopt.runner import rollback

    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        assert (await adopt(urls.owner, urls.runtime_role, Requested())).ok
        await run_sync(
            urls.owner, lambda c: c.execute(text("DROP SCHEMA tenantgraph_legacy CASCADE"))
        )

        with pytest.raises(AdoptionError, match=r"legacy tables are gone.*no way back"):
            await rollback(urls.owner, urls.runtime_role)

        assert await run_sync(urls.owner, adopt_revision) == "adopt_0004"
        tasks = await run_sync(
            urls.owner, lambda c: c.execute(text("SELECT count(*) FROM public.tasks")).scalar()
        )
        assert tasks == 6


async def test_an_archived_service_used_by_a_later_task_is_adopted_and_not_reported_archived(
    admin_url: URL,
) -> None:
    """`--orphans archive`: the backfill archives `retired`, which no task uses. The legacy
    application, still running, then gives alice (acme) a task with it. The service is adopted
    into acme with the task; the report and `tenantgraph_adopt.orphans` must not also say it
    was archived (left out), as a run that started after that task would not."""
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        await adopt(urls.owner, urls.runtime_role, Requested(orphans="archive", backfill_only=True))
        await run_sync(
            urls.owner,
            lambda c: c.execute(
                text(
                    "INSERT INTO tasks (title, assignee_id, created_by_id, service_id)"
                    " VALUES ('Late', :a, :a, :s)"
                ),
                {"a": U("alice"), "s": U("retired")},
            ),
        )

        report = await adopt(urls.owner, urls.runtime_role, Requested())

        assert report.ok
        services = report.count("services")
        assert (services.archived, services.copies, services.adopted) == (0, 1, 4)
        assert ("services", "archive") not in report.orphan_totals
        placed = await run_sync(
            urls.owner,
            lambda c: (
                c.execute(
                    text(
                        "SELECT t.slug FROM public.services s JOIN public.tenants t"
                        " ON t.id = s.tenant_id WHERE s.id = :s"
                    ),
                    {"s": U("retired")},
                )
                .scalars()
                .all()
            ),
        )
        assert placed == ["acme"]


async def test_a_table_or_view_the_legacy_shape_lacks_is_refused_before_anything_changes(
    admin_url: URL,
) -> None:
    """A legacy database often has more than the shape the adoption knows: a table of its own
    (here attachments of tasks) and a view. Adopted as they are, both stayed in public beside
    the current schema — the view reading every tenant's legacy rows — and the closing verify
    failed after every row had moved: the adoption refuses up front, naming them."""
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)

        def extras(conn: Connection) -> None:
            conn.execute(
                text(
                    "CREATE TABLE attachments (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
                    " task_id uuid REFERENCES tasks (id), url text)"
                )
            )
            conn.execute(text("INSERT INTO attachments (task_id, url) SELECT id, 'x' FROM tasks"))
            conn.execute(text("CREATE VIEW open_tasks AS SELECT * FROM tasks"))

        await run_sync(urls.owner, extras)

        with pytest.raises(AdoptionError) as refused:
            await adopt(urls.owner, urls.runtime_role, Requested())
        assert "table attachments is not part of the legacy shape" in str(refused.value)
        assert "view open_tasks is not part of the legacy shape" in str(refused.value)
        assert await run_sync(urls.owner, adopt_revision) is None

        # moved out of public, they stay the operator's; the adoption goes ahead and is green
        def move(conn: Connection) -> None:
            conn.execute(text("CREATE SCHEMA legacy_extra"))
            conn.execute(text("ALTER TABLE attachments SET SCHEMA legacy_extra"))
            conn.execute(text("ALTER VIEW open_tasks SET SCHEMA legacy_extra"))

        await run_sync(urls.owner, move)
        report = await adopt(urls.owner, urls.runtime_role, Requested())
        assert report.ok
        assert await _runtime_problems(urls) == []


async def test_default_privileges_for_public_are_refused_before_anything_changes(
    admin_url: URL,
) -> None:
    """The legacy owner's default privileges give PUBLIC every privilege on new tables (a
    common legacy setup). Adopted as it was, every table of the current schema carried them —
    the runtime role could TRUNCATE every tenant's rows — and the closing verify failed after
    every row had moved: the adoption refuses up front instead, saying what to revoke."""
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        await run_sync(
            urls.owner,
            lambda c: c.execute(text("ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC")),
        )

        with pytest.raises(AdoptionError, match="default privileges give PUBLIC") as refused:
            await adopt(urls.owner, urls.runtime_role, Requested())
        assert "TRUNCATE" in str(refused.value)
        assert "REVOKE ALL ON TABLES FROM PUBLIC" in str(refused.value)
        assert await run_sync(urls.owner, adopt_revision) is None

        await run_sync(
            urls.owner,
            lambda c: c.execute(text("ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM PUBLIC")),
        )
        report = await adopt(urls.owner, urls.runtime_role, Requested())
        assert report.ok
        assert await _runtime_problems(urls) == []


async def test_health_log_details_that_are_no_object_are_kept_whole(admin_url: URL) -> None:
    """The actor of a health log goes into `details.legacy_actor_id`. Legacy details that are a
    JSON string, array or null were turned into an array of themselves and the actor; they are
    kept whole under `legacy_details` instead, and object details keep their keys."""
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)

        def more_logs(conn: Connection) -> None:
            for key, details in (
                ("h-text", '"disconnected after 30s"'),
                ("h-list", "[1, 2]"),
                ("h-null", "null"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO health_logs (id, actor_id, check_name, status, details)"
                        " VALUES (:i, :a, 'realtime.connect', 'OK', CAST(:d AS jsonb))"
                    ),
                    {"i": U(key), "a": U("bob"), "d": details},
                )

        await run_sync(urls.owner, more_logs)
        assert (await adopt(urls.owner, urls.runtime_role, Requested())).ok

        details = dict(
            await run_sync(
                urls.owner,
                lambda c: c.execute(text("SELECT id, details FROM public.health_logs")).all(),
            )
        )
        bob = str(U("bob"))
        assert details[U("h1")] == {"ip": "10.0.0.1", "legacy_actor_id": bob}
        assert details[U("h-text")] == {
            "legacy_details": "disconnected after 30s",
            "legacy_actor_id": bob,
        }
        assert details[U("h-list")] == {"legacy_details": [1, 2], "legacy_actor_id": bob}
        assert details[U("h-null")] == {"legacy_details": None, "legacy_actor_id": bob}
        assert details[U("h2")] == {"ip": "10.0.0.1"}  # no actor: as it was


async def test_rows_written_while_a_backfill_waits_go_with_their_task_when_resumed(
    admin_url: URL,
) -> None:
    """Interrupted after the tasks were placed, the backfill waits; the legacy application
    writes a task carol is given by bob (their common tenant: globex, though carol's home is
    acme), a compliance record carol creates for it and her audit row about it. Resumed, the
    record and the audit row go with the task to globex, as in a run that was never
    interrupted, instead of to carol's home before the task has a tenant."""
    late_task = uuid.UUID("ffffffff-0000-4000-8000-00000000000a")  # after any cursor
    late_record = uuid.UUID("ffffffff-0000-4000-8000-00000000000b")
    late_audit = uuid.UUID("ffffffff-0000-4000-8000-00000000000c")

    def late_rows(conn: Connection) -> None:
        conn.execute(
            text(
                "INSERT INTO tasks (id, title, assignee_id, created_by_id)"
                " VALUES (:t, 'Late', :c, :b)"
            ),
            {"t": late_task, "c": U("carol"), "b": U("bob")},
        )
        conn.execute(
            text(
                "INSERT INTO compliance_records (id, task_id, title, created_by_id)"
                " VALUES (:i, :t, 'Late record', :c)"
            ),
            {"i": late_record, "t": late_task, "c": U("carol")},
        )
        conn.execute(
            text(
                "INSERT INTO audit_logs (id, actor_id, action, target_type, target_id)"
                " VALUES (:i, :c, 'task.create', 'task', :t)"
            ),
            {"i": late_audit, "c": U("carol"), "t": late_task},
        )

    def placed(conn: Connection) -> dict[str, object]:
        return {
            "tasks": _tenant_of(conn, "tasks"),
            "compliance_records": _tenant_of(conn, "compliance_records"),
            "audit_logs": _tenant_of(conn, "audit_logs"),
            "detached": sorted(
                tuple(map(str, r))
                for r in conn.execute(
                    text("SELECT table_name, row_id, column_name FROM tenantgraph_adopt.detached")
                ).all()
            ),
        }

    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        with pytest.raises(BackfillInterrupted):
            await adopt(urls.owner, urls.runtime_role, Requested(batch_size=2), max_batches=8)
        finished = await run_sync(
            urls.owner,
            lambda c: dict(
                c.execute(text("SELECT step, finished FROM tenantgraph_adopt.progress")).all()
            ),
        )
        assert finished.get("tasks:orphans") is True
        assert "compliance_records" not in finished
        await run_sync(urls.owner, late_rows)
        assert (await adopt(urls.owner, urls.runtime_role, Requested(batch_size=2))).ok
        resumed = await run_sync(urls.owner, placed)
        assert resumed["tasks"][late_task] == "globex"
        assert resumed["compliance_records"][late_record] == "globex"
        assert resumed["audit_logs"][late_audit] == "globex"
    async with scratch_database(admin_url) as straight:
        await run_sync(straight.owner, load_small_legacy)
        await run_sync(straight.owner, late_rows)
        await adopt(straight.owner, straight.runtime_role, Requested(batch_size=2))
        assert await run_sync(straight.owner, placed) == resumed


async def test_a_service_first_used_while_a_backfill_waits_is_no_orphan_when_resumed(
    admin_url: URL,
) -> None:
    """Interrupted after the tasks were placed, the backfill waits; the legacy application adds
    a service and gives alice (acme) a task with it. Resumed, the service goes to acme only,
    as in a run that was never interrupted — not also, as an orphan, to the system tenant."""
    late_service = uuid.UUID("ffffffff-0000-4000-8000-00000000001a")

    def late_rows(conn: Connection) -> None:
        conn.execute(
            text("INSERT INTO services (id, slug, name) VALUES (:s, 'late', 'Late')"),
            {"s": late_service},
        )
        conn.execute(
            text(
                "INSERT INTO tasks (title, assignee_id, created_by_id, service_id)"
                " VALUES ('Late', :a, :a, :s)"
            ),
            {"a": U("alice"), "s": late_service},
        )

    def placed(conn: Connection) -> list[tuple[str, ...]]:
        return sorted(
            tuple(map(str, r))
            for r in conn.execute(
                text(
                    "SELECT s.id::text, t.slug FROM public.services s JOIN public.tenants t"
                    " ON t.id = s.tenant_id UNION ALL SELECT 'orphan', id::text"
                    " FROM tenantgraph_adopt.orphans WHERE table_name = 'services'"
                )
            ).all()
        )

    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        with pytest.raises(BackfillInterrupted):
            await adopt(urls.owner, urls.runtime_role, Requested(batch_size=2), max_batches=8)
        await run_sync(urls.owner, late_rows)
        report = await adopt(urls.owner, urls.runtime_role, Requested(batch_size=2))
        assert report.ok
        resumed = await run_sync(urls.owner, placed)
        assert [p for p in resumed if p[0] == str(late_service)] == [(str(late_service), "acme")]
        assert ("orphan", str(late_service)) not in resumed
    async with scratch_database(admin_url) as straight:
        await run_sync(straight.owner, load_small_legacy)
        await run_sync(straight.owner, late_rows)
        await adopt(straight.owner, straight.runtime_role, Requested(batch_size=2))
        assert await run_sync(straight.owner, placed) == resumed


async def test_a_membership_moved_while_a_backfill_waits_stays_the_default(
    admin_url: URL,
) -> None:
    """Interrupted, the backfill waits; the legacy application moves dave from acme to globex.
    Resumed, his globex membership is his default — a user keeps one default membership — as in
    a run that was never interrupted, not none at all because his home was noted as acme."""

    def move_dave(conn: Connection) -> None:
        conn.execute(text("DELETE FROM tenant_memberships WHERE user_id = :d"), {"d": U("dave")})
        conn.execute(
            text(
                "INSERT INTO tenant_memberships (tenant_id, user_id, role, is_default)"
                " VALUES (:g, :d, 'CLIENT', true)"
            ),
            {"g": U("globex"), "d": U("dave")},
        )

    def defaults(conn: Connection) -> list[tuple[str, ...]]:
        return sorted(
            tuple(map(str, r))
            for r in conn.execute(
                text(
                    "SELECT m.user_id, t.slug, m.is_default FROM public.tenant_memberships m"
                    " JOIN public.tenants t ON t.id = m.tenant_id"
                )
            ).all()
        )

    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        with pytest.raises(BackfillInterrupted):
            await adopt(urls.owner, urls.runtime_role, Requested(batch_size=2), max_batches=3)
        await run_sync(urls.owner, move_dave)
        assert (await adopt(urls.owner, urls.runtime_role, Requested(batch_size=2))).ok
        resumed = await run_sync(urls.owner, defaults)
        assert (str(U("dave")), "globex", "True") in resumed
    async with scratch_database(admin_url) as straight:
        await run_sync(straight.owner, load_small_legacy)
        await run_sync(straight.owner, move_dave)
        await adopt(straight.owner, straight.runtime_role, Requested(batch_size=2))
        assert await run_sync(straight.owner, defaults) == resumed


async def test_connecting_as_a_role_that_does_not_own_the_legacy_tables_says_so(
    admin_url: URL,
) -> None:
    """DATABASE_URL names the wrong role (here the platform role, which owns nothing): the
    refusal says whose tables they are — information_schema hid them from that role, and every
    legacy table was reported missing."""
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)

        with pytest.raises(AdoptionError) as refused:
            await adopt(urls.platform, urls.runtime_role, Requested())
        message = str(refused.value)
        assert f"the legacy tables belong to {urls.owner.username}" in message
        assert "as the role that owns its tables" in message
        assert "is missing" not in message
        assert await run_sync(urls.owner, adopt_revision) is None


async def test_the_owner_of_the_legacy_tables_cannot_be_the_runtime_role(admin_url: URL) -> None:
    """The legacy application often connected as the role that owns its tables; named as the
    runtime role too (TENANTGRAPH_APP_ROLE), requests would run as the schema's owner and the
    closing verify failed after every row had moved. Refused before anything changes."""
    from app.settings import ConfigurationError

    def platform_role(sql: str):  # type: ignore[no-untyped-def]
        return lambda c: c.execute(text(sql))

    async with scratch_database(admin_url) as urls:
        owner = urls.owner.username
        assert owner is not None
        # its platform role exists, as it would once `migrate` or an adoption had made it
        platform = f"{owner}_platform"
        await run_sync(admin_url, platform_role(f'DROP ROLE IF EXISTS "{platform}"'))
        await run_sync(admin_url, platform_role(f'CREATE ROLE "{platform}" NOLOGIN'))
        try:
            await run_sync(urls.owner, load_small_legacy)
            with pytest.raises(ConfigurationError, match="TENANTGRAPH_APP_ROLE to another name"):
                await adopt(urls.owner, owner, Requested())
            assert await run_sync(urls.owner, adopt_revision) is None
        finally:
            await drop_database(admin_url, urls.owner.database or "")
            await run_sync(admin_url, platform_role(f'DROP ROLE IF EXISTS "{platform}"'))


async def test_verify_on_a_legacy_database_points_at_adopt_not_migrate(admin_url: URL) -> None:
    """`tenantgraph migrate` refuses a legacy database, adopted halfway or not at all: verify's
    `migrations.head` must not send the operator there."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from app.verify import run_checks

    async def advice(urls: DatabaseUrls) -> str:
        engine = create_async_engine(urls.owner, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                report = await run_checks(conn, urls.runtime_role, data=False)
        finally:
            await engine.dispose()
        return report["migrations.head"].findings[0].detail

    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        legacy = await advice(urls)
        assert "a legacy database is adopted with `tenantgraph adopt`" in legacy
        assert "tenantgraph migrate" not in legacy
        await adopt(urls.owner, urls.runtime_role, Requested(backfill_only=True))
        halfway = await advice(urls)
        assert "an adoption is under way: finish it with `tenantgraph adopt`" in halfway
        assert "tenantgraph migrate" not in halfway
