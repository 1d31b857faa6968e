"""`tenantgraph verify`: green on the migrated and seeded database, red for each kind of defect.

Each defect is planted by a superuser inside a transaction that is rolled back (role attributes
and memberships are transactional too), and the checks run on that same connection, so the shared
test database is never damaged. The command line itself runs once against the test database and
once against a scratch database with a committed defect."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from app.cli import cli
from app.database import DatabaseUrls
from app.verify import (
    CHECK_IDS,
    EXCEPTIONS,
    SERVE_SKIPS,
    Report,
    _tenant_references,
    read_catalog,
    run_checks,
)
from tests.conftest import SuiteDatabase, drop_database, fresh_database, migrate_database


def failing(report: Report) -> set[str]:
    return {c.id for c in report.failed}


@pytest.fixture
async def admin_conn(test_database: SuiteDatabase) -> AsyncIterator[AsyncConnection]:
    """A superuser connection to the test database, in a transaction rolled back afterwards."""
    engine = create_async_engine(
        test_database.admin.set(database=test_database.urls.owner.database), poolclass=NullPool
    )
    try:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            if not await conn.scalar(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ):
                await transaction.rollback()
                pytest.skip("planting defects needs a superuser (DATABASE_URL is not one)")
            yield conn
            await transaction.rollback()
    finally:
        await engine.dispose()


# --- green ---------------------------------------------------------------------------------------


async def test_every_check_passes_on_the_migrated_and_seeded_database(
    test_database: SuiteDatabase, owner_conn: AsyncConnection
) -> None:
    # as the owner, the way the command line runs them: the data checks read every row through
    # the owner's maintenance policies
    report = await run_checks(owner_conn, test_database.urls.runtime_role)
    assert [c.id for c in report.checks] == list(CHECK_IDS)
    # the ids are a contract (scripts read --json): changing one is a breaking change
    assert CHECK_IDS == (
        "migrations.head",
        "registry.tables",
        "tenant_id.not_null",
        "tenant_id.parent_match",
        "rls.enabled",
        "rls.forced",
        "rls.policies",
        "rls.policy_roles",
        "rls.tenant_bound",
        "views.security_invoker",
        "functions.search_path",
        "functions.definers",
        "rules.none",
        "role.not_superuser",
        "role.no_bypassrls",
        "role.owns_nothing",
        "role.privileges",
        "role.memberships",
        "role.settings",
        "role.platform",
        "role.other_schemas",
        "keys.tenant_leading",
    )
    assert [c.id for c in report.checks if not c.passed] == [], report.problems()
    assert report.ok
    document = json.loads(json.dumps(report.as_dict()))
    assert document["summary"] == {"checks": len(CHECK_IDS), "passed": len(CHECK_IDS), "failed": 0}
    # every deliberate deviation is reported as allowed, none silently skipped
    allowed = {(c["id"], a["object"]) for c in document["checks"] for a in c["allowed"]}
    for entry in EXCEPTIONS:
        name = entry.name if entry.check == "keys.tenant_leading" else "tenant_id"
        assert (entry.check, f"{entry.table}.{name}") in allowed, entry


async def test_parent_child_pairs_come_from_the_models_and_the_catalog(
    test_database: SuiteDatabase, owner_conn: AsyncConnection
) -> None:
    catalog = await read_catalog(owner_conn, test_database.urls.runtime_role)
    pairs = {(r.child, r.child_columns, r.parent) for r in _tenant_references(catalog)}
    assert ("tasks", ("tenant_id", "assignee_id"), "tenant_memberships") in pairs
    assert ("compliance_records", ("tenant_id", "task_id"), "tasks") in pairs
    assert ("bookings", ("tenant_id", "service_id"), "services") in pairs
    assert ("health_logs", ("tenant_id",), "tenants") in pairs
    # a dropped constraint leaves the pair in place (the models still declare it)
    await owner_conn.execute(
        text("ALTER TABLE compliance_records DROP CONSTRAINT fk_compliance_records_task")
    )
    catalog = await read_catalog(owner_conn, test_database.urls.runtime_role)
    pairs = {(r.child, r.child_columns, r.parent) for r in _tenant_references(catalog)}
    assert ("compliance_records", ("tenant_id", "task_id"), "tasks") in pairs


async def test_a_view_with_security_invoker_passes(
    test_database: SuiteDatabase, admin_conn: AsyncConnection
) -> None:
    await admin_conn.execute(
        text("CREATE VIEW open_tasks WITH (security_invoker = on) AS SELECT * FROM tasks")
    )
    report = await run_checks(admin_conn, test_database.urls.runtime_role)
    assert report.ok, report.problems()


async def test_a_permissive_policy_under_a_restrictive_tenant_policy_passes(
    test_database: SuiteDatabase, admin_conn: AsyncConnection
) -> None:
    # restrictive policies are AND-ed: the permissive USING (true) cannot open another tenant
    await admin_conn.execute(
        text(
            "CREATE POLICY planted_tenant ON tasks AS RESTRICTIVE USING (tenant_id = "
            "(SELECT NULLIF(current_setting('app.current_tenant_id', true), '')::uuid))"
        )
    )
    await admin_conn.execute(text("CREATE POLICY planted_open ON tasks USING (true)"))
    report = await run_checks(admin_conn, test_database.urls.runtime_role)
    assert report.ok, report.problems()


async def test_an_extension_in_its_own_schema_is_not_a_reach_outside_the_schema(
    test_database: SuiteDatabase, admin_conn: AsyncConnection
) -> None:
    # pg_stat_statements grants SELECT on its views to PUBLIC: an extension's own objects hold no
    # tenant rows, and role.other_schemas does not count them
    available = await admin_conn.scalar(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'")
    )
    if not available:
        pytest.skip("pg_stat_statements is not available on this server")
    await admin_conn.execute(text("CREATE SCHEMA planted_ext"))
    await admin_conn.execute(
        text(f'GRANT USAGE ON SCHEMA planted_ext TO "{test_database.urls.runtime_role}"')
    )
    await admin_conn.execute(text("CREATE EXTENSION pg_stat_statements SCHEMA planted_ext"))
    report = await run_checks(admin_conn, test_database.urls.runtime_role)
    assert report.ok, report.problems()


# --- red: one kind of defect at a time -----------------------------------------------------------

ACME = "(SELECT id FROM tenants WHERE slug = 'acme')"
GLOBEX = "(SELECT id FROM tenants WHERE slug = 'globex')"


@dataclass(frozen=True)
class Defect:
    name: str
    statements: tuple[str, ...]
    check: str
    found: str  # a piece of the failing object's name


DEFECTS = [
    Defect(
        "null tenant id",
        (
            # the primary key implies NOT NULL: it goes first
            "ALTER TABLE health_logs DROP CONSTRAINT pk_health_logs",
            "ALTER TABLE health_logs ALTER COLUMN tenant_id DROP NOT NULL",
            "INSERT INTO health_logs (tenant_id, check_name, status) VALUES (NULL, 'x', 'OK')",
        ),
        "tenant_id.not_null",
        "health_logs",
    ),
    Defect(
        "compliance record pointing at another tenant's task",
        (
            "ALTER TABLE compliance_records DROP CONSTRAINT fk_compliance_records_task",
            f"INSERT INTO compliance_records (tenant_id, task_id, title) SELECT {ACME}, t.id, "
            f"'planted' FROM tasks t WHERE t.tenant_id = {GLOBEX} LIMIT 1",
        ),
        "tenant_id.parent_match",
        "compliance_records (tenant_id, task_id) → tasks",
    ),
    Defect(
        "task assigned to a member of another tenant only",
        (
            "ALTER TABLE tasks DROP CONSTRAINT fk_tasks_assignee",
            f"UPDATE tasks SET assignee_id = (SELECT m.user_id FROM tenant_memberships m "
            f"WHERE m.tenant_id = {GLOBEX} AND m.user_id NOT IN (SELECT user_id FROM "
            f"tenant_memberships WHERE tenant_id = {ACME}) LIMIT 1) "
            f"WHERE id = (SELECT id FROM tasks WHERE tenant_id = {ACME} LIMIT 1)",
        ),
        "tenant_id.parent_match",
        "tasks (tenant_id, assignee_id) → tenant_memberships",
    ),
    Defect(
        "row-level security disabled",
        ("ALTER TABLE tasks DISABLE ROW LEVEL SECURITY",),
        "rls.enabled",
        "tasks",
    ),
    Defect(
        "row-level security not forced",
        ("ALTER TABLE bookings NO FORCE ROW LEVEL SECURITY",),
        "rls.forced",
        "bookings",
    ),
    Defect(
        "table without a policy",
        (
            "DROP POLICY health_logs_isolation ON health_logs",
            "DROP POLICY health_logs_owner_maintenance ON health_logs",
        ),
        "rls.policies",
        "health_logs",
    ),
    Defect(
        "policy for an unexpected role",
        (
            "CREATE ROLE tenantgraph_planted_reporting NOLOGIN",
            "CREATE POLICY planted_reporting ON tasks FOR SELECT TO tenantgraph_planted_reporting "
            "USING (true)",
        ),
        "rls.policy_roles",
        "tasks.planted_reporting",
    ),
    Defect(
        "a permissive USING (true) policy for PUBLIC next to the isolation policy",
        ("CREATE POLICY planted_everyone ON tasks FOR SELECT TO PUBLIC USING (true)",),
        "rls.tenant_bound",
        "tasks.planted_everyone",
    ),
    Defect(
        "the isolation policy rewritten to ignore the tenant",
        ("ALTER POLICY tasks_isolation ON tasks USING (status IS NOT NULL) WITH CHECK (true)",),
        "rls.tenant_bound",
        "tasks.tasks_isolation",
    ),
    Defect(
        "an extra permissive policy for the runtime role on another column",
        ("CREATE POLICY planted_urgent ON tasks FOR SELECT TO {app} USING (priority = 'URGENT')",),
        "rls.tenant_bound",
        "tasks.planted_urgent",
    ),
    Defect(
        "a permissive INSERT policy that checks nothing",
        ("CREATE POLICY planted_insert ON audit_logs FOR INSERT WITH CHECK (true)",),
        "rls.tenant_bound",
        "audit_logs.planted_insert",
    ),
    Defect(
        "a policy on current_user instead of the tenant",
        ("CREATE POLICY planted_who ON bookings FOR SELECT USING (current_user = current_user)",),
        "rls.tenant_bound",
        "bookings.planted_who",
    ),
    Defect(
        "a copy of a tenant table in another schema, readable by the runtime role",
        (
            "CREATE SCHEMA planted_reporting",
            "CREATE TABLE planted_reporting.task_copy AS SELECT * FROM public.tasks",
            "GRANT USAGE ON SCHEMA planted_reporting TO {app}",
            "GRANT SELECT ON planted_reporting.task_copy TO {app}",
        ),
        "role.other_schemas",
        "planted_reporting.task_copy",
    ),
    Defect(
        "a view with its owner's rights in another schema",
        (
            "CREATE SCHEMA planted_reporting",
            "CREATE VIEW planted_reporting.all_tasks AS SELECT * FROM public.tasks",
            "GRANT USAGE ON SCHEMA planted_reporting TO {app}",
            "GRANT SELECT ON planted_reporting.all_tasks TO {app}",
        ),
        "role.other_schemas",
        "planted_reporting.all_tasks",
    ),
    Defect(
        "a SECURITY DEFINER function in another schema",
        (
            "CREATE SCHEMA planted_util",
            "GRANT USAGE ON SCHEMA planted_util TO {app}",
            "CREATE FUNCTION planted_util.titles() RETURNS SETOF text LANGUAGE sql "
            "SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT title FROM public.tasks'",
        ),
        "role.other_schemas",
        "planted_util.titles()",
    ),
    Defect(
        "a SECURITY DEFINER trigger function in a schema the runtime role cannot even use",
        (
            "CREATE SCHEMA planted_hidden",
            "CREATE FUNCTION planted_hidden.copy_out() RETURNS trigger LANGUAGE plpgsql "
            "SECURITY DEFINER SET search_path = pg_catalog AS $$ BEGIN UPDATE public.tasks "
            "SET title = NEW.action WHERE tenant_id <> NEW.tenant_id; RETURN NEW; END $$",
            "REVOKE ALL ON FUNCTION planted_hidden.copy_out() FROM PUBLIC",
            "CREATE TRIGGER planted_copy_out AFTER INSERT ON audit_logs FOR EACH ROW "
            "EXECUTE FUNCTION planted_hidden.copy_out()",
        ),
        "functions.definers",
        "planted_hidden.copy_out()",
    ),
    Defect(
        "a rule that writes other tenants' rows with the owner's rights",
        (
            "CREATE RULE planted_rule AS ON INSERT TO audit_logs DO ALSO UPDATE tasks "
            "SET title = NEW.action WHERE tenant_id <> NEW.tenant_id",
        ),
        "rules.none",
        "audit_logs.planted_rule",
    ),
    Defect(
        "view without security_invoker",
        ("CREATE VIEW task_titles AS SELECT tenant_id, title FROM tasks",),
        "views.security_invoker",
        "task_titles",
    ),
    Defect(
        "materialized view readable by the runtime role",
        (
            "CREATE MATERIALIZED VIEW task_counts AS SELECT tenant_id, count(*) FROM tasks "
            "GROUP BY tenant_id",
            "GRANT SELECT ON task_counts TO {app}",
        ),
        "views.security_invoker",
        "task_counts",
    ),
    Defect(
        "SECURITY DEFINER function without search_path",
        # a registered crossing loses its pinned search_path
        ("ALTER FUNCTION tenantgraph_login_lookup(text) RESET search_path",),
        "functions.search_path",
        "tenantgraph_login_lookup",
    ),
    Defect(
        "SECURITY DEFINER function whose search_path names $user",
        (
            "ALTER FUNCTION tenantgraph_login_lookup(text) "
            'SET search_path = "$user", pg_catalog, pg_temp',
        ),
        "functions.search_path",
        "tenantgraph_login_lookup",
    ),
    Defect(
        "runtime role is a superuser",
        ("ALTER ROLE {app} SUPERUSER",),
        "role.not_superuser",
        "tenantgraph_app",
    ),
    Defect(
        "runtime role has BYPASSRLS",
        ("ALTER ROLE {app} BYPASSRLS",),
        "role.no_bypassrls",
        "tenantgraph_app",
    ),
    Defect(
        "runtime role owns a function",
        (
            "CREATE FUNCTION planted_one() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
            "ALTER FUNCTION planted_one() OWNER TO {app}",
        ),
        "role.owns_nothing",
        "planted_one()",
    ),
    Defect(
        "runtime role may truncate a tenant table",
        ("GRANT TRUNCATE ON tasks TO {app}",),
        "role.privileges",
        "tasks",
    ),
    Defect(
        "runtime role may read and erase the super-admins' audit trail",
        ("GRANT SELECT, DELETE ON platform_audit_logs TO {app}",),
        "role.privileges",
        "platform_audit_logs",
    ),
    Defect(
        "runtime role may read a column of the super-admins' audit trail",
        ("GRANT SELECT (details) ON platform_audit_logs TO {app}",),
        "role.privileges",
        "platform_audit_logs",
    ),
    Defect(
        "runtime role may create in the schema",
        ("GRANT CREATE ON SCHEMA public TO {app}",),
        "role.privileges",
        "public",
    ),
    Defect(
        "runtime role has REPLICATION",
        ("ALTER ROLE {app} REPLICATION",),
        "role.no_bypassrls",
        "tenantgraph_app",
    ),
    Defect(
        "runtime role may run programs on the server (COPY FROM PROGRAM 'psql ...')",
        ("GRANT pg_execute_server_program TO {app}",),
        "role.memberships",
        "pg_execute_server_program",
    ),
    Defect(
        "runtime role may read the server's files (the data files of every tenant)",
        ("GRANT pg_read_server_files TO {app}",),
        "role.memberships",
        "pg_read_server_files",
    ),
    Defect(
        "runtime role is a member of the owner",
        ("GRANT {owner} TO {app}",),
        "role.memberships",
        "",
    ),
    Defect(
        "runtime role is a member of a BYPASSRLS role, through another role",
        (
            "CREATE ROLE tenantgraph_planted_bypass NOLOGIN BYPASSRLS",
            "CREATE ROLE tenantgraph_planted_middle NOLOGIN",
            "GRANT tenantgraph_planted_bypass TO tenantgraph_planted_middle",
            "GRANT tenantgraph_planted_middle TO {app}",
        ),
        "role.memberships",
        "tenantgraph_planted_bypass",
    ),
    Defect(
        "runtime role may SET ROLE to a role that may truncate the tenant tables",
        (
            "CREATE ROLE tenantgraph_planted_cleanup NOLOGIN",
            "GRANT TRUNCATE ON tasks, audit_logs TO tenantgraph_planted_cleanup",
            "GRANT tenantgraph_planted_cleanup TO {app}",
        ),
        "role.memberships",
        "tenantgraph_planted_cleanup",
    ),
    Defect(
        "runtime role may SET ROLE to pg_read_all_data (every table of every schema)",
        ("GRANT pg_read_all_data TO {app}",),
        "role.memberships",
        "pg_read_all_data",
    ),
    Defect(
        "an unregistered SECURITY DEFINER function",
        (
            "CREATE FUNCTION planted_peek() RETURNS bigint LANGUAGE sql SECURITY DEFINER "
            "SET search_path = pg_catalog, pg_temp AS $$ SELECT count(*) FROM public.tasks $$",
            "REVOKE ALL ON FUNCTION planted_peek() FROM PUBLIC",
        ),
        "functions.definers",
        "planted_peek()",
    ),
    Defect(
        "a registered crossing that PUBLIC may execute",
        ("GRANT EXECUTE ON FUNCTION tenantgraph_login_lookup(text) TO PUBLIC",),
        "functions.definers",
        "tenantgraph_login_lookup(text)",
    ),
    Defect(
        "runtime role logs in with a default tenant (a forgotten context reads that tenant)",
        (
            f"DO $$ BEGIN EXECUTE format('ALTER ROLE {{app}} SET app.current_tenant_id = %L', "
            f"{ACME}::text); END $$",
        ),
        "role.settings",
        "app.current_tenant_id",
    ),
    Defect(
        "every role of the database logs in as a super-admin context",
        (
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET app.is_superadmin = true', "
            "current_database()); END $$",
        ),
        "role.settings",
        "every role: app.is_superadmin",
    ),
    Defect(
        "runtime role logs in with the foreign-key triggers switched off",
        ("ALTER ROLE {app} SET session_replication_role = replica",),
        "role.settings",
        "session_replication_role",
    ),
    Defect(
        "runtime role is a member of the platform role",
        ("GRANT {platform} TO {app}",),
        "role.platform",
        "tenantgraph_app_platform",
    ),
    Defect(
        "platform role holds a table privilege",
        ("GRANT SELECT ON tasks TO {platform}",),
        "role.platform",
        "tasks",
    ),
    Defect(
        "platform role has BYPASSRLS",
        ("ALTER ROLE {platform} BYPASSRLS",),
        "role.platform",
        "tenantgraph_app_platform",
    ),
    Defect(
        "unique constraint not led by tenant_id",
        ("ALTER TABLE bookings ADD CONSTRAINT uq_bookings_id UNIQUE (id)",),
        "keys.tenant_leading",
        "bookings.uq_bookings_id",
    ),
    Defect(
        "unique index not led by tenant_id",
        ("CREATE UNIQUE INDEX uq_tasks_title_planted ON tasks (id, tenant_id)",),
        "keys.tenant_leading",
        "tasks.uq_tasks_title_planted",
    ),
    Defect(
        "foreign key between tenant tables not led by tenant_id",
        (
            "ALTER TABLE compliance_records DROP CONSTRAINT fk_compliance_records_task",
            "CREATE UNIQUE INDEX uq_tasks_id_tenant ON tasks (id, tenant_id)",
            "ALTER TABLE compliance_records ADD CONSTRAINT fk_planted_task "
            "FOREIGN KEY (task_id, tenant_id) REFERENCES tasks (id, tenant_id)",
        ),
        "keys.tenant_leading",
        "compliance_records.fk_planted_task",
    ),
    Defect(
        "a new table without tenant governance",
        ("CREATE TABLE invoices (id uuid PRIMARY KEY, amount integer)",),
        "registry.tables",
        "invoices",
    ),
    Defect(
        "a new tenant table, protected, but not registered in code",
        (
            "CREATE TABLE invoices (tenant_id uuid NOT NULL, id uuid NOT NULL, "
            "PRIMARY KEY (tenant_id, id))",
            "ALTER TABLE invoices ENABLE ROW LEVEL SECURITY",
            "ALTER TABLE invoices FORCE ROW LEVEL SECURITY",
            "CREATE POLICY invoices_isolation ON invoices USING (tenant_id = "
            "NULLIF(current_setting('app.current_tenant_id', true), '')::uuid)",
        ),
        "registry.tables",
        "invoices",
    ),
    Defect(
        "a foreign table in the schema (row-level security cannot be enabled on one)",
        (
            "CREATE FOREIGN DATA WRAPPER planted_fdw",
            "CREATE SERVER planted_loopback FOREIGN DATA WRAPPER planted_fdw",
            "CREATE FOREIGN TABLE all_tasks (tenant_id uuid, id uuid, title text) "
            "SERVER planted_loopback",
            "GRANT SELECT ON all_tasks TO {app}",
        ),
        "registry.tables",
        "all_tasks",
    ),
    Defect(
        "a registered table missing from the database",
        ("DROP TABLE health_logs",),
        "registry.tables",
        "health_logs",
    ),
    Defect(
        "migrations behind head",
        ("UPDATE alembic_version SET version_num = '0004'",),
        "migrations.head",
        "alembic_version",
    ),
]


@pytest.mark.parametrize("defect", DEFECTS, ids=[d.name for d in DEFECTS])
async def test_each_planted_defect_fails_its_check_and_only_it(
    test_database: SuiteDatabase, admin_conn: AsyncConnection, defect: Defect
) -> None:
    urls = test_database.urls
    names = {
        "app": f'"{urls.runtime_role}"',
        "owner": f'"{urls.owner.username}"',
        "platform": f'"{urls.platform.username}"',
    }
    before = await run_checks(admin_conn, urls.runtime_role)
    assert before.ok, before.problems()
    for statement in defect.statements:
        await admin_conn.execute(text(statement.format(**names) if "{" in statement else statement))
    report = await run_checks(admin_conn, urls.runtime_role)
    assert failing(report) == {defect.check}, report.problems()
    findings = report[defect.check].findings
    assert any(defect.found in f.object for f in findings), findings


async def test_the_runtime_role_owning_a_table_is_caught(
    test_database: SuiteDatabase, admin_conn: AsyncConnection
) -> None:
    await admin_conn.execute(
        text(f'ALTER TABLE health_logs OWNER TO "{test_database.urls.runtime_role}"')
    )
    report = await run_checks(admin_conn, test_database.urls.runtime_role)
    assert "role.owns_nothing" in failing(report)
    assert any("health_logs" in f.object for f in report["role.owns_nothing"].findings)
    # an owner holds every privilege, and the maintenance policy now names a role that is no
    # longer the owner: both reported too
    assert failing(report) == {"role.owns_nothing", "role.privileges", "rls.policy_roles"}


async def test_the_mismatch_names_the_rows_and_where_their_parent_is(
    test_database: SuiteDatabase, admin_conn: AsyncConnection
) -> None:
    await admin_conn.execute(
        text("ALTER TABLE compliance_records DROP CONSTRAINT fk_compliance_records_task")
    )
    planted = await admin_conn.scalar(
        text(
            f"INSERT INTO compliance_records (tenant_id, task_id, title) SELECT {ACME}, t.id, "
            f"'planted' FROM tasks t WHERE t.tenant_id = {GLOBEX} LIMIT 1 RETURNING id"
        )
    )
    assert planted is not None  # globex has tasks to point at
    report = await run_checks(admin_conn, test_database.urls.runtime_role)
    (finding,) = report["tenant_id.parent_match"].findings
    assert str(planted) in finding.detail
    assert "parent in another tenant" in finding.detail
    # acme's own records are not reported
    assert finding.detail.startswith("1 row(s) of compliance_records")


async def test_a_row_naming_a_missing_tenant_is_caught(
    test_database: SuiteDatabase, admin_conn: AsyncConnection
) -> None:
    # the foreign key to tenants dropped, a health log names a tenant that never existed
    await admin_conn.execute(
        text("ALTER TABLE health_logs DROP CONSTRAINT health_logs_tenant_id_fkey")
    )
    await admin_conn.execute(
        text(
            "INSERT INTO health_logs (tenant_id, check_name, status) "
            "VALUES (gen_random_uuid(), 'planted', 'OK')"
        )
    )
    report = await run_checks(admin_conn, test_database.urls.runtime_role)
    assert failing(report) == {"tenant_id.parent_match"}
    (finding,) = report["tenant_id.parent_match"].findings
    assert finding.object == "health_logs (tenant_id) → tenants (id)"
    assert "1 row(s) of health_logs name a tenant that does not exist" in finding.detail


async def test_data_checks_never_pass_on_rows_they_cannot_see(
    test_database: SuiteDatabase, owner_conn: AsyncConnection
) -> None:
    superuser = (
        await owner_conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
    ).scalar_one()
    if superuser:
        pytest.skip("the owner is a superuser here (DATABASE_URL): row-level security never hides")
    # without its maintenance policy the owner (RLS forced) sees no health_logs row: the data
    # checks say so instead of counting zero bad rows
    await owner_conn.execute(text("DROP POLICY health_logs_owner_maintenance ON health_logs"))
    report = await run_checks(owner_conn, test_database.urls.runtime_role)
    assert failing(report) == {"tenant_id.not_null", "tenant_id.parent_match"}
    assert all("not all visible" in f.detail for c in report.failed for f in c.findings)


async def test_serve_checks_skip_the_row_scans_but_not_the_schema(
    test_database: SuiteDatabase, admin_conn: AsyncConnection
) -> None:
    await admin_conn.execute(text("ALTER TABLE health_logs DROP CONSTRAINT pk_health_logs"))
    await admin_conn.execute(text("ALTER TABLE health_logs ALTER COLUMN tenant_id DROP NOT NULL"))
    await admin_conn.execute(text("CREATE UNIQUE INDEX uq_tasks_planted ON tasks (id)"))
    report = await run_checks(
        admin_conn, test_database.urls.runtime_role, data=False, skip=SERVE_SKIPS
    )
    ran = {c.id for c in report.checks}
    assert ran == set(CHECK_IDS) - {"tenant_id.parent_match", "keys.tenant_leading"}
    # the nullable column is reported without reading a row
    assert failing(report) == {"tenant_id.not_null"}


# --- the command line ----------------------------------------------------------------------------


def _env(urls: DatabaseUrls) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("TENANTGRAPH_")}
    env["DATABASE_URL"] = urls.owner.render_as_string(hide_password=False)
    env["TENANTGRAPH_APP_DATABASE_URL"] = urls.runtime.render_as_string(hide_password=False)
    return env


async def _invoke(urls: DatabaseUrls, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, cli, ["verify", *args], env=_env(urls))
    return result.exit_code, result.stdout, result.stderr


async def test_cli_green_on_the_test_database(test_database: SuiteDatabase) -> None:
    code, stdout, stderr = await _invoke(test_database.urls, "--json")
    assert code == 0, stderr
    document = json.loads(stdout)
    assert document["ok"] is True
    assert [c["id"] for c in document["checks"]] == list(CHECK_IDS)
    assert {c["status"] for c in document["checks"]} == {"pass"}
    code, stdout, _ = await _invoke(test_database.urls)
    assert code == 0
    assert f"{len(CHECK_IDS)} of {len(CHECK_IDS)} checks passed" in stdout
    assert "FAIL" not in stdout


@pytest.fixture
async def scratch(admin_url: URL) -> AsyncIterator[DatabaseUrls]:
    name = f"tenantgraph_verify_{os.getpid()}"
    urls = await fresh_database(admin_url, name)
    try:
        await migrate_database(urls)
        yield urls
    finally:
        await drop_database(admin_url, name)


async def test_cli_red_on_a_scratch_database_with_a_defect(scratch: DatabaseUrls) -> None:
    engine = create_async_engine(scratch.owner, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY"))
            await conn.execute(text("CREATE TABLE invoices (id uuid PRIMARY KEY)"))
    finally:
        await engine.dispose()
    code, stdout, stderr = await _invoke(scratch, "--json")
    assert code == 1
    document = json.loads(stdout)
    assert document["ok"] is False
    failed = {c["id"]: c["findings"] for c in document["checks"] if c["status"] == "fail"}
    assert set(failed) == {"rls.forced", "registry.tables"}
    assert failed["rls.forced"] == [
        {"object": "tasks", "detail": "table tasks has row-level security enabled but not forced"}
    ]
    assert f"2 of {len(CHECK_IDS)} checks failed" in stderr
    code, stdout, _ = await _invoke(scratch)
    assert code == 1
    assert "FAIL rls.forced" in stdout
    assert "✗ invoices" in stdout


async def test_cli_exit_2_when_the_database_cannot_be_reached(
    test_database: SuiteDatabase,
) -> None:
    unreachable = test_database.urls.owner.set(host="127.0.0.1", port=1, query={})
    urls = DatabaseUrls(owner=unreachable, runtime=unreachable.set(username="tenantgraph_app"))
    code, stdout, stderr = await _invoke(urls, "--json")
    assert code == 2
    assert json.loads(stdout)["ok"] is False
    assert "cannot verify" in stderr


async def test_a_missing_runtime_role_is_reported_not_crashed_on(
    owner_conn: AsyncConnection,
) -> None:
    report = await run_checks(owner_conn, "tenantgraph_nobody")
    # (its platform role does not exist either)
    assert failing(report) == {"role.not_superuser", "role.platform"}
    assert "does not exist" in report["role.not_superuser"].findings[0].detail
