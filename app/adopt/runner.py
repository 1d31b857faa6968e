"""`tenantgraph adopt`: drive the adoption chain (migrations/adopt) and the batched backfill.

1. revisions adopt_0001–0002: bookkeeping, nullable tenant columns (committed);
2. the backfill, batch by batch, each committed with its progress (resumable);
3. revisions adopt_0003–0004 and the main chain up to head, in one transaction: final sweep,
   the legacy tables move aside, the current schema is built and filled, the counts are checked.

`--dry-run` runs all of it in one transaction, reports, and rolls back.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from app.adopt import backfill
from app.adopt.backfill import SCHEMA, TENANT_TABLES, Options, Step
from app.adopt.legacy import LEGACY_TABLES, REQUIRED_COLUMNS
from app.adopt.report import Report, build_report
from app.adopt.swap import MAIN_BASELINE
from app.database import MIGRATIONS_DIR, ensure_runtime_role, run_downgrade, run_migrations

ADOPT_DIR = MIGRATIONS_DIR / "adopt"
ADOPT_HEAD = "adopt_0004"
COLUMNS_ADDED = "adopt_0002"
SLUG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_LOCK = 0x7465_6E61_6E75  # one adoption at a time per database


class AdoptionError(Exception):
    """The adoption cannot go on; the message says why and what to do. Nothing was lost."""


@dataclass(frozen=True)
class Requested:
    """What the operator asked for; None means "as recorded by an earlier run, or the default"."""

    orphans: str | None = None
    system_tenant: str | None = None
    batch_size: int = 1000
    # stop after the backfill (the legacy application may keep running); a later run finishes
    backfill_only: bool = False


@dataclass(frozen=True)
class BackfillSummary:
    """Where a backfill stopped on purpose (`--backfill-only`): per table, rows with a tenant,
    rows still without one, and orphans so far."""

    tables: dict[str, tuple[int, int, int]]


@dataclass
class Hooks:
    on_step: Callable[[Step, int], None] | None = None
    on_batch: Callable[[Step, int], None] | None = None
    on_phase: Callable[[str], None] | None = None

    def phase(self, description: str) -> None:
        if self.on_phase is not None:
            self.on_phase(description)


def _config(sync_conn: Connection, app_role: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ADOPT_DIR))
    cfg.attributes["app_role"] = app_role
    cfg.attributes["connection"] = sync_conn
    return cfg


def _adopt_upgrade(sync_conn: Connection, app_role: str, target: str) -> None:
    command.upgrade(_config(sync_conn, app_role), target)


def _adopt_downgrade(sync_conn: Connection, app_role: str, target: str) -> None:
    command.downgrade(_config(sync_conn, app_role), target)


def adopt_revision(sync_conn: Connection) -> str | None:
    if sync_conn.execute(text(f"SELECT to_regclass('{SCHEMA}.alembic_version')")).scalar() is None:
        return None
    return sync_conn.execute(text(f"SELECT version_num FROM {SCHEMA}.alembic_version")).scalar()


def main_revision(sync_conn: Connection) -> str | None:
    """The main chain's revision, if `public.alembic_version` holds one of ours (a legacy product
    may have had its own alembic_version)."""
    if sync_conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is None:
        return None
    version = sync_conn.execute(text("SELECT version_num FROM public.alembic_version")).scalar()
    known = {s.revision for s in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}
    return version if version in known else None


def shape_problems(sync_conn: Connection, app_role: str) -> list[str]:
    """What keeps `public` from being the legacy shape this adoption knows."""
    # the catalog, not information_schema: that one hides the tables the connected role holds no
    # privilege on, and a wrong role would read "missing" for tables that are there
    rows = sync_conn.execute(
        text(
            "SELECT c.relname AS table_name, a.attname AS column_name,"
            " pg_get_userbyid(c.relowner) AS owner,"
            " pg_has_role(current_user, c.relowner, 'USAGE') AS owned"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        )
    ).all()
    columns: dict[str, set[str]] = {}
    owners: dict[str, str] = {}
    for r in rows:
        columns.setdefault(r.table_name, set()).add(r.column_name)
        if not r.owned:
            owners[r.table_name] = r.owner
    problems = []
    foreign = sorted({owners[t] for t in LEGACY_TABLES if t in owners})
    if foreign:
        problems.append(
            f"the legacy tables belong to {', '.join(foreign)}, not to the role of DATABASE_URL "
            f"({sync_conn.execute(text('SELECT current_user')).scalar()}): point DATABASE_URL at "
            "the legacy database as the role that owns its tables"
        )
    for table in LEGACY_TABLES:
        if table not in columns:
            problems.append(f"table {table} is missing")
            continue
        missing = [c for c in REQUIRED_COLUMNS[table] if c not in columns[table]]
        if missing:
            problems.append(f"table {table} lacks column(s) {', '.join(missing)}")
        if table in TENANT_TABLES and "tenant_id" in columns[table]:
            problems.append(f"table {table} already has a tenant_id column")
    from repositories.models import Base

    for table in sorted(set(Base.metadata.tables) - set(LEGACY_TABLES)):
        if table in columns:
            problems.append(
                f"table {table} exists: the legacy shape has none, and the adoption would not "
                "know which tenant its rows belong to"
            )
    # anything else in public would stay there beside the current schema, unadopted and unknown
    # to it (a view would go on reading the legacy rows of every tenant): the closing verify
    # fails after every row has moved, so refuse before anything does
    known = (*LEGACY_TABLES, "alembic_version")
    kinds = {
        "r": "table",
        "p": "table",
        "v": "view",
        "m": "materialized view",
        "f": "foreign table",
    }
    for r in sync_conn.execute(
        text(
            "SELECT c.relname, c.relkind::text AS relkind FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
            " AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition"
            " AND c.relname <> ALL(:known) AND NOT EXISTS (SELECT 1 FROM pg_depend d"
            "  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"
            " ORDER BY 1"
        ),
        {"known": list(known)},
    ).all():
        if r.relname in Base.metadata.tables:
            continue  # reported above
        problems.append(
            f"{kinds[r.relkind]} {r.relname} is not part of the legacy shape: the adoption would "
            f"leave it in public beside the current schema; move it to another schema (ALTER "
            f"{kinds[r.relkind].upper()} {r.relname} SET SCHEMA …) or drop it first"
        )
    if sync_conn.execute(text(f"SELECT to_regnamespace('{backfill.LEGACY_SCHEMA}')")).scalar():
        problems.append(f"a schema {backfill.LEGACY_SCHEMA} exists already")
    if sync_conn.execute(
        text("SELECT has_schema_privilege('public', 'public', 'CREATE')")
    ).scalar():
        # the default before PostgreSQL 15, kept by upgrades: the runtime role could create (and
        # own) objects next to the tenant tables, and `tenantgraph verify` fails after adoption
        problems.append(
            "PUBLIC may create objects in schema public (a database created before PostgreSQL "
            "15): run REVOKE CREATE ON SCHEMA public FROM PUBLIC first"
        )
    # default privileges of the role that builds the current schema: every table it creates
    # would carry them (TRUNCATE for PUBLIC empties every tenant's rows), and the closing verify
    # fails after every row has moved (PUBLIC's EXECUTE on new functions is PostgreSQL's own
    # default; the revisions revoke it where it matters)
    kinds = {"r": "tables", "S": "sequences", "f": "functions", "T": "types", "n": "schemas"}
    for r in sync_conn.execute(
        text(
            "SELECT d.defaclobjtype::text AS kind, n.nspname,"
            " CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS who,"
            " string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges"
            " FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace"
            " CROSS JOIN LATERAL aclexplode(d.defaclacl) a"
            " WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
            " AND (a.grantee = 0 OR a.grantee IN (SELECT oid FROM pg_roles"
            "  WHERE rolname IN (:app, :platform)))"
            " AND NOT (d.defaclobjtype IN ('f', 'T') AND a.grantee = 0"
            "  AND a.privilege_type IN ('EXECUTE', 'USAGE'))"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ),
        {"app": app_role, "platform": f"{app_role}_platform"},
    ).all():
        where = f" in schema {r.nspname}" if r.nspname else ""
        problems.append(
            f"default privileges give {r.who} {r.privileges} on new {kinds.get(r.kind, r.kind)}"
            f"{where}: every one the adoption builds would carry them; run ALTER DEFAULT "
            f"PRIVILEGES{' IN SCHEMA ' + r.nspname if r.nspname else ''} REVOKE ALL ON "
            f"{kinds.get(r.kind, r.kind).upper()} FROM {r.who} first"
        )
    return problems


def _resolve(sync_conn: Connection, requested: Requested) -> Options:
    """The options of this adoption: those recorded by an interrupted run win; asking for other
    ones is an error (the rows handled so far followed them)."""
    stored = None
    if sync_conn.execute(text(f"SELECT to_regclass('{SCHEMA}.options')")).scalar() is not None:
        stored = backfill.read_options(sync_conn)
    if stored is not None:
        orphans, system_tenant, _ = stored
        for name, asked, recorded in (
            ("--orphans", requested.orphans, orphans),
            ("--system-tenant", requested.system_tenant, system_tenant),
        ):
            if asked is not None and asked != recorded:
                raise AdoptionError(
                    f"this adoption was started with {name} {recorded}: run it again with the "
                    f"same option (or roll it back with `tenantgraph adopt --rollback`)"
                )
        return Options(
            orphans=orphans, system_tenant=system_tenant, batch_size=requested.batch_size
        )
    options = Options(
        orphans=requested.orphans or "system",  # type: ignore[arg-type]
        system_tenant=requested.system_tenant or "system",
        batch_size=requested.batch_size,
    )
    if options.orphans not in ("system", "archive"):
        raise AdoptionError(f"--orphans must be system or archive, not {options.orphans!r}")
    if not SLUG.match(options.system_tenant):
        raise AdoptionError(
            f"--system-tenant {options.system_tenant!r} is not a tenant slug (lower-case letters, "
            "digits and inner hyphens, at most 63)"
        )
    if options.orphans == "system":
        taken = sync_conn.execute(
            text("SELECT 1 FROM public.tenants WHERE slug = :s"), {"s": options.system_tenant}
        ).scalar()
        if taken:
            raise AdoptionError(
                f"a legacy tenant is called {options.system_tenant!r}: orphans would mix with its "
                "rows; choose another --system-tenant"
            )
    return options


def _prepare(
    sync_conn: Connection, app_role: str, requested: Requested
) -> tuple[Options, uuid.UUID]:
    """Steps 1: bookkeeping and nullable tenant columns; the options are recorded."""
    revision = adopt_revision(sync_conn)
    if revision is None:
        problems = shape_problems(sync_conn, app_role)
        if problems:
            raise AdoptionError(
                "this database is not the legacy shape `tenantgraph adopt` knows (see the README, "
                "Operations): " + "; ".join(problems)
            )
    options = _resolve(sync_conn, requested)
    sync_conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    if revision is None or revision < COLUMNS_ADDED:
        _adopt_upgrade(sync_conn, app_role, COLUMNS_ADDED)
    return options, backfill.store_options(sync_conn, options)


async def adopt(
    owner: URL,
    app_role: str,
    requested: Requested,
    *,
    dry_run: bool = False,
    hooks: Hooks | None = None,
    max_batches: int | None = None,
) -> Report | BackfillSummary:
    """Adopt the legacy database at `owner` (the schema owner's URL); the report of what was (or,
    with `dry_run`, would be) done. Raises AdoptionError with nothing lost."""
    hooks = hooks or Hooks()
    engine = create_async_engine(owner, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            locked = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK})
            await conn.commit()
            if not locked:
                raise AdoptionError("another `tenantgraph adopt` is running on this database")
            try:
                return await _adopt(conn, app_role, requested, dry_run, hooks, max_batches)
            finally:
                # the lock belongs to the session: a connection that is gone has released it
                with contextlib.suppress(DBAPIError, OSError):
                    await conn.rollback()
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK})
                    await conn.commit()
    finally:
        await engine.dispose()


async def _adopt(
    conn: AsyncConnection,
    app_role: str,
    requested: Requested,
    dry_run: bool,
    hooks: Hooks,
    max_batches: int | None,
) -> Report | BackfillSummary:
    revision = await conn.run_sync(adopt_revision)
    if revision == ADOPT_HEAD:
        # adopted already: bring the main chain to head and tell what the adoption did
        if not dry_run:
            await run_migrations(conn, app_role)
        report = await conn.run_sync(lambda c: build_report(c, dry_run=dry_run))
        await conn.commit()
        return replace(report, already_adopted=True)
    main = await conn.run_sync(main_revision)
    if main is not None:
        raise AdoptionError(
            f"this database already has the current schema (revision {main}): there is nothing "
            "to adopt; `tenantgraph migrate` keeps it up to date"
        )
    await ensure_runtime_role(conn, app_role)
    options, system_id = await conn.run_sync(lambda c: _prepare(c, app_role, requested))
    if dry_run:
        await conn.run_sync(
            lambda c: backfill.run_all(
                c, options, system_id, on_step=hooks.on_step, on_batch=hooks.on_batch
            )
        )
        hooks.phase("current schema, copying the rows and checking the counts")
        await conn.run_sync(lambda c: _adopt_upgrade(c, app_role, ADOPT_HEAD))
        report = await conn.run_sync(lambda c: build_report(c, dry_run=True))
        await conn.rollback()
        return report
    await conn.commit()

    def backfill_in_batches(c: Connection) -> None:
        backfill.run_all(
            c,
            options,
            system_id,
            commit=c.commit,
            on_step=hooks.on_step,
            on_batch=hooks.on_batch,
            max_batches=max_batches,
        )

    await conn.run_sync(backfill_in_batches)
    if requested.backfill_only:
        summary = await conn.run_sync(_summary)
        await conn.commit()
        return summary
    hooks.phase(
        "final sweep, current schema, copying the rows and checking the counts (one transaction)"
    )
    await conn.run_sync(lambda c: _adopt_upgrade(c, app_role, ADOPT_HEAD))
    await run_migrations(conn, app_role)
    report = await conn.run_sync(lambda c: build_report(c, dry_run=False))
    await conn.commit()
    return report


def _summary(sync_conn: Connection) -> BackfillSummary:
    tables = {}
    for table in TENANT_TABLES:
        row = sync_conn.execute(
            text(
                f"SELECT count(*) FILTER (WHERE r.tenant_id IS NOT NULL) AS placed,"
                f" count(*) FILTER (WHERE r.tenant_id IS NULL) AS pending,"
                f" (SELECT count(*) FROM {SCHEMA}.orphans o WHERE o.table_name = :t) AS orphans"
                f" FROM public.{table} r"
            ),
            {"t": table},
        ).one()
        tables[table] = (int(row.placed), int(row.pending), int(row.orphans))
    return BackfillSummary(tables)


async def rollback(owner: URL, app_role: str) -> str:
    """Undo an adoption, finished or not: the main chain down to 0005, the adoption chain down to
    its base, the bookkeeping schema dropped. The legacy tables are back as they were."""
    engine = create_async_engine(owner, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            # not while an adoption runs: read before its swap commits, the revision would send
            # the adoption chain's downgrades at the tables the swap has just built
            locked = await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK})
            if not locked:
                raise AdoptionError(
                    "a `tenantgraph adopt` is running on this database: let it finish (or stop "
                    "it), then roll back"
                )
            revision = await conn.run_sync(adopt_revision)
            if revision is None:
                raise AdoptionError("no adoption to roll back in this database")
            if revision == ADOPT_HEAD:
                gone = await conn.run_sync(_legacy_tables_gone)
                if gone:
                    raise AdoptionError(
                        f"the legacy tables are gone ({', '.join(gone)} no longer in schema "
                        f"{backfill.LEGACY_SCHEMA}): this adoption has no way back; nothing was "
                        "changed"
                    )
                main = await conn.run_sync(main_revision)
                if main != MAIN_BASELINE:
                    await run_downgrade(conn, app_role, MAIN_BASELINE)
            await conn.run_sync(lambda c: _adopt_downgrade(c, app_role, "base"))
            await conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
            return revision
    finally:
        await engine.dispose()


def _legacy_tables_gone(sync_conn: Connection) -> list[str]:
    """The moved legacy tables no longer in the legacy schema (`DROP SCHEMA tenantgraph_legacy
    CASCADE` ends the way back): a rollback would drop the current schema with nothing to put
    back."""
    moved = sync_conn.execute(
        text(f"SELECT table_name FROM {SCHEMA}.moved_tables ORDER BY 1")
    ).scalars()
    return [
        t
        for t in moved
        if sync_conn.execute(
            text("SELECT to_regclass(:q)"), {"q": f"{backfill.LEGACY_SCHEMA}.{t}"}
        ).scalar()
        is None
    ]
