"""Step 2 and 3 of the adoption: give every legacy row a tenant, through its relationships.

Every step works on the legacy tables in `public` (which by then have a nullable `tenant_id`,
revision adopt_0002) and keeps its bookkeeping in the `tenantgraph_adopt` schema:

- `progress` — per step, the last id handled and the rows seen: a batch and its progress row
  commit together, so an interrupted run resumes after the last committed batch, and re-running a
  finished step does nothing;
- `user_home` — each user's home tenant: the default membership, else the oldest;
- `service_tenants` — every (service, tenant) pair the service is copied into;
- `orphans` — rows no relationship leads to a tenant: given to the system tenant, or archived
  (the row as JSON) and left out of the adopted tables;
- `renamed_emails` — accounts whose email differs from an earlier account's only by letter case.

Which tenant a row gets (first rule that answers):

- tasks: a tenant both the assignee and the creator belong to; else the assignee's home; else
  the creator's home;
- compliance_records: its task's tenant; else the creator's home;
- audit_logs: the tenant of the task or compliance record it names (`target_type` `task` or
  `compliance_record`), whoever the actor; else the actor's home;
- health_logs: the actor's home;
- services: every tenant whose tasks use it (the tenant with most of them keeps the row, each
  other one gets a copy with the same id and slug);
- settings singletons: the newest row becomes the platform default (`tenant_id` NULL); further
  rows are archived.

The steps only ever write `tenant_id` and the bookkeeping: the legacy data itself is not changed
until the swap (adopt_0004) copies it into the current schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.adopt.legacy import SETTINGS_COLUMNS

SCHEMA = "tenantgraph_adopt"
LEGACY_SCHEMA = "tenantgraph_legacy"
OrphanPolicy = Literal["system", "archive"]

# the legacy tables that receive a tenant_id (the others are global or already keyed by tenant)
TENANT_TABLES: tuple[str, ...] = (
    "tasks",
    "compliance_records",
    "audit_logs",
    "health_logs",
    "services",
)

# a user's home tenant, read from the memberships as they are when the row is placed (not from
# the `user_home` snapshot of the first run: an account the legacy application created while an
# interrupted backfill waited to resume has no entry there, and its rows would go to the other
# person's tenant or to the system tenant); the same order as `user_home`
_HOME = (
    "(SELECT m.tenant_id FROM public.tenant_memberships m WHERE m.user_id = r.{col}"
    " ORDER BY m.is_default DESC, m.created_at, m.tenant_id LIMIT 1)"
)

PICK: dict[str, str] = {
    "tasks": (
        "COALESCE((SELECT ma.tenant_id FROM public.tenant_memberships ma"
        " JOIN public.tenant_memberships mc ON mc.tenant_id = ma.tenant_id"
        "  AND mc.user_id = r.created_by_id"
        " WHERE ma.user_id = r.assignee_id"
        " ORDER BY ma.is_default DESC, ma.created_at, ma.tenant_id LIMIT 1), "
        + _HOME.format(col="assignee_id")
        + ", "
        + _HOME.format(col="created_by_id")
        + ")"
    ),
    "compliance_records": (
        "COALESCE((SELECT t.tenant_id FROM public.tasks t WHERE t.id = r.task_id), "
        + _HOME.format(col="created_by_id")
        + ")"
    ),
    # the row it names decides, whoever the actor was: its changes are that tenant's data (an
    # actor who is no member there must not carry them into their own tenant)
    "audit_logs": (
        "COALESCE(CASE r.target_type WHEN 'task' THEN"
        " (SELECT t.tenant_id FROM public.tasks t WHERE t.id = r.target_id)"
        " WHEN 'compliance_record' THEN"
        " (SELECT c.tenant_id FROM public.compliance_records c WHERE c.id = r.target_id) END, "
        + _HOME.format(col="actor_id")
        + ")"
    ),
    "health_logs": _HOME.format(col="actor_id"),
}


def _unplaced(table: str, column: str) -> str:
    """The row of `table` that `r.{column}` names exists but has no tenant yet, and is no
    archived orphan: the legacy application wrote it after its step was done (while the
    backfill ran or waited to resume), and the final sweep places it first."""
    return (
        f"EXISTS (SELECT 1 FROM public.{table} p WHERE p.id = r.{column} AND p.tenant_id IS NULL"
        f" AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.orphans o WHERE o.table_name = '{table}'"
        " AND o.id = p.id))"
    )


# Rows whose tenant comes from a parent that has none yet wait for the final sweep: placed now by
# the fallback (the creator's or actor's home), they would not go with their task or record as a
# run that started after them does.
DEFER: dict[str, str] = {
    "compliance_records": _unplaced("tasks", "task_id"),
    "audit_logs": (
        "CASE r.target_type WHEN 'task' THEN "
        + _unplaced("tasks", "target_id")
        + " WHEN 'compliance_record' THEN "
        + _unplaced("compliance_records", "target_id")
        + " ELSE false END"
    ),
    # a service that a task without a tenant yet uses is no orphan: the sweep gives it that
    # task's tenant
    "services": (
        "EXISTS (SELECT 1 FROM public.tasks p WHERE p.service_id = r.id AND p.tenant_id IS NULL"
        f" AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.orphans o WHERE o.table_name = 'tasks'"
        " AND o.id = p.id))"
    ),
}


@dataclass(frozen=True)
class Options:
    orphans: OrphanPolicy = "system"
    system_tenant: str = "system"
    batch_size: int = 1000


@dataclass(frozen=True)
class Step:
    name: str
    table: str
    kind: Literal["setup", "pick", "services", "orphans", "settings"]


STEPS: tuple[Step, ...] = (
    Step("user_home", "tenant_memberships", "setup"),
    Step("emails", "users", "setup"),
    Step("tasks", "tasks", "pick"),
    Step("tasks:orphans", "tasks", "orphans"),
    Step("compliance_records", "compliance_records", "pick"),
    Step("compliance_records:orphans", "compliance_records", "orphans"),
    Step("audit_logs", "audit_logs", "pick"),
    Step("audit_logs:orphans", "audit_logs", "orphans"),
    Step("health_logs", "health_logs", "pick"),
    Step("health_logs:orphans", "health_logs", "orphans"),
    Step("services", "services", "services"),
    Step("services:orphans", "services", "orphans"),
    Step("settings", "settings", "settings"),
)


class BackfillInterrupted(Exception):
    """Stopped on purpose after a number of batches (what an interruption looks like)."""


def bookkeeping_ddl() -> tuple[str, ...]:
    s = SCHEMA
    return (
        f"CREATE TABLE {s}.options (id boolean PRIMARY KEY DEFAULT true CHECK (id),"
        " orphans text NOT NULL CHECK (orphans IN ('system', 'archive')),"
        " system_tenant text NOT NULL, system_tenant_id uuid NOT NULL,"
        " started_at timestamptz NOT NULL DEFAULT now())",
        f"CREATE TABLE {s}.legacy_counts (table_name text PRIMARY KEY, rows bigint NOT NULL,"
        " counted_at timestamptz NOT NULL DEFAULT now())",
        f"CREATE TABLE {s}.progress (step text PRIMARY KEY, cursor uuid,"
        " rows bigint NOT NULL DEFAULT 0, batches integer NOT NULL DEFAULT 0,"
        " finished boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL DEFAULT now())",
        f"CREATE TABLE {s}.user_home (user_id uuid PRIMARY KEY, tenant_id uuid NOT NULL)",
        f"CREATE TABLE {s}.service_tenants (service_id uuid NOT NULL, tenant_id uuid NOT NULL,"
        " tasks bigint NOT NULL DEFAULT 0, PRIMARY KEY (service_id, tenant_id))",
        f"CREATE TABLE {s}.orphans (table_name text NOT NULL, id uuid NOT NULL,"
        " disposition text NOT NULL CHECK (disposition IN ('system', 'archive')),"
        " reason text NOT NULL, row jsonb, PRIMARY KEY (table_name, id))",
        f"CREATE TABLE {s}.renamed_emails (user_id uuid PRIMARY KEY,"
        " original_email text NOT NULL, new_email text NOT NULL, kept_user_id uuid NOT NULL)",
        f"CREATE TABLE {s}.detached (table_name text NOT NULL, tenant_id uuid NOT NULL,"
        " row_id uuid NOT NULL, column_name text NOT NULL, value uuid NOT NULL,"
        " PRIMARY KEY (table_name, tenant_id, row_id, column_name))",
        f"CREATE TABLE {s}.moved_tables (table_name text PRIMARY KEY)",
    )


def read_options(conn: Connection) -> tuple[OrphanPolicy, str, uuid.UUID] | None:
    row = conn.execute(
        text(f"SELECT orphans, system_tenant, system_tenant_id FROM {SCHEMA}.options")
    ).first()
    return None if row is None else (row.orphans, row.system_tenant, row.system_tenant_id)


def store_options(conn: Connection, options: Options) -> uuid.UUID:
    """Record the options of this adoption once; later runs must use the same ones."""
    conn.execute(
        text(
            f"INSERT INTO {SCHEMA}.options (orphans, system_tenant, system_tenant_id) "
            "VALUES (:o, :s, gen_random_uuid()) ON CONFLICT (id) DO NOTHING"
        ),
        {"o": options.orphans, "s": options.system_tenant},
    )
    stored = read_options(conn)
    assert stored is not None
    return stored[2]


def remaining(conn: Connection, step: Step) -> int:
    """Rows the step has still to look at (for the progress bar)."""
    if step.kind in ("setup", "settings"):
        return 1
    cursor = conn.execute(
        text(f"SELECT cursor FROM {SCHEMA}.progress WHERE step = :s"), {"s": step.name}
    ).scalar()
    return int(
        conn.execute(
            text(
                f"SELECT count(*) FROM public.{step.table} r WHERE r.tenant_id IS NULL"
                " AND (CAST(:c AS uuid) IS NULL OR r.id > :c)"
            ),
            {"c": cursor},
        ).scalar_one()
    )


def is_finished(conn: Connection, step: Step) -> bool:
    return bool(
        conn.execute(
            text(f"SELECT finished FROM {SCHEMA}.progress WHERE step = :s"), {"s": step.name}
        ).scalar()
    )


def run_batch(conn: Connection, step: Step, options: Options, system_id: uuid.UUID) -> int:
    """One batch of `step` in the caller's transaction, progress included; the rows it looked at
    (0 once the step is finished)."""
    progress = conn.execute(
        text(f"SELECT cursor, finished FROM {SCHEMA}.progress WHERE step = :s"), {"s": step.name}
    ).first()
    if progress is not None and progress.finished:
        return 0
    cursor = progress.cursor if progress is not None else None
    if step.kind == "setup":
        seen, last = _SETUP[step.name](conn), None
        finished = True
    elif step.kind == "settings":
        seen, last = _settings(conn), None
        finished = True
    else:
        seen, last = _BATCH[step.kind](conn, step.table, cursor, options, system_id)
        finished = seen < options.batch_size
    conn.execute(
        text(
            f"INSERT INTO {SCHEMA}.progress AS p (step, cursor, rows, batches, finished) "
            "VALUES (:s, :c, :n, 1, :f) ON CONFLICT (step) DO UPDATE SET "
            "cursor = COALESCE(EXCLUDED.cursor, p.cursor), rows = p.rows + EXCLUDED.rows, "
            "batches = p.batches + 1, finished = EXCLUDED.finished, updated_at = now()"
        ),
        {"s": step.name, "c": last, "n": seen, "f": finished},
    )
    return seen


def run_all(
    conn: Connection,
    options: Options,
    system_id: uuid.UUID,
    *,
    commit: Callable[[], None] | None = None,
    on_step: Callable[[Step, int], None] | None = None,
    on_batch: Callable[[Step, int], None] | None = None,
    max_batches: int | None = None,
) -> None:
    """Every step, batch after batch. With `commit`, each batch is committed on its own (the
    resumable path); without, all of it happens in the caller's transaction."""
    batches = 0
    for step in STEPS:
        if is_finished(conn, step):
            continue
        if on_step is not None:
            on_step(step, remaining(conn, step))
        while not is_finished(conn, step):
            if max_batches is not None and batches >= max_batches:
                raise BackfillInterrupted(f"stopped after {batches} batches")
            seen = run_batch(conn, step, options, system_id)
            if commit is not None:
                commit()
            batches += 1
            if on_batch is not None:
                on_batch(step, seen)


def final_sweep(conn: Connection, options: Options, system_id: uuid.UUID) -> None:
    """Rows written by the legacy application while the batches ran (their ids may sort before a
    cursor): the same rules once more over whatever is still without a tenant and not archived,
    in the caller's transaction. Run by revision adopt_0003, with the application stopped.

    The setup and settings steps run again first (they only add): an account or membership the
    application created after them needs its home tenant, a new case variant of an address its
    rename, and a settings row it added makes the older one an extra, before the rows are
    placed."""
    for setup in (*_SETUP.values(), _settings):
        setup(conn)
    run_all(conn, options, system_id)
    for table in TENANT_TABLES:
        if table == "services":
            continue
        conn.execute(
            text(
                f"UPDATE public.{table} r SET tenant_id = {PICK[table]} WHERE r.tenant_id IS NULL"
                f" AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.orphans o"
                f"  WHERE o.table_name = '{table}' AND o.id = r.id)"
            )
        )
        _orphans(conn, table, None, options, system_id, limit=None)
    conn.execute(
        text(
            f"INSERT INTO {SCHEMA}.service_tenants (service_id, tenant_id, tasks) "
            "SELECT t.service_id, t.tenant_id, count(*) FROM public.tasks t"
            " JOIN public.services s ON s.id = t.service_id"
            " WHERE t.tenant_id IS NOT NULL GROUP BY 1, 2 ON CONFLICT DO NOTHING"
        )
    )
    # an archived service that a task written since uses is no orphan any more: it is adopted
    # with that task's tenant, and neither the report nor the archive may say it was left out
    conn.execute(
        text(
            f"DELETE FROM {SCHEMA}.orphans o WHERE o.table_name = 'services'"
            " AND o.disposition = 'archive' AND EXISTS"
            f" (SELECT 1 FROM {SCHEMA}.service_tenants st WHERE st.service_id = o.id)"
        )
    )
    conn.execute(
        text(
            "UPDATE public.services s SET tenant_id = ("
            f"SELECT st.tenant_id FROM {SCHEMA}.service_tenants st WHERE st.service_id = s.id"
            " ORDER BY st.tasks DESC, st.tenant_id LIMIT 1) WHERE s.tenant_id IS NULL"
        )
    )
    _orphans(conn, "services", None, options, system_id, limit=None)


# --- the steps -----------------------------------------------------------------------------------


def _user_home(conn: Connection) -> int:
    """Each user's home as the memberships say now; run again by the final sweep (with the
    legacy application stopped), so that the default membership it decides is one the user
    still has."""
    return conn.execute(
        text(
            f"INSERT INTO {SCHEMA}.user_home (user_id, tenant_id) "
            "SELECT DISTINCT ON (user_id) user_id, tenant_id FROM public.tenant_memberships "
            "ORDER BY user_id, is_default DESC, created_at, tenant_id ON CONFLICT (user_id) DO"
            " UPDATE SET tenant_id = EXCLUDED.tenant_id"
            f" WHERE {SCHEMA}.user_home.tenant_id <> EXCLUDED.tenant_id"
        )
    ).rowcount


def _emails(conn: Connection) -> int:
    """Accounts whose email equals an earlier account's but for letter case: the current schema
    compares emails case-insensitively, so the later account gets a distinct address (its local
    part + `+legacy-<8 hex of the md5 of its id>`: not of the id itself, whose leading digits
    time-ordered uuids (v1, v7) share between accounts created close together); nothing else
    about it changes, and the report lists it."""
    return conn.execute(
        text(
            f"INSERT INTO {SCHEMA}.renamed_emails"
            " (user_id, original_email, new_email, kept_user_id) "
            "SELECT id, email, split_part(email, '@', 1) || '+legacy-' "
            "       || left(md5(id::text), 8) || '@' || split_part(email, '@', 2), "
            "       kept "
            "FROM (SELECT u.id, u.email, row_number() OVER w AS n, first_value(u.id) OVER w AS kept"
            "        FROM public.users u"
            "      WINDOW w AS (PARTITION BY lower(u.email) ORDER BY u.created_at, u.id)) d "
            "WHERE d.n > 1 ON CONFLICT DO NOTHING"
        )
    ).rowcount


_SETUP: dict[str, Callable[[Connection], int]] = {"user_home": _user_home, "emails": _emails}


def _batch_filter(cursor: uuid.UUID | None) -> str:
    return "r.tenant_id IS NULL" + ("" if cursor is None else " AND r.id > :cursor")


def _pick(
    conn: Connection,
    table: str,
    cursor: uuid.UUID | None,
    options: Options,
    _system_id: uuid.UUID,
) -> tuple[int, uuid.UUID | None]:
    row = conn.execute(
        text(
            f"WITH batch AS (SELECT r.id, CASE WHEN {DEFER.get(table, 'false')} THEN NULL"
            f" ELSE {PICK[table]} END AS tenant_id FROM public.{table} r"
            f"  WHERE {_batch_filter(cursor)} ORDER BY r.id LIMIT :n),"
            f" upd AS (UPDATE public.{table} x SET tenant_id = b.tenant_id FROM batch b"
            "  WHERE x.id = b.id AND b.tenant_id IS NOT NULL RETURNING 1)"
            " SELECT (SELECT count(*) FROM batch) AS seen,"
            " (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last,"
            " (SELECT count(*) FROM upd) AS assigned"
        ),
        {"cursor": cursor, "n": options.batch_size},
    ).one()
    return int(row.seen), row.last


def _services(
    conn: Connection,
    table: str,
    cursor: uuid.UUID | None,
    options: Options,
    _system_id: uuid.UUID,
) -> tuple[int, uuid.UUID | None]:
    row = conn.execute(
        text(
            f"WITH batch AS (SELECT r.id FROM public.services r WHERE {_batch_filter(cursor)}"
            "  ORDER BY r.id LIMIT :n),"
            " uses AS (SELECT t.service_id, t.tenant_id, count(*) AS tasks FROM public.tasks t"
            "  JOIN batch b ON t.service_id = b.id WHERE t.tenant_id IS NOT NULL GROUP BY 1, 2),"
            f" ins AS (INSERT INTO {SCHEMA}.service_tenants (service_id, tenant_id, tasks)"
            "  SELECT service_id, tenant_id, tasks FROM uses ON CONFLICT DO NOTHING RETURNING 1),"
            " main AS (SELECT DISTINCT ON (service_id) service_id, tenant_id FROM uses"
            "  ORDER BY service_id, tasks DESC, tenant_id),"
            " upd AS (UPDATE public.services s SET tenant_id = m.tenant_id FROM main m"
            "  WHERE s.id = m.service_id RETURNING 1)"
            " SELECT (SELECT count(*) FROM batch) AS seen,"
            " (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last,"
            " (SELECT count(*) FROM upd) AS assigned, (SELECT count(*) FROM ins) AS pairs"
        ),
        {"cursor": cursor, "n": options.batch_size},
    ).one()
    return int(row.seen), row.last


_REASONS = {
    "tasks": "neither assignee nor creator belongs to a tenant",
    "compliance_records": "no task with a tenant and the creator belongs to no tenant",
    "audit_logs": (
        "the actor belongs to no tenant and the target is no task or compliance record with a"
        " tenant"
    ),
    "health_logs": "the actor belongs to no tenant",
    "services": "no task with a tenant uses it",
}


def _orphans(
    conn: Connection,
    table: str,
    cursor: uuid.UUID | None,
    options: Options,
    system_id: uuid.UUID,
    *,
    limit: int | None = -1,
) -> tuple[int, uuid.UUID | None]:
    """The rows of `table` still without a tenant (the batch after `cursor`, or all with
    `limit=None`): to the system tenant, or archived."""
    n = options.batch_size if limit == -1 else limit
    where = _batch_filter(cursor) + (
        f" AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.orphans o"
        f" WHERE o.table_name = '{table}' AND o.id = r.id)"
        f" AND NOT {DEFER.get(table, 'false')}"
    )
    batch = (
        f"SELECT r.id, to_jsonb(r) - 'tenant_id' AS row FROM public.{table} r WHERE {where}"
        " ORDER BY r.id" + ("" if n is None else " LIMIT :n")
    )
    if options.orphans == "system":
        extra = (
            f", upd AS (UPDATE public.{table} x SET tenant_id = :sys FROM batch b"
            " WHERE x.id = b.id RETURNING x.id)"
        )
        if table == "services":
            extra += (
                f", pairs AS (INSERT INTO {SCHEMA}.service_tenants (service_id, tenant_id)"
                " SELECT id, :sys FROM upd ON CONFLICT DO NOTHING RETURNING 1)"
            )
        source = "SELECT :t, id, 'system', :reason, NULL FROM batch"
    else:
        extra = ""
        source = "SELECT :t, id, 'archive', :reason, row FROM batch"
    row = conn.execute(
        text(
            f"WITH batch AS ({batch}){extra},"
            f" ins AS (INSERT INTO {SCHEMA}.orphans (table_name, id, disposition, reason, row)"
            f"  {source} ON CONFLICT DO NOTHING RETURNING 1)"
            " SELECT (SELECT count(*) FROM batch) AS seen,"
            " (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last,"
            " (SELECT count(*) FROM ins) AS recorded"
            + (", (SELECT count(*) FROM upd) AS moved" if options.orphans == "system" else "")
            + (
                ", (SELECT count(*) FROM pairs) AS paired"
                if options.orphans == "system" and table == "services"
                else ""
            )
        ),
        {"cursor": cursor, "n": n, "sys": system_id, "t": table, "reason": _REASONS[table]},
    ).one()
    return int(row.seen), row.last


_BATCH = {"pick": _pick, "services": _services, "orphans": _orphans}


def _settings(conn: Connection) -> int:
    """The newest row of each singleton becomes the platform default; further rows (a singleton
    that was not one) are archived."""
    seen = 0
    for table in SETTINGS_COLUMNS:
        seen += conn.execute(
            text(
                f"INSERT INTO {SCHEMA}.orphans (table_name, id, disposition, reason, row) "
                f"SELECT '{table}', d.id, 'archive', 'a settings singleton has one row', "
                "       to_jsonb(d) - 'n' "
                f"FROM (SELECT s.*, row_number() OVER (ORDER BY s.updated_at DESC, s.id) AS n"
                f"        FROM public.{table} s) d WHERE d.n > 1 ON CONFLICT DO NOTHING"
            )
        ).rowcount
    return seen
