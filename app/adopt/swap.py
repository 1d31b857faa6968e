"""Step 4 of the adoption: the legacy tables, every row now with a tenant, move aside into the
`tenantgraph_legacy` schema; the main revisions 0001–0005 build the current schema in `public`
(NOT NULL tenant ids, composite keys, tenant-scoped uniques, row-level security, grants) exactly
as they build a fresh database; the rows are copied in; row counts are checked; the main chain is
stamped at 0005.

A reference the current schema cannot hold — a task's assignee or creator who is not a member
of the task's tenant, a service or task that is not in the row's tenant, an actor account that
does not exist — is copied as NULL and recorded in `tenantgraph_adopt.detached` (the legacy row
keeps it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.adopt.backfill import LEGACY_SCHEMA, SCHEMA, TENANT_TABLES
from app.adopt.legacy import LEGACY_TABLES, SETTINGS_COLUMNS

MAIN_BASELINE = "0005"
"""The revision of the main chain whose shape the adoption builds; later main revisions apply
normally afterwards (`tenantgraph migrate`)."""

L = LEGACY_SCHEMA
A = SCHEMA

MEMBER = (
    f"EXISTS (SELECT 1 FROM {L}.tenant_memberships m"
    " WHERE m.tenant_id = {t} AND m.user_id = r.{c})"
)
SERVICE = (
    f"EXISTS (SELECT 1 FROM {A}.service_tenants s WHERE s.tenant_id = {{t}}"
    " AND s.service_id = r.{c})"
)
TASK = f"EXISTS (SELECT 1 FROM {L}.tasks x WHERE x.tenant_id = {{t}} AND x.id = r.{{c}})"
USER = f"EXISTS (SELECT 1 FROM {L}.users u WHERE u.id = r.{{c}})"

REFERENCES: dict[str, dict[str, str]] = {
    "tasks": {"assignee_id": MEMBER, "created_by_id": MEMBER, "service_id": SERVICE},
    "compliance_records": {"task_id": TASK, "created_by_id": MEMBER},
    "audit_logs": {"actor_id": USER},
}

NOT_ARCHIVED = (
    f"NOT EXISTS (SELECT 1 FROM {A}.orphans o WHERE o.table_name = '{{table}}'"
    " AND o.id = r.id AND o.disposition = 'archive')"
)


def _source(table: str) -> tuple[str, str]:
    """The legacy rows of `table` that are adopted (FROM … WHERE …) and their tenant."""
    if table == "services":
        return (
            f"{L}.services r JOIN {A}.service_tenants st ON st.service_id = r.id WHERE true",
            "st.tenant_id",
        )
    if table in TENANT_TABLES:
        return f"{L}.{table} r WHERE r.tenant_id IS NOT NULL", "r.tenant_id"
    if table in SETTINGS_COLUMNS:
        return f"{L}.{table} r WHERE " + NOT_ARCHIVED.format(table=table), "NULL"
    return f"{L}.{table} r WHERE true", "r.tenant_id"


def _columns(conn: Connection, schema: str, table: str) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"
            ),
            {"s": schema, "t": table},
        ).scalars()
    )


def _expression(table: str, column: str, tenant: str, legacy: list[str]) -> str | None:
    if column == "tenant_id" and table != "tenant_memberships":
        return tenant
    if table == "users" and column == "email":
        return (
            f"COALESCE((SELECT re.new_email FROM {A}.renamed_emails re WHERE re.user_id = r.id),"
            " r.email)"
        )
    if table == "health_logs" and column == "details" and "actor_id" in legacy:
        # `||` on a JSON string, number, array or null would make an array of it and the actor:
        # such details are kept whole under `legacy_details`
        return (
            "CASE WHEN r.actor_id IS NULL THEN r.details"
            " WHEN r.details IS NULL OR jsonb_typeof(r.details) = 'object'"
            " THEN COALESCE(r.details, '{}'::jsonb)"
            " || jsonb_build_object('legacy_actor_id', r.actor_id)"
            " ELSE jsonb_build_object('legacy_details', r.details, 'legacy_actor_id', r.actor_id)"
            " END"
        )
    if table == "tenant_memberships" and column == "is_default":
        # one default membership per user now: the home tenant's (the legacy default, else the
        # oldest membership)
        return (
            f"EXISTS (SELECT 1 FROM {A}.user_home h WHERE h.user_id = r.user_id"
            " AND h.tenant_id = r.tenant_id)"
        )
    check = REFERENCES.get(table, {}).get(column)
    if check is not None:
        return f"CASE WHEN {check.format(t=tenant, c=column)} THEN r.{column} END"
    return f"r.{column}" if column in legacy else None


def move_aside(conn: Connection) -> None:
    conn.execute(text(f"CREATE SCHEMA {L}"))
    tables = list(LEGACY_TABLES)
    if conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is not None:
        tables.append("alembic_version")  # the legacy product's own, if it had one
    for table in tables:
        conn.execute(text(f"ALTER TABLE public.{table} SET SCHEMA {L}"))
        conn.execute(text(f"INSERT INTO {A}.moved_tables (table_name) VALUES (:t)"), {"t": table})


def create_system_tenant(conn: Connection) -> None:
    """The tenant that holds the orphans, when that was the choice and there are any. Created
    suspended: no host resolves to it and nobody signs in to it until an operator decides."""
    conn.execute(
        text(
            "INSERT INTO public.tenants (id, slug, name, status) "
            f"SELECT o.system_tenant_id, o.system_tenant, 'Adopted rows without a tenant',"
            " 'suspended' "
            f"FROM {A}.options o WHERE o.orphans = 'system' AND EXISTS"
            f" (SELECT 1 FROM {A}.orphans x WHERE x.disposition = 'system')"
        )
    )


def copy_rows(conn: Connection) -> None:
    """Every adopted legacy row into the current schema (`public`, built at 0005)."""
    create_system_tenant(conn)
    for table in LEGACY_TABLES:
        target = _columns(conn, "public", table)
        legacy = _columns(conn, L, table)
        source, tenant = _source(table)
        for column, check in REFERENCES.get(table, {}).items():
            conn.execute(
                text(
                    f"INSERT INTO {A}.detached (table_name, tenant_id, row_id, column_name, value)"
                    f" SELECT '{table}', {tenant}, r.id, '{column}', r.{column} FROM {source}"
                    f" AND r.{column} IS NOT NULL AND NOT {check.format(t=tenant, c=column)}"
                    " ON CONFLICT DO NOTHING"
                )
            )
        pairs = [(c, _expression(table, c, tenant, legacy)) for c in target]
        pairs = [(c, e) for c, e in pairs if e is not None]
        if table in SETTINGS_COLUMNS:
            # the platform default that 0002 inserted gives way to the legacy row, if any
            conn.execute(
                text(
                    f"DELETE FROM public.{table} WHERE tenant_id IS NULL AND EXISTS "
                    f"(SELECT 1 FROM {source})"
                )
            )
        conn.execute(
            text(
                f"INSERT INTO public.{table} ({', '.join(c for c, _ in pairs)}) "
                f"SELECT {', '.join(e for _, e in pairs)} FROM {source}"
            )
        )


class CountMismatch(Exception):
    pass


def expected_counts(conn: Connection) -> dict[str, tuple[int, int, int, int]]:
    """Per legacy table: (legacy rows, archived, extra copies, expected adopted rows)."""
    result: dict[str, tuple[int, int, int, int]] = {}
    system = conn.execute(
        text(
            f"SELECT count(*) FROM {A}.options o WHERE o.orphans = 'system' AND EXISTS"
            f" (SELECT 1 FROM {A}.orphans x WHERE x.disposition = 'system')"
        )
    ).scalar_one()
    for table in LEGACY_TABLES:
        legacy = int(conn.execute(text(f"SELECT count(*) FROM {L}.{table}")).scalar_one())
        archived = int(
            conn.execute(
                text(
                    f"SELECT count(*) FROM {A}.orphans WHERE table_name = :t"
                    " AND disposition = 'archive'"
                ),
                {"t": table},
            ).scalar_one()
        )
        copies = 0
        if table == "services":
            pairs = int(
                conn.execute(text(f"SELECT count(*) FROM {A}.service_tenants")).scalar_one()
            )
            copies = pairs - (legacy - archived)
        expected = legacy - archived + copies
        if table == "tenants":
            copies = int(system)
            expected += copies
        if table in SETTINGS_COLUMNS and legacy == 0:
            expected = 1  # no legacy row: the platform default of 0002 stays
        result[table] = (legacy, archived, copies, expected)
    return result


def check_counts(conn: Connection) -> None:
    """Nothing lost: each adopted table holds its legacy rows, less the archived ones, plus the
    copies (services used by several tenants, the system tenant). Raises (and the transaction
    rolls back) otherwise."""
    problems = []
    for table, (legacy, archived, copies, expected) in expected_counts(conn).items():
        adopted = int(conn.execute(text(f"SELECT count(*) FROM public.{table}")).scalar_one())
        conn.execute(
            text(
                f"INSERT INTO {A}.legacy_counts (table_name, rows) VALUES (:t, :n) "
                "ON CONFLICT (table_name) DO UPDATE SET rows = EXCLUDED.rows, counted_at = now()"
            ),
            {"t": table, "n": legacy},
        )
        if adopted != expected:
            problems.append(
                f"{table}: {legacy} legacy rows - {archived} archived + {copies} copies = "
                f"{expected}, but {adopted} adopted"
            )
    services = conn.execute(
        text(
            f"SELECT count(*) FROM {L}.services r WHERE NOT EXISTS (SELECT 1 FROM"
            f" {A}.service_tenants st WHERE st.service_id = r.id) AND "
            + NOT_ARCHIVED.format(table="services")
        )
    ).scalar_one()
    if services:
        problems.append(f"services: {services} legacy services neither adopted nor archived")
    if problems:
        raise CountMismatch("row counts do not add up: " + "; ".join(problems))


def stamp_main(conn: Connection) -> None:
    conn.execute(
        text(
            "CREATE TABLE public.alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )


def main_scripts() -> list[Any]:
    """The main chain's revisions from 0001 to the baseline, oldest first."""
    from alembic.script import ScriptDirectory

    from app.database import MIGRATIONS_DIR

    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    return list(reversed(list(scripts.iterate_revisions(MAIN_BASELINE, "base"))))


def upgrade(conn: Connection) -> None:
    remaining = conn.execute(
        text(
            " UNION ALL ".join(
                f"SELECT '{t}' AS t, count(*) AS n FROM public.{t} r WHERE r.tenant_id IS NULL"
                " AND " + NOT_ARCHIVED.format(table=t)
                for t in TENANT_TABLES
            )
        )
    ).all()
    missing = [f"{r.t}: {r.n}" for r in remaining if r.n]
    if missing:
        raise RuntimeError(
            "rows without a tenant remain (" + ", ".join(missing) + "): run `tenantgraph adopt`"
        )
    move_aside(conn)
    stamp_main(conn)
    for script in main_scripts():
        script.module.upgrade()
    conn.execute(text("INSERT INTO public.alembic_version VALUES (:v)"), {"v": MAIN_BASELINE})
    copy_rows(conn)
    check_counts(conn)


def downgrade(conn: Connection) -> None:
    revision = conn.execute(text("SELECT version_num FROM public.alembic_version")).scalar()
    if revision != MAIN_BASELINE:
        raise RuntimeError(
            f"the main schema is at revision {revision}: downgrade it to {MAIN_BASELINE} first"
        )
    for script in reversed(main_scripts()):
        script.module.downgrade()
    conn.execute(text("DROP TABLE public.alembic_version"))
    conn.execute(text(f"DELETE FROM {A}.detached"))
    conn.execute(text(f"DELETE FROM {A}.legacy_counts"))
    for table in conn.execute(text(f"SELECT table_name FROM {A}.moved_tables")).scalars().all():
        conn.execute(text(f"ALTER TABLE {L}.{table} SET SCHEMA public"))
    conn.execute(text(f"DELETE FROM {A}.moved_tables"))
    conn.execute(text(f"DROP SCHEMA {L}"))
