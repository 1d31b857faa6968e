"""What an adoption did (or, with `--dry-run`, would do): counts, where rows went, orphans,
renamed emails, detached references, copied services."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.adopt.backfill import LEGACY_SCHEMA, SCHEMA, TENANT_TABLES
from app.adopt.legacy import LEGACY_TABLES
from app.adopt.swap import expected_counts

LISTED = 20  # rows listed per kind; the full lists stay in the tenantgraph_adopt schema


@dataclass(frozen=True)
class TableCount:
    table: str
    legacy: int
    archived: int
    copies: int
    expected: int
    adopted: int
    to_system: int

    @property
    def ok(self) -> bool:
        return self.adopted == self.expected


@dataclass
class Report:
    dry_run: bool
    orphan_policy: str
    system_tenant: str
    counts: list[TableCount] = field(default_factory=list)
    placement: dict[str, dict[str, int]] = field(default_factory=dict)
    orphan_totals: dict[tuple[str, str], int] = field(default_factory=dict)
    orphans: list[tuple[str, str, str, str]] = field(default_factory=list)
    renamed: list[tuple[str, str, str]] = field(default_factory=list)
    detached: dict[tuple[str, str], int] = field(default_factory=dict)
    service_copies: list[tuple[str, list[str]]] = field(default_factory=list)
    service_copy_total: int = 0
    unplaced_columns: dict[str, list[str]] = field(default_factory=dict)
    main_revision: str | None = None
    already_adopted: bool = False

    @property
    def ok(self) -> bool:
        # an adoption that committed passed its counts check (it rolls back otherwise); the
        # tables it filled have been the product's since, and their counts are no measure of it
        return self.already_adopted or all(c.ok for c in self.counts)

    def count(self, table: str) -> TableCount:
        return next(c for c in self.counts if c.table == table)


def build_report(conn: Connection, *, dry_run: bool) -> Report:
    """Read after the swap (adopt_0004), in the same transaction or any time later."""
    options = conn.execute(text(f"SELECT orphans, system_tenant FROM {SCHEMA}.options")).one()
    report = Report(
        dry_run=dry_run, orphan_policy=options.orphans, system_tenant=options.system_tenant
    )
    report.main_revision = conn.execute(
        text("SELECT version_num FROM public.alembic_version")
    ).scalar()
    to_system = dict(
        conn.execute(
            text(
                f"SELECT table_name, count(*) FROM {SCHEMA}.orphans WHERE disposition = 'system'"
                " GROUP BY 1"
            )
        ).all()
    )
    for table, (legacy, archived, copies, expected) in expected_counts(conn).items():
        adopted = int(conn.execute(text(f"SELECT count(*) FROM public.{table}")).scalar_one())
        report.counts.append(
            TableCount(table, legacy, archived, copies, expected, adopted, to_system.get(table, 0))
        )
    for table in (*TENANT_TABLES, "tenant_memberships"):
        for slug, n in conn.execute(
            text(
                f"SELECT t.slug, count(*) FROM public.{table} x JOIN public.tenants t"
                " ON t.id = x.tenant_id GROUP BY 1 ORDER BY 1"
            )
        ).all():
            report.placement.setdefault(slug, {})[table] = int(n)
    for r in conn.execute(
        text(f"SELECT table_name, disposition, count(*) AS n FROM {SCHEMA}.orphans GROUP BY 1, 2")
    ).all():
        report.orphan_totals[(r.table_name, r.disposition)] = int(r.n)
    report.orphans = [
        (r.table_name, str(r.id), r.disposition, r.reason)
        for r in conn.execute(
            text(
                "SELECT table_name, id, disposition, reason FROM ("
                " SELECT o.*, row_number() OVER (PARTITION BY table_name ORDER BY id) AS n"
                f" FROM {SCHEMA}.orphans o) x WHERE n <= :k ORDER BY table_name, id"
            ),
            {"k": LISTED},
        ).all()
    ]
    for r in conn.execute(
        text(
            "SELECT l.table_name, array_agg(l.column_name::text ORDER BY l.ordinal_position) AS cs"
            " FROM information_schema.columns l WHERE l.table_schema = :legacy"
            " AND l.table_name = ANY(:tables) AND l.column_name NOT IN ('tenant_id')"
            " AND NOT (l.table_name = 'health_logs' AND l.column_name = 'actor_id')"
            " AND NOT EXISTS (SELECT 1 FROM information_schema.columns p"
            "  WHERE p.table_schema = 'public' AND p.table_name = l.table_name"
            "  AND p.column_name = l.column_name) GROUP BY 1"
        ),
        {"legacy": LEGACY_SCHEMA, "tables": list(LEGACY_TABLES)},
    ).all():
        report.unplaced_columns[r.table_name] = list(r.cs)
    report.renamed = [
        (r.original_email, r.new_email, r.kept_email)
        for r in conn.execute(
            text(
                "SELECT re.original_email, re.new_email, u.email AS kept_email"
                f" FROM {SCHEMA}.renamed_emails re JOIN {LEGACY_SCHEMA}.users u"
                " ON u.id = re.kept_user_id ORDER BY lower(re.original_email), re.user_id"
            )
        ).all()
    ]
    for r in conn.execute(
        text(f"SELECT table_name, column_name, count(*) AS n FROM {SCHEMA}.detached GROUP BY 1, 2")
    ).all():
        report.detached[(r.table_name, r.column_name)] = int(r.n)
    copies = conn.execute(
        text(
            "SELECT s.slug, array_agg(t.slug ORDER BY t.slug) AS tenants"
            f" FROM {SCHEMA}.service_tenants st"
            f" JOIN {LEGACY_SCHEMA}.services s ON s.id = st.service_id"
            " JOIN public.tenants t ON t.id = st.tenant_id"
            " GROUP BY s.slug HAVING count(*) > 1 ORDER BY s.slug"
        )
    ).all()
    report.service_copy_total = len(copies)
    report.service_copies = [(r.slug, list(r.tenants)) for r in copies[:LISTED]]
    return report


def render(report: Report, console: Console) -> None:
    title = "Adoption dry run: nothing was written" if report.dry_run else "Adoption report"
    if report.already_adopted:
        title = "Already adopted: the report of the adoption"
    console.print(f"[bold]{title}[/]", highlight=False)
    console.print(
        f"orphans: {report.orphan_policy}"
        + (f" (system tenant {report.system_tenant!r})" if report.orphan_policy == "system" else "")
        + f"; main schema at revision {report.main_revision}",
        highlight=False,
    )

    counts = Table(title="Row counts: nothing lost", title_justify="left")
    adopted = "now" if report.already_adopted else "adopted"
    for name in ("table", "legacy", "→ system", "archived", "+ copies", "expected", adopted, ""):
        counts.add_column(name, justify="left" if name == "table" else "right")
    for c in report.counts:
        if report.already_adopted:
            mark = "" if c.ok else "[dim]changed since[/]"
        else:
            mark = "[green]ok[/]" if c.ok else "[bold red]MISMATCH[/]"
        counts.add_row(
            c.table,
            f"{c.legacy:,}",
            f"{c.to_system:,}",
            f"{c.archived:,}",
            f"{c.copies:,}",
            f"{c.expected:,}",
            f"{c.adopted:,}",
            mark,
        )
    console.print(counts)

    tables = [*TENANT_TABLES, "tenant_memberships"]
    where = Table(title="Where the rows go (per tenant)", title_justify="left")
    where.add_column("tenant")
    for table in tables:
        where.add_column(table, justify="right")
    for slug in sorted(report.placement):
        label = slug + (
            " (system)" if slug == report.system_tenant and report.orphan_policy == "system" else ""
        )
        where.add_row(label, *(f"{report.placement[slug].get(t, 0):,}" for t in tables))
    console.print(where)

    if report.orphan_totals:
        console.print("[bold]Orphans[/] (no relationship leads to a tenant):", highlight=False)
        for (table, disposition), n in sorted(report.orphan_totals.items()):
            verb = "to the system tenant" if disposition == "system" else "archived"
            console.print(f"  {table}: {n:,} {verb}", highlight=False)
        for table, row_id, disposition, reason in report.orphans:
            console.print(f"    {table} {row_id} ({disposition}): {reason}", highlight=False)
        console.print(
            f"  (at most {LISTED} listed per table; all of them: SELECT * FROM {SCHEMA}.orphans)",
            highlight=False,
        )
    else:
        console.print("Orphans: none")

    if report.renamed:
        console.print(
            "[bold]Emails that differ only by letter case[/] (sign-in ignores case): the earlier "
            "account keeps the address, the later one is renamed; merge or delete them by hand:",
            highlight=False,
        )
        for original, new, kept in report.renamed[:LISTED]:
            console.print(f"  {original} → {new}  (kept: {kept})", highlight=False)
        if len(report.renamed) > LISTED:
            console.print(
                f"  … {len(report.renamed) - LISTED:,} more "
                f"(SELECT * FROM {SCHEMA}.renamed_emails)",
                highlight=False,
            )
    else:
        console.print("Duplicate emails: none")

    if report.detached:
        console.print(
            "[bold]References the current schema cannot hold[/] (copied as NULL, kept in "
            f"{SCHEMA}.detached and in the legacy rows):",
            highlight=False,
        )
        for (table, column), n in sorted(report.detached.items()):
            console.print(f"  {table}.{column}: {n:,}", highlight=False)

    if report.unplaced_columns:
        console.print(
            "[bold]Legacy columns the current schema has no place for[/] (their values stay in "
            f"{LEGACY_SCHEMA}):",
            highlight=False,
        )
        for table, columns in sorted(report.unplaced_columns.items()):
            console.print(f"  {table}: {', '.join(columns)}", highlight=False)

    if report.service_copy_total:
        console.print(
            f"[bold]Services used by several tenants[/]: {report.service_copy_total:,}, each "
            "copied into every tenant that uses it (same id and slug; slugs are unique per "
            "tenant now):",
            highlight=False,
        )
        for slug, tenants in report.service_copies:
            console.print(f"  {slug}: {', '.join(tenants)}", highlight=False)
    if report.dry_run:
        console.print("Dry run: all of the above was rolled back; the database is unchanged.")
    else:
        console.print(
            f"The legacy tables are kept, unchanged but for tenant_id, in the schema "
            f"{LEGACY_SCHEMA}.",
            highlight=False,
        )
    if report.already_adopted:
        status = (
            "[green]counts check: ok when the adoption committed[/] (it rolls back otherwise; "
            "the tables have been the product's since)"
        )
    else:
        status = "[green]counts check: ok[/]" if report.ok else "[bold red]counts check: FAILED[/]"
    console.print(status)
