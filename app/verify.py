"""Integrity and isolation checks against a live database (`tenantgraph verify`, `serve`).

Each check has a stable id, a status and the objects that fail it. The checks read the catalog
and, for the data checks, the rows; run them on an owner (or superuser) connection. The runtime
role is named explicitly: the checks are about what *it* could do, not about who runs them.

- `migrations.head`: the database is at the code's alembic head;
- `registry.tables`: every table of the schema is governed in code or an allowed global table,
  and every registered table exists;
- `tenant_id.not_null`: `tenant_id` is NOT NULL and no row has a NULL one;
- `tenant_id.parent_match`: a child row's parent is in the child's tenant (row by row, so a
  dropped foreign key is caught);
- `rls.enabled`, `rls.forced`, `rls.policies`: every governed table has RLS on, forced, and a
  policy;
- `rls.policy_roles`: policies apply to PUBLIC, the runtime role or the table's owner;
- `views.security_invoker`: no view runs with its owner's rights; the runtime role reads no
  materialized view;
- `functions.search_path`: every SECURITY DEFINER function pins a search_path nobody else can
  plant objects in;
- `functions.definers`: every SECURITY DEFINER function is a registered, deliberate crossing
  (`DEFINER_FUNCTIONS`, with the reason for each) and PUBLIC cannot execute it: a new one is a
  new way past row-level security, so it fails until it is reviewed and listed;
- `role.not_superuser`, `role.no_bypassrls`: the runtime role's attributes;
- `role.owns_nothing`: the runtime role owns no relation, function, type, schema or the database;
- `role.privileges`: it holds no TRUNCATE, TRIGGER or REFERENCES on a table, nor CREATE on the
  schema (row-level security does not govern them);
- `role.memberships`: nor is it a member of a role that could bypass RLS;
- `role.settings`: no role or database default gives it a request context (`app.*`) or turns
  off the foreign-key triggers (`session_replication_role`);
- `role.platform`: the platform role (the one cross-tenant path) exists, bypasses and owns
  nothing, holds no table privilege, and the runtime role is not a member of it;
- `keys.tenant_leading`: `tenant_id` leads every primary/unique key and every foreign key between
  tenant tables (ready to distribute by tenant on Citus).

Deliberate deviations are listed in `EXCEPTIONS` (one place, with the reason for each); a
deviation is reported as *allowed*, never skipped silently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import ForeignKeyConstraint, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import platform_role_for
from repositories.models import (
    PRIVATE_TABLES,
    RLS_TABLES,
    SETTINGS_TABLES,
    TENANT_OWNED_TABLES,
    Base,
)

SCHEMA = "public"
TENANT_COLUMN = "tenant_id"
# The SECURITY DEFINER functions: each runs as the schema owner, whose maintenance policies see
# every row, so each is a deliberate way past row-level security, narrowed to one question.
DEFINER_FUNCTIONS: dict[str, str] = {
    "tenantgraph_resolve_tenant(text,text)": "host -> active tenant, before any tenant is known",
    "tenantgraph_login_lookup(text)": "email -> account and password hash, before sign-in",
    "tenantgraph_user_id_by_email(text)": "addMember: an existing account by email",
    "tenantgraph_platform_analytics(timestamp with time zone,timestamp with time zone,text)": (
        "the super-admin's platform dashboard: counts per tenant; executable by the platform role "
        "only, refused (42501) to anything but a super-admin's platform session, audited before "
        "it answers"
    ),
    "tenantgraph_platform_audit(text,text)": (
        "a platform session's own audit rows; executable by the platform role only"
    ),
}

# Tables of the schema that are not owned by one tenant, and why. Anything else in the schema must
# be registered in `repositories.models.RLS_TABLES` (tenant-owned, settings, tenant_domains, …).
GLOBAL_TABLES: dict[str, str] = {
    "tenants": "the tenants themselves; behind RLS (a member sees its own tenants)",
    "users": "accounts span tenants; behind RLS (a user sees itself and its tenant's people)",
    "alembic_version": "the schema revision; no tenant data (the runtime role reads it: /readyz)",
    "platform_audit_logs": "what super-admins did; no tenant data, and the runtime role holds no "
    "privilege on it (only the platform functions write it)",
}


@dataclass(frozen=True)
class Allowed:
    check: str
    table: str
    name: str  # the constraint, index or column
    reason: str


_SETTINGS_REASON = (
    "settings singleton: one global default row (tenant_id NULL), at most one row per tenant"
)

# The one allow-list of deliberate deviations. Each entry names a check, a table and the
# constraint/index/column the check would otherwise report.
EXCEPTIONS: tuple[Allowed, ...] = (
    # A custom domain names exactly one tenant platform-wide: the host → tenant lookup depends on
    # it. On Citus tenant_domains would be a reference table.
    Allowed(
        "keys.tenant_leading",
        "tenant_domains",
        "uq_tenant_domains_domain",
        "a domain is unique platform-wide: a host must name one tenant",
    ),
    # One default tenant per user, across tenants (the sign-in fallback). On Citus this would move
    # to users (a default_tenant_id column).
    Allowed(
        "keys.tenant_leading",
        "tenant_memberships",
        "uq_tenant_memberships_one_default",
        "a user has at most one default tenant, across tenants",
    ),
    # Settings singletons (see `repositories.models.TenantSettings`): keyed by id, a nullable
    # tenant_id for the one global default row. On Citus they would be reference tables (small,
    # read by every tenant) rather than distributed ones.
    *(
        entry
        for table in SETTINGS_TABLES
        for entry in (
            Allowed("tenant_id.not_null", table, TENANT_COLUMN, _SETTINGS_REASON),
            Allowed("keys.tenant_leading", table, f"pk_{table}", _SETTINGS_REASON),
            Allowed("keys.tenant_leading", table, f"uq_{table}_global", _SETTINGS_REASON),
        )
    ),
)


def _allowed(check: str, table: str, name: str) -> Allowed | None:
    for entry in EXCEPTIONS:
        if (entry.check, entry.table, entry.name) == (check, table, name):
            return entry
    return None


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    object: str
    detail: str


@dataclass
class CheckResult:
    id: str
    title: str
    findings: list[Finding] = field(default_factory=list)
    allowed: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def status(self) -> str:
        return "pass" if self.passed else "fail"

    def fail(self, obj: str, detail: str) -> None:
        self.findings.append(Finding(obj, detail))

    def allow(self, obj: str, reason: str) -> None:
        self.allowed.append(Finding(obj, reason))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "findings": [asdict(f) for f in self.findings],
            "allowed": [asdict(f) for f in self.allowed],
        }


@dataclass
class Report:
    runtime_role: str
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def __getitem__(self, check_id: str) -> CheckResult:
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(check_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "runtime_role": self.runtime_role,
            "summary": {
                "checks": len(self.checks),
                "passed": sum(c.passed for c in self.checks),
                "failed": len(self.failed),
            },
            "checks": [c.as_dict() for c in self.checks],
        }

    def problems(self) -> list[str]:
        """One line per failing object: `check id: object: detail`."""
        return [f"{c.id}: {f.object}: {f.detail}" for c in self.failed for f in c.findings]


# --- the catalog, read once -----------------------------------------------------------------------


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Table:
    name: str
    owner: str
    rls: bool
    forced: bool
    columns: tuple[str, ...]
    not_null: frozenset[str]
    primary_key: tuple[str, ...]

    @property
    def has_tenant(self) -> bool:
        return TENANT_COLUMN in self.columns


@dataclass(frozen=True)
class Reference:
    """A child → parent reference: from a foreign key in the database or in the models."""

    child: str
    child_columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    name: str

    def describe(self) -> str:
        return (
            f"{self.child} ({', '.join(self.child_columns)}) → "
            f"{self.parent} ({', '.join(self.parent_columns)})"
        )


@dataclass
class Catalog:
    runtime_role: str
    tables: dict[str, Table]
    foreign_keys: list[Reference]

    @property
    def tenant_tables(self) -> set[str]:
        return {t.name for t in self.tables.values() if t.has_tenant}

    @property
    def governed(self) -> set[str]:
        """Tables that must be behind row-level security."""
        present = set(self.tables)
        return (set(RLS_TABLES) & present) | self.tenant_tables


async def _rows(conn: AsyncConnection, sql: str, **params: Any) -> Sequence[Any]:
    return (await conn.execute(text(sql), params)).all()


async def read_catalog(conn: AsyncConnection, runtime_role: str) -> Catalog:
    tables: dict[str, Table] = {}
    for r in await _rows(
        conn,
        """
        SELECT c.relname, pg_get_userbyid(c.relowner) AS owner, c.relrowsecurity,
               c.relforcerowsecurity,
               ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid
                      AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
               ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid
                      AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull) AS not_null,
               ARRAY(SELECT a.attname::text FROM pg_index i
                       CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                      WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.n) AS primary_key
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
        """,
        schema=SCHEMA,
    ):
        tables[r.relname] = Table(
            name=r.relname,
            owner=r.owner,
            rls=r.relrowsecurity,
            forced=r.relforcerowsecurity,
            columns=tuple(r.columns),
            not_null=frozenset(r.not_null),
            primary_key=tuple(r.primary_key),
        )
    fks = [
        Reference(r.child, tuple(r.child_columns), r.parent, tuple(r.parent_columns), r.conname)
        for r in await _rows(
            conn,
            """
            SELECT con.conname, c.relname AS child, p.relname AS parent,
                   ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
                          ORDER BY k.i) AS child_columns,
                   ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                           JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n
                          ORDER BY k.i) AS parent_columns
              FROM pg_constraint con
              JOIN pg_class c ON c.oid = con.conrelid
              JOIN pg_class p ON p.oid = con.confrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE con.contype = 'f' AND n.nspname = :schema
            """,
            schema=SCHEMA,
        )
    ]
    return Catalog(runtime_role=runtime_role, tables=tables, foreign_keys=fks)


def model_references() -> list[Reference]:
    """The foreign keys the models declare: what the schema is meant to have, so that a reference
    whose constraint was dropped in the database is still checked."""
    refs = []
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if not isinstance(constraint, ForeignKeyConstraint):
                continue
            elements = list(constraint.elements)
            refs.append(
                Reference(
                    child=table.name,
                    child_columns=tuple(e.parent.name for e in elements),
                    parent=elements[0].column.table.name,
                    parent_columns=tuple(e.column.name for e in elements),
                    name=str(constraint.name or ""),
                )
            )
    return refs


# --- checks ---------------------------------------------------------------------------------------

CheckFn = Callable[[AsyncConnection, Catalog], Awaitable[CheckResult]]


async def check_migrations(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    from app.database import current_revision, head_revision

    result = CheckResult("migrations.head", "the database is at the latest migration")
    revision = await current_revision(conn)
    head = head_revision()
    if revision != head:
        # `migrate` refuses a legacy database, adopted halfway or not at all: say what to run
        adopting = await conn.scalar(
            text(
                "SELECT CASE WHEN to_regclass('tenantgraph_adopt.alembic_version') IS NOT NULL"
                " THEN 'adopting' WHEN to_regclass('public.tenants') IS NOT NULL"
                " OR to_regclass('public.tasks') IS NOT NULL THEN 'legacy' END"
            )
        )
        if revision is None and adopting == "adopting":
            advice = "an adoption is under way: finish it with `tenantgraph adopt`"
        elif revision is None and adopting == "legacy":
            advice = (
                "its tables have no tenantgraph revision: a legacy database is adopted with "
                "`tenantgraph adopt`"
            )
        else:
            advice = "run `tenantgraph migrate`"
        result.fail(
            "alembic_version",
            f"the database is at revision {revision}, the code at {head}: {advice}",
        )
    return result


async def check_registry(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "registry.tables",
        "every table is governed in code (RLS_TABLES) or an allowed global table, and exists",
    )
    registered = set(RLS_TABLES)
    for name, table in sorted(cat.tables.items()):
        if name in registered:
            continue
        if table.has_tenant:
            result.fail(name, f"table {name} has a tenant_id but no tenant governance in code")
        elif name in GLOBAL_TABLES:
            result.allow(name, GLOBAL_TABLES[name])
        else:
            result.fail(
                name,
                f"table {name} is neither registered as tenant-owned (RLS_TABLES) nor an "
                "allowed global table",
            )
    # a foreign table reads its rows elsewhere, under its server's user mapping: row-level
    # security cannot be enabled on it, so none of the checks below could govern it
    for r in await _rows(
        conn,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = :schema AND c.relkind = 'f' ORDER BY 1",
        schema=SCHEMA,
    ):
        result.fail(
            r.relname,
            f"foreign table {r.relname} is in the schema: row-level security cannot govern it "
            "(its rows are read elsewhere, as its server's user mapping says)",
        )
    expected = registered | set(Base.metadata.tables)
    for name in sorted(expected - set(cat.tables)):
        result.fail(name, f"table {name} is missing")
    for name in sorted(registered - set(Base.metadata.tables)):
        result.fail(name, f"table {name} is registered but has no model")
    for name in sorted(set(TENANT_OWNED_TABLES) & set(cat.tables)):
        if not cat.tables[name].has_tenant:
            result.fail(name, f"table {name} is tenant-owned in code but has no tenant_id column")
    return result


async def _unreadable(conn: AsyncConnection, table: Table) -> str | None:
    """Why the connected role might not see every row of `table` (None: it sees them all).

    A data check that silently read fewer rows would pass for the wrong reason: it reads as a
    superuser or BYPASSRLS role, as the owner of a table whose RLS is not forced, or through a
    permissive `USING (true)` policy for every command (the owner's maintenance policy)."""
    row = (
        await _rows(
            conn,
            """
            SELECT r.rolsuper OR r.rolbypassrls AS bypass, c.relrowsecurity,
                   c.relforcerowsecurity, pg_has_role(current_user, c.relowner, 'USAGE') AS owner,
                   EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid
                            AND p.polpermissive AND p.polcmd IN ('*', 'r')
                            AND pg_get_expr(p.polqual, p.polrelid) = 'true'
                            AND (0 = ANY(p.polroles) OR EXISTS (
                                 SELECT 1 FROM unnest(p.polroles) pr(oid)
                                  WHERE pg_has_role(current_user, pr.oid, 'USAGE')))) AS sees_all
              FROM pg_class c, pg_roles r
             WHERE c.oid = to_regclass(:qualified) AND r.rolname = current_user
            """,
            qualified=f"{quote_ident(SCHEMA)}.{quote_ident(table.name)}",
        )
    )[0]
    if row.bypass or not row.relrowsecurity or (row.owner and not row.relforcerowsecurity):
        return None
    if row.sees_all:
        return None
    return (
        f"the rows of {table.name} are not all visible to the checking role (row-level "
        "security applies to it and no USING (true) policy does); run verify as the owner"
    )


async def check_tenant_not_null(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult("tenant_id.not_null", "tenant_id is NOT NULL in every tenant table")
    candidates = cat.tenant_tables | (set(TENANT_OWNED_TABLES) & set(cat.tables))
    for name in sorted(candidates):
        table = cat.tables[name]
        if not table.has_tenant:
            continue  # reported by registry.tables
        exception = _allowed(result.id, name, TENANT_COLUMN)
        if exception is not None:
            # a nullable tenant_id with at most one NULL row (the platform default)
            result.allow(f"{name}.{TENANT_COLUMN}", exception.reason)
            limit = 1
        else:
            limit = 0
            if TENANT_COLUMN not in table.not_null:
                result.fail(f"{name}.{TENANT_COLUMN}", f"{name}.tenant_id is nullable")
        hidden = await _unreadable(conn, table)
        if hidden:
            result.fail(name, hidden)
            continue
        count = (
            await conn.execute(
                text(
                    f"SELECT count(*) FROM {quote_ident(SCHEMA)}.{quote_ident(name)} "
                    f"WHERE {quote_ident(TENANT_COLUMN)} IS NULL"
                )
            )
        ).scalar_one()
        if count > limit:
            result.fail(
                name,
                f"{count} row(s) of {name} have no tenant_id"
                + (f" (at most {limit} allowed)" if limit else ""),
            )
    return result


def _tenant_references(cat: Catalog) -> list[Reference]:
    """References from a tenant table to its tenant or to a parent in the same tenant: declared in
    the database or in the models (deduplicated by columns)."""
    found: dict[tuple[str, tuple[str, ...], str, tuple[str, ...]], Reference] = {}
    for ref in [*cat.foreign_keys, *model_references()]:
        key = (ref.child, ref.child_columns, ref.parent, ref.parent_columns)
        if key in found:
            continue
        child = cat.tables.get(ref.child)
        parent = cat.tables.get(ref.parent)
        if child is None or parent is None or not child.has_tenant:
            continue
        if not set(ref.child_columns) <= set(child.columns):
            continue
        if not set(ref.parent_columns) <= set(parent.columns):
            continue
        pairs = dict(zip(ref.child_columns, ref.parent_columns, strict=True))
        to_tenant = ref.parent == "tenants" and pairs.get(TENANT_COLUMN) == "id"
        same_tenant = parent.has_tenant and pairs.get(TENANT_COLUMN) == TENANT_COLUMN
        if to_tenant or (same_tenant and len(pairs) > 1):
            found[key] = ref
    return sorted(found.values(), key=lambda r: (r.child, r.child_columns, r.parent))


async def check_parent_match(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "tenant_id.parent_match",
        "every child row's parent is in the child's tenant (checked row by row, so a dropped "
        "foreign key is caught)",
    )
    for ref in _tenant_references(cat):
        child, parent = cat.tables[ref.child], cat.tables[ref.parent]
        hidden = await _unreadable(conn, child) or await _unreadable(conn, parent)
        if hidden:
            result.fail(ref.describe(), hidden)
            continue
        pairs = list(zip(ref.child_columns, ref.parent_columns, strict=True))
        others = [(c, p) for c, p in pairs if c != TENANT_COLUMN]
        c_name = f"{quote_ident(SCHEMA)}.{quote_ident(child.name)}"
        p_name = f"{quote_ident(SCHEMA)}.{quote_ident(parent.name)}"
        match = " AND ".join(f"p.{quote_ident(p)} = c.{quote_ident(c)}" for c, p in pairs)
        # MATCH SIMPLE, like the foreign key: a reference with a NULL column points nowhere
        present = " AND ".join(f"c.{quote_ident(c)} IS NOT NULL" for c, _ in pairs)
        if others:
            elsewhere = " AND ".join(f"p.{quote_ident(p)} = c.{quote_ident(c)}" for c, p in others)
            kind = f"EXISTS (SELECT 1 FROM {p_name} p WHERE {elsewhere})"
        else:
            kind = "false"
        key = child.primary_key or (TENANT_COLUMN,)
        label = " || '/' || ".join(f"c.{quote_ident(k)}::text" for k in key)
        rows = await _rows(
            conn,
            f"SELECT {label} AS row_key, {kind} AS cross_tenant, count(*) OVER () AS total "
            f"FROM {c_name} c WHERE {present} "
            f"AND NOT EXISTS (SELECT 1 FROM {p_name} p WHERE {match}) "
            f"ORDER BY 1 LIMIT 5",
        )
        if not rows:
            continue
        if not others:
            result.fail(
                ref.describe(),
                f"{rows[0].total} row(s) of {child.name} name a tenant that does not exist "
                f"({'/'.join(key)}: {', '.join(r.row_key for r in rows)}"
                f"{', …' if rows[0].total > len(rows) else ''})",
            )
            continue
        cross = sum(r.cross_tenant for r in rows)
        sample = ", ".join(
            f"{r.row_key}{' (parent in another tenant)' if r.cross_tenant else ' (no parent)'}"
            for r in rows
        )
        result.fail(
            ref.describe(),
            f"{rows[0].total} row(s) of {child.name} reference a {parent.name} row outside their "
            f"tenant ({'/'.join(key)}: {sample}{', …' if rows[0].total > len(rows) else ''})"
            + (f"; {cross} of the first {len(rows)} point into another tenant" if cross else ""),
        )
    return result


async def _rls_rows(conn: AsyncConnection, cat: Catalog) -> dict[str, int]:
    rows = await _rows(
        conn,
        """
        SELECT c.relname, count(p.oid) AS policies
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_policy p ON p.polrelid = c.oid
         WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
         GROUP BY c.relname
        """,
        schema=SCHEMA,
    )
    return {r.relname: r.policies for r in rows}


async def check_rls_enabled(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult("rls.enabled", "row-level security is enabled on every governed table")
    for name in sorted(cat.governed):
        if not cat.tables[name].rls:
            result.fail(name, f"table {name} does not have row-level security enabled")
    return result


async def check_rls_forced(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "rls.forced", "row-level security is forced on every governed table (applies to owners)"
    )
    for name in sorted(cat.governed):
        table = cat.tables[name]
        if not table.forced:
            state = "enabled but not forced" if table.rls else "not forced"
            result.fail(name, f"table {name} has row-level security {state}")
    return result


async def check_rls_policies(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult("rls.policies", "every governed table has at least one policy")
    counts = await _rls_rows(conn, cat)
    for name in sorted(cat.governed):
        if counts.get(name, 0) == 0:
            result.fail(name, f"table {name} has no row-level security policy")
    return result


async def check_policy_roles(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "rls.policy_roles",
        "policies apply to PUBLIC, the runtime role or the table's owner (maintenance)",
    )
    rows = await _rows(
        conn,
        """
        SELECT c.relname, p.polname, p.polcmd, pg_get_userbyid(c.relowner) AS owner,
               ARRAY(SELECT CASE WHEN r.oid = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r.oid) END
                       FROM unnest(p.polroles) r(oid)) AS roles
          FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :schema
         ORDER BY c.relname, p.polname
        """,
        schema=SCHEMA,
    )
    for r in rows:
        obj = f"{r.relname}.{r.polname}"
        for role in r.roles:
            if role in ("PUBLIC", cat.runtime_role, r.owner):
                continue
            result.fail(
                obj,
                f"policy {r.polname} on {r.relname} applies to role {role}, which is neither "
                "PUBLIC, the runtime role nor the table's owner",
            )
    return result


# The settings a policy must read to confine rows to the request: a tenant table's policies
# compare tenant_id with the tenant (or the anonymous visitor's tenant); tenants and users, which
# have no tenant_id, may also answer by the signed-in user.
_TENANT_SETTINGS = ("'app.current_tenant_id'", "'app.public_tenant_id'")
_USER_SETTING = "'app.current_user_id'"
_COMMANDS = {"*": "rawd", "r": "r", "a": "a", "w": "w", "d": "d"}
_COMMAND_NAMES = {"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}


def _confines(expression: str | None, has_tenant: bool) -> bool:
    """Whether a policy expression reads the request's tenant (a textual test: it catches
    `USING (true)`, a policy on another column or on `current_user`, not a contrived
    `tenant_id = … OR true`)."""
    if expression is None or expression.strip() == "false":
        return True
    if has_tenant:
        return TENANT_COLUMN in expression and any(s in expression for s in _TENANT_SETTINGS)
    return any(s in expression for s in (*_TENANT_SETTINGS, _USER_SETTING))


async def check_policy_bounds(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "rls.tenant_bound",
        "every permissive policy that applies to the runtime role reads the request's tenant "
        "(policies are OR-ed: one USING (true) opens every tenant's rows), unless a restrictive "
        "policy on the same commands does",
    )
    # PUBLIC and the runtime role itself: a policy for a role it is a member of is reported by
    # role.memberships, and a superuser runtime role (role.not_superuser) bypasses them all
    applies = (
        "0 = ANY(p.polroles) OR EXISTS (SELECT 1 FROM unnest(p.polroles) pr(oid)"
        " JOIN pg_roles r ON r.oid = pr.oid WHERE r.rolname = :role)"
    )
    rows = await _rows(
        conn,
        f"""
        SELECT c.relname, p.polname, p.polcmd::text AS cmd, p.polpermissive,
               pg_get_expr(p.polqual, p.polrelid) AS qual,
               pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
          FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :schema AND ({applies})
         ORDER BY c.relname, p.polname
        """,
        schema=SCHEMA,
        role=cat.runtime_role,
    )
    governed = cat.governed
    restricted: dict[str, set[str]] = {}
    for r in rows:
        if r.relname in governed and not r.polpermissive:
            has_tenant = cat.tables[r.relname].has_tenant
            if _confines(r.qual, has_tenant) and _confines(r.with_check, has_tenant):
                restricted.setdefault(r.relname, set()).update(_COMMANDS[r.cmd])
    for r in rows:
        if r.relname not in governed or not r.polpermissive:
            continue
        has_tenant = cat.tables[r.relname].has_tenant
        if _confines(r.qual, has_tenant) and _confines(r.with_check, has_tenant):
            continue
        if set(_COMMANDS[r.cmd]) <= restricted.get(r.relname, set()):
            continue
        expression = r.qual if not _confines(r.qual, has_tenant) else r.with_check
        result.fail(
            f"{r.relname}.{r.polname}",
            f"permissive policy {r.polname} on {r.relname} ({_COMMAND_NAMES[r.cmd]}) applies to "
            f"the runtime role and does not read the request's tenant: ({expression})",
        )
    return result


async def check_other_schemas(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "role.other_schemas",
        f"the runtime role reaches nothing outside schema {SCHEMA}: no table or view it may read "
        "or write, no SECURITY DEFINER function it may execute (none of the checks above looks "
        "there; an extension's own objects are not counted)",
    )
    role = await _role(conn, cat.runtime_role)
    if role is None or role.rolsuper:
        return result  # role.not_superuser reports it
    outside = (
        "n.nspname NOT IN (:schema, 'pg_catalog', 'information_schema')"
        " AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"
        " AND has_schema_privilege(:role, n.oid, 'USAGE')"
    )
    for r in await _rows(
        conn,
        f"""
        SELECT n.nspname || '.' || c.relname AS name, c.relkind
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE {outside} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                            AND d.objid = c.oid AND d.deptype = 'e')
           AND (has_any_column_privilege(:role, c.oid, 'SELECT, INSERT, UPDATE')
                OR has_table_privilege(:role, c.oid, 'DELETE, TRUNCATE'))
         ORDER BY 1
        """,
        schema=SCHEMA,
        role=cat.runtime_role,
    ):
        result.fail(
            r.name,
            f'the runtime role "{cat.runtime_role}" may read or write {r.name}, outside schema '
            f"{SCHEMA}: row-level security and these checks do not govern it",
        )
    for r in await _rows(
        conn,
        f"""
        SELECT p.oid::regprocedure::text AS name
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE {outside} AND p.prosecdef AND has_function_privilege(:role, p.oid, 'EXECUTE')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                            AND d.objid = p.oid AND d.deptype = 'e')
         ORDER BY 1
        """,
        schema=SCHEMA,
        role=cat.runtime_role,
    ):
        result.fail(
            r.name,
            f'the runtime role "{cat.runtime_role}" may execute SECURITY DEFINER function '
            f"{r.name}, outside schema {SCHEMA}",
        )
    return result


_TRUE = {"true", "on", "yes", "1", "t", "y"}


async def check_views(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "views.security_invoker",
        "every view runs with the caller's rights (security_invoker); the runtime role reads no "
        "materialized view",
    )
    exists = await _role(conn, cat.runtime_role) is not None
    rows = await _rows(
        conn,
        f"""
        SELECT c.relname, c.relkind, c.reloptions,
               {"has_table_privilege(:role, c.oid, 'SELECT')" if exists else "false"} AS readable
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :schema AND c.relkind IN ('v', 'm')
         ORDER BY c.relname
        """,
        schema=SCHEMA,
        role=cat.runtime_role,
    )
    for r in rows:
        if r.relkind == "m":
            if r.readable:
                result.fail(
                    r.relname,
                    f"materialized view {r.relname} is readable by the runtime role; its rows "
                    "are not filtered by row-level security",
                )
            continue
        options = dict(o.split("=", 1) for o in (r.reloptions or []) if "=" in o)
        if options.get("security_invoker", "false").lower() not in _TRUE:
            result.fail(
                r.relname,
                f"view {r.relname} runs with its owner's rights: "
                f"ALTER VIEW {r.relname} SET (security_invoker = true)",
            )
    return result


def _search_path(config: Iterable[str] | None) -> str | None:
    for entry in config or ():
        key, _, value = entry.partition("=")
        if key == "search_path":
            return value
    return None


async def check_functions(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "functions.search_path",
        "every SECURITY DEFINER function pins a search_path without schemas others may write",
    )
    rows = await _rows(
        conn,
        """
        SELECT p.oid::regprocedure::text AS signature, p.proconfig
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = :schema AND p.prosecdef
         ORDER BY 1
        """,
        schema=SCHEMA,
    )
    runtime = await _role(conn, cat.runtime_role)
    for r in rows:
        path = _search_path(r.proconfig)
        if path is None:
            result.fail(r.signature, f"SECURITY DEFINER function {r.signature} has no search_path")
            continue
        schemas = [s.strip().strip('"') for s in path.split(",") if s.strip()]
        if "$user" in schemas:
            result.fail(r.signature, f'search_path "{path}" names "$user"')
        if "pg_temp" in schemas and schemas[-1] != "pg_temp":
            result.fail(r.signature, f'search_path "{path}" does not put pg_temp last')
        for schema in schemas:
            if schema in ("pg_temp", "$user"):
                continue
            writable = (
                await conn.execute(
                    text(
                        "SELECT n.oid IS NOT NULL AND (has_schema_privilege('public', n.oid,"
                        " 'CREATE') OR (:check_role AND has_schema_privilege(:role, n.oid,"
                        " 'CREATE'))) FROM (SELECT 1) x"
                        " LEFT JOIN pg_namespace n ON n.nspname = :schema"
                    ),
                    {
                        "role": cat.runtime_role,
                        "schema": schema,
                        # a superuser may create anywhere: role.not_superuser reports that
                        "check_role": runtime is not None and not runtime.rolsuper,
                    },
                )
            ).scalar()
            if writable:
                result.fail(
                    r.signature,
                    f'search_path "{path}" includes schema {schema}, where the runtime role or '
                    "PUBLIC may create objects",
                )
    return result


async def _role(conn: AsyncConnection, name: str) -> Any:
    rows = await _rows(
        conn,
        "SELECT oid, rolsuper, rolbypassrls, rolreplication, rolcanlogin FROM pg_roles"
        " WHERE rolname = :r",
        r=name,
    )
    return rows[0] if rows else None


async def check_not_superuser(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult("role.not_superuser", "the runtime role is not a superuser")
    role = await _role(conn, cat.runtime_role)
    if role is None:
        result.fail(cat.runtime_role, f'the runtime role "{cat.runtime_role}" does not exist')
    elif role.rolsuper:
        result.fail(cat.runtime_role, f'the runtime role "{cat.runtime_role}" is a superuser')
    return result


async def check_no_bypassrls(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult("role.no_bypassrls", "the runtime role does not have BYPASSRLS")
    role = await _role(conn, cat.runtime_role)
    if role is not None and role.rolbypassrls:
        result.fail(cat.runtime_role, f'the runtime role "{cat.runtime_role}" has BYPASSRLS')
    if role is not None and role.rolreplication:
        result.fail(
            cat.runtime_role,
            f'the runtime role "{cat.runtime_role}" has REPLICATION: a replication connection '
            "streams every tenant's rows, past row-level security",
        )
    return result


async def check_owns_nothing(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "role.owns_nothing",
        "the runtime role owns no relation, function, type, schema, nor the database",
    )
    rows = await _rows(
        conn,
        """
        WITH me AS (SELECT oid FROM pg_roles WHERE rolname = :role)
        SELECT 'relation' AS kind, n.nspname || '.' || c.relname AS name
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, me
         WHERE c.relowner = me.oid
        UNION ALL
        SELECT 'function', p.oid::regprocedure::text FROM pg_proc p, me WHERE p.proowner = me.oid
        UNION ALL
        SELECT 'type', t.oid::regtype::text FROM pg_type t, me
         WHERE t.typowner = me.oid AND t.typrelid = 0 AND t.typelem = 0
        UNION ALL
        SELECT 'schema', n.nspname FROM pg_namespace n, me WHERE n.nspowner = me.oid
        UNION ALL
        SELECT 'database', d.datname FROM pg_database d, me
         WHERE d.datdba = me.oid AND d.datname = current_database()
        ORDER BY 1, 2
        """,
        role=cat.runtime_role,
    )
    for r in rows:
        result.fail(
            r.name,
            f'the runtime role "{cat.runtime_role}" owns {r.kind} {r.name} '
            "(an owner can bypass RLS or change it)",
        )
    return result


async def check_privileges(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "role.privileges",
        "the runtime role holds no privilege that row-level security does not govern: TRUNCATE, "
        "TRIGGER or REFERENCES on a table, CREATE on the schema, any on a private table "
        "(platform_audit_logs)",
    )
    role = await _role(conn, cat.runtime_role)
    if role is None or role.rolsuper:
        return result  # role.not_superuser reports both
    rows = await _rows(
        conn,
        """
        SELECT c.relname, array_remove(ARRAY[
                 CASE WHEN has_table_privilege(:role, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
                 CASE WHEN has_table_privilege(:role, c.oid, 'TRIGGER') THEN 'TRIGGER' END,
                 CASE WHEN has_table_privilege(:role, c.oid, 'REFERENCES') THEN 'REFERENCES' END
               ], NULL) AS privileges
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
         ORDER BY c.relname
        """,
        schema=SCHEMA,
        role=cat.runtime_role,
    )
    for r in rows:
        if r.privileges:
            result.fail(
                r.relname,
                f'the runtime role "{cat.runtime_role}" may {", ".join(r.privileges)} '
                f"{r.relname} (TRUNCATE empties every tenant's rows; row-level security does not "
                "apply to it)",
            )
    create = await conn.scalar(
        text("SELECT has_schema_privilege(:role, :schema, 'CREATE')"),
        {"role": cat.runtime_role, "schema": SCHEMA},
    )
    if create:
        result.fail(
            SCHEMA,
            f'the runtime role "{cat.runtime_role}" may create objects in schema {SCHEMA} '
            "(it would own them)",
        )
    # the private global tables have no row-level security: any privilege on one reaches it all
    # (platform_audit_logs: the runtime role could read, forge or erase the record of every
    # super-admin's cross-tenant read)
    for name in sorted(set(PRIVATE_TABLES) & set(cat.tables)):
        held = await conn.scalar(
            text(
                "SELECT array_remove(ARRAY["
                + ", ".join(
                    f"CASE WHEN has_table_privilege(:role, CAST(:t AS regclass), '{p}') "
                    f"OR ('{p}' IN ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES') AND "
                    f"has_any_column_privilege(:role, CAST(:t AS regclass), '{p}')) "
                    f"THEN '{p}' END"
                    for p in (
                        "SELECT",
                        "INSERT",
                        "UPDATE",
                        "DELETE",
                        "TRUNCATE",
                        "REFERENCES",
                        "TRIGGER",
                    )
                )
                + "], NULL)"
            ),
            {"role": cat.runtime_role, "t": f"{quote_ident(SCHEMA)}.{quote_ident(name)}"},
        )
        if held:
            result.fail(
                name,
                f'the runtime role "{cat.runtime_role}" may {", ".join(held)} {name}, a table '
                "it must hold no privilege on (it has no row-level security)",
            )
    return result


# Every role `:role` is a member of, directly or through other roles (grants are followed whatever
# their INHERIT option: SET ROLE reaches a role either way).
_MEMBER_OF = """
    WITH RECURSIVE member_of(roleid) AS (
        SELECT m.roleid FROM pg_auth_members m JOIN pg_roles me ON me.oid = m.member
         WHERE me.rolname = :role
        UNION
        SELECT m.roleid FROM pg_auth_members m JOIN member_of ON m.member = member_of.roleid
    )"""


async def check_memberships(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "role.memberships",
        "the runtime role is not a member (directly or transitively) of a role that is superuser, "
        "BYPASSRLS, owns a relation or function of the schema, is named by a policy, or holds a "
        "privilege row-level security does not govern (SET ROLE reaches it)",
    )
    rows = await _rows(
        conn,
        f"""
        {_MEMBER_OF}
        SELECT r.rolname, r.rolsuper, r.rolbypassrls,
               EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = :schema AND c.relowner = r.oid) AS owns_relations,
               EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname = :schema AND p.proowner = r.oid) AS owns_functions,
               EXISTS (SELECT 1 FROM pg_policy p WHERE r.oid = ANY(p.polroles)) AS in_policies,
               r.rolreplication
                 OR r.rolname IN ('pg_execute_server_program', 'pg_read_server_files',
                                  'pg_write_server_files') AS server_access
          FROM pg_roles r
         WHERE r.oid IN (SELECT roleid FROM member_of)
         ORDER BY r.rolname
        """,
        schema=SCHEMA,
        role=cat.runtime_role,
    )
    for r in rows:
        why = [
            label
            for label, flag in (
                ("is a superuser", r.rolsuper),
                ("has BYPASSRLS", r.rolbypassrls),
                ("owns tables of the schema", r.owns_relations),
                ("owns functions of the schema", r.owns_functions),
                ("is named by a policy", r.in_policies),
                (
                    "may replicate, read or write server files or run server programs",
                    r.server_access,
                ),
            )
            if flag
        ]
        # SET ROLE reaches a role's own privileges whatever INHERIT says (the runtime role is
        # NOINHERIT, so the privilege checks above, which ask about it, do not see them)
        why.extend(await _ungoverned_reach(conn, r.rolname))
        if why:
            result.fail(
                r.rolname,
                f'the runtime role "{cat.runtime_role}" is a member of {r.rolname}, which '
                f"{'; '.join(why)}: it can bypass RLS",
            )
    return result


async def _ungoverned_reach(conn: AsyncConnection, role: str) -> list[str]:
    """What `role` may do that row-level security does not govern: TRUNCATE, TRIGGER or
    REFERENCES on a table of the schema, CREATE on it, any privilege on a private table, a table
    or view it may read or write or a SECURITY DEFINER function it may execute outside it."""
    outside = (
        "n.nspname NOT IN (:schema, 'pg_catalog', 'information_schema')"
        " AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"
        " AND has_schema_privilege(:role, n.oid, 'USAGE')"
    )
    not_extension = (
        "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass"
        " AND d.objid = {oid} AND d.deptype = 'e')"
    )
    row = (
        await _rows(
            conn,
            f"""
            SELECT ARRAY(SELECT c.relname::text FROM pg_class c
                           JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
                            AND has_table_privilege(:role, c.oid, 'TRUNCATE, TRIGGER, REFERENCES')
                          ORDER BY 1) AS ungoverned,
                   has_schema_privilege(:role, :schema, 'CREATE') AS creates,
                   ARRAY(SELECT c.relname::text FROM pg_class c
                           JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = :schema AND c.relname = ANY(:private)
                            AND (has_any_column_privilege(:role, c.oid,
                                                          'SELECT, INSERT, UPDATE, REFERENCES')
                                 OR has_table_privilege(:role, c.oid,
                                                        'DELETE, TRUNCATE, TRIGGER'))
                          ORDER BY 1) AS private,
                   ARRAY(SELECT n.nspname || '.' || c.relname FROM pg_class c
                           JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE {outside} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                            AND {not_extension.format(catalog="pg_class", oid="c.oid")}
                            AND (has_any_column_privilege(:role, c.oid, 'SELECT, INSERT, UPDATE')
                                 OR has_table_privilege(:role, c.oid, 'DELETE, TRUNCATE'))
                          ORDER BY 1) AS elsewhere,
                   ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                           JOIN pg_namespace n ON n.oid = p.pronamespace
                          WHERE {outside} AND p.prosecdef
                            AND has_function_privilege(:role, p.oid, 'EXECUTE')
                            AND {not_extension.format(catalog="pg_proc", oid="p.oid")}
                          ORDER BY 1) AS definers
            """,
            schema=SCHEMA,
            role=role,
            private=list(PRIVATE_TABLES),
        )
    )[0]
    why = []
    if row.ungoverned:
        why.append(f"may TRUNCATE, TRIGGER or REFERENCES {', '.join(row.ungoverned)}")
    if row.creates:
        why.append(f"may create in schema {SCHEMA}")
    if row.private:
        why.append(f"holds privileges on {', '.join(row.private)}")
    if row.elsewhere:
        why.append(f"may read or write {', '.join(row.elsewhere)}")
    if row.definers:
        why.append(f"may execute SECURITY DEFINER {', '.join(row.definers)}")
    return why


# Settings a role or database default may not give the runtime or platform role: a default
# request context (`app.current_tenant_id`, …) makes a transaction that forgets to bind one read
# that tenant's rows instead of none; `session_replication_role = replica` switches off the
# triggers that enforce the composite foreign keys, so a row may reference another tenant's.
_CONTEXT_PREFIX = "app."


def _unsafe_default(entry: str) -> bool:
    name, _, value = entry.partition("=")
    name = name.strip().lower()
    if name.startswith(_CONTEXT_PREFIX):
        return True
    return name == "session_replication_role" and value.strip().lower() != "origin"


async def check_role_settings(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    platform = platform_role_for(cat.runtime_role)
    result = CheckResult(
        "role.settings",
        "no role or database default gives the runtime or platform role a request context "
        "(app.*) or switches off the foreign-key triggers (session_replication_role)",
    )
    rows = await _rows(
        conn,
        """
        SELECT CASE WHEN s.setrole = 0 THEN 'every role' ELSE pg_get_userbyid(s.setrole) END
                 AS who,
               CASE WHEN s.setdatabase = 0 THEN 'every database' ELSE 'this database' END
                 AS scope,
               s.setconfig
          FROM pg_db_role_setting s
         WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database
                                      WHERE datname = current_database()))
           AND (s.setrole = 0 OR s.setrole IN (SELECT oid FROM pg_roles
                                                WHERE rolname IN (:role, :platform)))
         ORDER BY 1, 2
        """,
        role=cat.runtime_role,
        platform=platform,
    )
    for r in rows:
        for entry in r.setconfig or ():
            if _unsafe_default(entry):
                name = entry.partition("=")[0]
                result.fail(
                    f"{r.who}: {name}",
                    f"a default for {r.who} in {r.scope} sets {entry}: "
                    + (
                        "a transaction that binds no tenant would get this context instead of "
                        "seeing nothing"
                        if name.lower().startswith(_CONTEXT_PREFIX)
                        else "the triggers that enforce the composite foreign keys do not fire"
                    )
                    + f" (ALTER ROLE … RESET {name}, or ALTER DATABASE … RESET {name})",
                )
    return result


async def check_definers(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "functions.definers",
        "every SECURITY DEFINER function is a registered crossing that PUBLIC cannot execute",
    )
    rows = await _rows(
        conn,
        """
        SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS name,
               has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = :schema AND p.prosecdef
         ORDER BY 1
        """,
        schema=SCHEMA,
    )
    for r in rows:
        # identity arguments are spelled "p_slug text, p_domain text": compare the types only
        signature = _signature(r.name)
        if signature not in DEFINER_FUNCTIONS:
            result.fail(
                signature,
                f"SECURITY DEFINER function {signature} is not a registered crossing "
                "(app/verify.py DEFINER_FUNCTIONS)",
            )
            continue
        result.allow(signature, DEFINER_FUNCTIONS[signature])
        if r.public_execute:
            result.fail(signature, f"PUBLIC may execute SECURITY DEFINER function {signature}")
    # a trigger fires whoever writes, without an EXECUTE check: a SECURITY DEFINER trigger
    # function in any other schema runs with its owner's rights on the runtime role's writes
    for r in await _rows(
        conn,
        """
        SELECT DISTINCT p.oid::regprocedure::text AS name, c.relname, t.tgname
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
         WHERE n.nspname = :schema AND NOT t.tgisinternal AND p.prosecdef
           AND pn.nspname <> :schema
         ORDER BY 1, 2, 3
        """,
        schema=SCHEMA,
    ):
        result.fail(
            r.name,
            f"trigger {r.tgname} on {r.relname} runs SECURITY DEFINER function {r.name} (outside "
            f"schema {SCHEMA}) with its owner's rights on every write",
        )
    return result


async def check_rules(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "rules.none",
        "no table of the schema has a rule (a rule's actions run with the table owner's rights, "
        "through the owner's maintenance policies)",
    )
    for r in await _rows(
        conn,
        """
        SELECT c.relname, rw.rulename
          FROM pg_rewrite rw JOIN pg_class c ON c.oid = rw.ev_class
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND rw.rulename <> '_RETURN'
         ORDER BY 1, 2
        """,
        schema=SCHEMA,
    ):
        result.fail(
            f"{r.relname}.{r.rulename}",
            f"rule {r.rulename} on {r.relname}: its actions run with the owner's rights, "
            "whoever writes (use a trigger with SECURITY INVOKER)",
        )
    return result


def _signature(name: str) -> str:
    head, _, args = name.partition("(")
    types = []
    for arg in args.rstrip(")").split(","):
        words = arg.split()
        if words and words[0] in ("IN", "OUT", "INOUT", "VARIADIC"):
            words = words[1:]
        # "p_from timestamp with time zone" -> "timestamp with time zone"
        types.append(" ".join(words[1:]) if len(words) > 1 else " ".join(words))
    return f"{head}({','.join(t for t in types if t)})"


async def check_platform_role(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    platform = platform_role_for(cat.runtime_role)
    result = CheckResult(
        "role.platform",
        f"the platform role {platform} exists, bypasses nothing, owns nothing, holds no table "
        "privilege (only EXECUTE on the platform functions), and the runtime role is not a "
        "member of it",
    )
    role = await _role(conn, platform)
    if role is None:
        result.fail(platform, f"the platform role {platform} does not exist: run migrate")
        return result
    for label, flag in (("is a superuser", role.rolsuper), ("has BYPASSRLS", role.rolbypassrls)):
        if flag:
            result.fail(platform, f"{platform} {label}")
    owned = await _rows(
        conn,
        """
        SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :schema AND c.relowner = :oid
        UNION ALL
        SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = :schema AND p.proowner = :oid
        """,
        schema=SCHEMA,
        oid=role.oid,
    )
    for r in owned:
        result.fail(r.name, f"{platform} owns {r.name}")
    granted = await _rows(
        conn,
        """
        SELECT DISTINCT c.relname AS name FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = :oid)
        """,
        schema=SCHEMA,
        oid=role.oid,
    )
    for r in granted:
        result.fail(r.name, f"{platform} holds privileges on {r.name}")
    member = (
        await conn.execute(
            text(
                f"{_MEMBER_OF} SELECT EXISTS (SELECT 1 FROM member_of JOIN pg_roles r "
                "ON r.oid = member_of.roleid WHERE r.rolname = :platform)"
            ),
            {"role": cat.runtime_role, "platform": platform},
        )
    ).scalar()
    if member:
        result.fail(
            platform,
            f'the runtime role "{cat.runtime_role}" is a member of {platform}, which may '
            "execute the cross-tenant platform functions",
        )
    return result


async def check_keys(conn: AsyncConnection, cat: Catalog) -> CheckResult:
    result = CheckResult(
        "keys.tenant_leading",
        "tenant_id leads every primary key, unique constraint/index and foreign key between "
        "tenant tables (ready to distribute by tenant)",
    )
    tenant_tables = cat.tenant_tables
    rows = await _rows(
        conn,
        """
        SELECT c.relname AS table_name, i.relname AS index_name, x.indisprimary,
               con.conname, x.indkey[0] AS first_attnum,
               (SELECT a.attname FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum = x.indkey[0]) AS first_column,
               pg_get_indexdef(x.indexrelid) AS definition
          FROM pg_index x
          JOIN pg_class c ON c.oid = x.indrelid
          JOIN pg_class i ON i.oid = x.indexrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.contype IN ('p', 'u')
         WHERE n.nspname = :schema AND x.indisunique
         ORDER BY 1, 2
        """,
        schema=SCHEMA,
    )
    for r in rows:
        if r.table_name not in tenant_tables or r.first_column == TENANT_COLUMN:
            continue
        name = r.conname or r.index_name
        kind = (
            "primary key"
            if r.indisprimary
            else ("unique constraint" if r.conname else "unique index")
        )
        exception = _allowed(result.id, r.table_name, name)
        obj = f"{r.table_name}.{name}"
        if exception is not None:
            result.allow(obj, exception.reason)
        else:
            result.fail(obj, f"{kind} {name} on {r.table_name} is not led by tenant_id")
    for fk in cat.foreign_keys:
        if fk.child not in tenant_tables or fk.parent not in tenant_tables:
            continue
        obj = f"{fk.child}.{fk.name}"
        exception = _allowed(result.id, fk.child, fk.name)
        if fk.child_columns[0] == TENANT_COLUMN and fk.parent_columns[0] == TENANT_COLUMN:
            continue
        if exception is not None:
            result.allow(obj, exception.reason)
        else:
            result.fail(
                obj,
                f"foreign key {fk.name} ({fk.describe()}) is not led by tenant_id on both sides",
            )
    return result


# The order of the report: (id, check, whether it reads rows, which `data=False` skips).
CHECKS: tuple[tuple[str, CheckFn, bool], ...] = (
    ("migrations.head", check_migrations, False),
    ("registry.tables", check_registry, False),
    ("tenant_id.not_null", check_tenant_not_null, True),
    ("tenant_id.parent_match", check_parent_match, True),
    ("rls.enabled", check_rls_enabled, False),
    ("rls.forced", check_rls_forced, False),
    ("rls.policies", check_rls_policies, False),
    ("rls.policy_roles", check_policy_roles, False),
    ("rls.tenant_bound", check_policy_bounds, False),
    ("views.security_invoker", check_views, False),
    ("functions.search_path", check_functions, False),
    ("functions.definers", check_definers, False),
    ("rules.none", check_rules, False),
    ("role.not_superuser", check_not_superuser, False),
    ("role.no_bypassrls", check_no_bypassrls, False),
    ("role.owns_nothing", check_owns_nothing, False),
    ("role.privileges", check_privileges, False),
    ("role.memberships", check_memberships, False),
    ("role.settings", check_role_settings, False),
    ("role.platform", check_platform_role, False),
    ("role.other_schemas", check_other_schemas, False),
    ("keys.tenant_leading", check_keys, False),
)
CHECK_IDS: tuple[str, ...] = tuple(check_id for check_id, _, _ in CHECKS)

SERVE_SKIPS = frozenset({"keys.tenant_leading"})
"""What `serve` does not refuse to start for: readiness to distribute by tenant is not isolation."""


async def run_checks(
    conn: AsyncConnection,
    runtime_role: str,
    *,
    data: bool = True,
    skip: Collection[str] = (),
) -> Report:
    """Every check, in order, on `conn` (an owner or superuser connection; nothing is written).

    `data=False` skips the row scans (NULL tenant ids, parent/child tenants) but keeps the schema
    part of `tenant_id.not_null`: what `serve` runs before it starts. `skip` names checks to
    leave out."""
    cat = await read_catalog(conn, runtime_role)
    results = []
    for check_id, fn, reads_rows in CHECKS:
        if check_id in skip:
            continue
        if reads_rows and not data:
            if fn is check_tenant_not_null:
                results.append(_schema_only_not_null(cat))
            continue
        result = await fn(conn, cat)
        assert result.id == check_id
        results.append(result)
    return Report(runtime_role=runtime_role, checks=results)


def _schema_only_not_null(cat: Catalog) -> CheckResult:
    result = CheckResult("tenant_id.not_null", "tenant_id is NOT NULL in every tenant table")
    for name in sorted(cat.tenant_tables):
        if _allowed(result.id, name, TENANT_COLUMN) is not None:
            continue
        if TENANT_COLUMN not in cat.tables[name].not_null:
            result.fail(f"{name}.{TENANT_COLUMN}", f"{name}.tenant_id is nullable")
    return result
