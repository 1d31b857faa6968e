"""The benchmark dataset: N tenants of skewed sizes (Pareto), one named tenant of exactly
`big_tasks` tasks, and their users, memberships, services, tasks, bookings, service requests and
compliance records, streamed into PostgreSQL with binary COPY.

Every tenant draws its rows from its own random generator (seeded by the run seed and its slug),
so the named tenant holds the same rows in a 10-tenant and in a 1,000-tenant database. Tasks are
emitted month by month across all tenants, so a tenant's rows are spread over the table as they
would be after a year of use, not stored in one block.

The data goes into a database of its own (`tenantgraph_bench*`), built by the real migrations,
then VACUUM ANALYZE; never the development or test database.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

BENCH_PASSWORD = "bench-password"  # noqa: S105 - the password of generated accounts only
BIG_SLUG = "bench-big"
SECOND_SLUG = "bench-second"  # the big tenant's admin is also a member here (switchTenant)
MONTHS = 12
TASK_STATUSES = (("DONE", 45), ("TODO", 25), ("IN_PROGRESS", 20), ("BLOCKED", 10))
PRIORITIES = (("LOW", 30), ("MEDIUM", 40), ("HIGH", 20), ("URGENT", 10))
BOOKING_STATUSES = (("COMPLETED", 40), ("CONFIRMED", 25), ("REQUESTED", 15), ("CANCELLED", 20))
REQUEST_STATUSES = (
    ("NEW", 20),
    ("IN_REVIEW", 15),
    ("CONVERTED", 35),
    ("REJECTED", 15),
    ("CLOSED", 15),
)
COMPLIANCE_STATUSES = (("PENDING", 35), ("COMPLIANT", 40), ("NON_COMPLIANT", 15), ("WAIVED", 10))
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Spec:
    tenants: int
    tasks: int
    seed: int = 8
    big_tasks: int = 10_000
    pareto_alpha: float = 1.2

    def __post_init__(self) -> None:
        if self.tenants < 2:
            raise ValueError("the dataset needs at least 2 tenants (the named one and another)")
        if self.tasks < self.big_tasks + self.tenants - 1:
            raise ValueError(
                f"{self.tasks} tasks cannot give {BIG_SLUG} {self.big_tasks} tasks and every "
                f"other tenant at least one"
            )

    def label(self) -> str:
        return f"tenants={self.tenants} tasks={self.tasks} seed={self.seed} big={self.big_tasks}"


@dataclass(frozen=True)
class TenantPlan:
    index: int
    slug: str
    tasks: int

    @property
    def members(self) -> int:
        return max(4, min(300, round(math.sqrt(self.tasks) * 1.2)))

    @property
    def services(self) -> int:
        return max(2, min(20, self.tasks // 400 + 2))

    @property
    def bookings(self) -> int:
        return self.tasks // 4

    @property
    def service_requests(self) -> int:
        return self.tasks // 10

    @property
    def compliance_records(self) -> int:
        return self.tasks // 20


def plan(spec: Spec) -> list[TenantPlan]:
    """Tenant sizes: the named tenant first with exactly `big_tasks`, the others Pareto-distributed
    (a few large, a long tail of small ones), at least one task each, summing to `spec.tasks`."""
    rng = random.Random(f"{spec.seed}/sizes")
    others = spec.tenants - 1
    rest = spec.tasks - spec.big_tasks
    weights = [rng.paretovariate(spec.pareto_alpha) for _ in range(others)]
    total = sum(weights)
    sizes = [max(1, math.floor(w / total * rest)) for w in weights]
    # hand out (or take back) the rounding difference, largest tenants first
    order = sorted(range(others), key=lambda i: -weights[i])
    diff = rest - sum(sizes)
    i = 0
    while diff != 0:
        j = order[i % others]
        step = 1 if diff > 0 else -1
        if sizes[j] + step >= 1:
            sizes[j] += step
            diff -= step
        i += 1
    plans = [TenantPlan(0, BIG_SLUG, spec.big_tasks)]
    for n, size in enumerate(sizes, start=1):
        slug = SECOND_SLUG if n == 1 else f"t-{n:05d}"
        plans.append(TenantPlan(n, slug, size))
    return plans


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> Callable[[], str]:
    values = [v for v, _ in options]
    cum: list[int] = []
    acc = 0
    for _, w in options:
        acc += w
        cum.append(acc)

    def pick() -> str:
        return rng.choices(values, cum_weights=cum)[0]

    return pick


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


@dataclass
class TenantRows:
    """One tenant's generator state and the ids other tables refer to."""

    plan: TenantPlan
    now: datetime
    seed: int
    rng: random.Random = field(init=False)
    id: uuid.UUID = field(init=False)
    admins: list[uuid.UUID] = field(default_factory=list)
    staff: list[uuid.UUID] = field(default_factory=list)
    clients: list[uuid.UUID] = field(default_factory=list)
    services: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    linked_tasks: list[uuid.UUID] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}/{self.plan.slug}")
        self.id = _uuid(self.rng)
        self.status = _weighted(self.rng, TASK_STATUSES)
        self.priority = _weighted(self.rng, PRIORITIES)

    @property
    def workers(self) -> list[uuid.UUID]:
        return self.admins + self.staff


def _users(t: TenantRows, password_hash: str) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(users row, tenant_memberships row) per member: 1 admin per 25 members (at least one),
    30% staff, the rest clients."""
    rng = t.rng
    n = t.plan.members
    n_admins = max(1, n // 25)
    n_staff = max(1, round(n * 0.3))
    for k in range(n):
        user_id = _uuid(rng)
        role = "ADMIN" if k < n_admins else "STAFF" if k < n_admins + n_staff else "CLIENT"
        (t.admins if role == "ADMIN" else t.staff if role == "STAFF" else t.clients).append(user_id)
        email = f"{role.lower()}{k}@{t.plan.slug}.bench.test"
        yield (
            (user_id, email, password_hash),
            (t.id, user_id, role, True, "active", f"{role.title()} {k}"),
        )


def _services(t: TenantRows) -> Iterator[tuple[Any, ...]]:
    for k in range(t.plan.services):
        service_id = _uuid(t.rng)
        price = t.rng.choice((5_000, 9_000, 12_000, 15_000, 25_000))
        t.services.append((service_id, price))
        yield (t.id, service_id, f"service-{k}", f"Service {k}", price, 60, True)


def _tasks_of_month(t: TenantRows, month: int) -> Iterator[tuple[Any, ...]]:
    """The tenant's tasks created in `month` (0 = the oldest of the last twelve)."""
    n = t.plan.tasks
    count = n * (month + 1) // MONTHS - n * month // MONTHS
    rng = t.rng
    start = t.now - timedelta(days=365) + month * timedelta(days=365 / MONTHS)
    span = 365 / MONTHS * 86_400
    workers = t.workers
    creators = workers + t.clients
    # every sixth task is linked from a service request or compliance record
    for _ in range(count):
        task_id = _uuid(rng)
        created = start + timedelta(seconds=rng.random() * span)
        status = t.status()
        updated = min(t.now, created + timedelta(seconds=rng.random() * 20 * 86_400))
        due = created + timedelta(days=rng.randint(1, 45)) if rng.random() < 0.7 else None
        assignee = rng.choice(workers) if rng.random() < 0.8 else None
        creator = rng.choice(creators) if rng.random() < 0.3 else rng.choice(workers)
        service = rng.choice(t.services)[0] if rng.random() < 0.5 else None
        if rng.random() < 1 / 6:
            t.linked_tasks.append(task_id)
        yield (
            t.id,
            task_id,
            f"Task {rng.randint(1, 999_999)} for {t.plan.slug}",
            status,
            t.priority(),
            due,
            assignee,
            creator,
            service,
            created,
            updated,
            updated if status == "DONE" else None,  # completed_at: what the trigger would set
        )


def _bookings(t: TenantRows) -> Iterator[tuple[Any, ...]]:
    """Bookings over the last 300 days and the next 60; each staff member's bookings follow one
    another (one hour each, 30 minutes apart), so open bookings never overlap."""
    rng = t.rng
    n = t.plan.bookings
    staff = t.workers
    pick = _weighted(rng, BOOKING_STATUSES)
    window_start = t.now - timedelta(days=300)
    per_staff = max(1, math.ceil(n / len(staff)))
    step = timedelta(days=360) / per_staff
    for k in range(n):
        member = staff[k % len(staff)]
        slot = k // len(staff)
        starts = window_start + slot * step
        status = pick()
        if starts > t.now and status == "COMPLETED":
            status = "CONFIRMED"
        service_id, _price = rng.choice(t.services)
        created = starts - timedelta(days=rng.randint(1, 30))
        yield (
            t.id,
            _uuid(rng),
            service_id,
            rng.choice(t.clients),
            member,
            starts,
            starts + timedelta(hours=1),
            status,
            min(created, t.now),
            min(created, t.now),
        )


def _service_requests(t: TenantRows) -> Iterator[tuple[Any, ...]]:
    rng = t.rng
    pick = _weighted(rng, REQUEST_STATUSES)
    linked = iter(t.linked_tasks[: len(t.linked_tasks) // 2])
    for _ in range(t.plan.service_requests):
        status = pick()
        task = next(linked, None) if status == "CONVERTED" else None
        if status == "CONVERTED" and task is None:
            status = "IN_REVIEW"
        created = t.now - timedelta(seconds=rng.random() * 365 * 86_400)
        yield (
            t.id,
            _uuid(rng),
            rng.choice(t.services)[0],
            rng.choice(t.clients),
            "Please help with our accounts",
            status,
            task,
            created,
            created,
        )


def _compliance(t: TenantRows) -> Iterator[tuple[Any, ...]]:
    rng = t.rng
    pick = _weighted(rng, COMPLIANCE_STATUSES)
    linked = t.linked_tasks[len(t.linked_tasks) // 2 :]
    for k in range(t.plan.compliance_records):
        created = t.now - timedelta(seconds=rng.random() * 365 * 86_400)
        yield (
            t.id,
            _uuid(rng),
            linked[k] if k < len(linked) else None,
            f"Filing {k}",
            rng.choice(("tax", "audit", "payroll")),
            pick(),
            t.now + timedelta(days=rng.randint(-60, 120)),
            rng.choice(t.workers),
            created,
            created,
        )


COLUMNS = {
    "tenants": ("id", "slug", "name"),
    "users": ("id", "email", "password_hash"),
    "tenant_memberships": ("tenant_id", "user_id", "role", "is_default", "status", "display_name"),
    "organization_settings": ("tenant_id", "timezone"),
    "services": (
        "tenant_id",
        "id",
        "slug",
        "name",
        "price_cents",
        "duration_minutes",
        "active",
    ),
    "tasks": (
        "tenant_id",
        "id",
        "title",
        "status",
        "priority",
        "due_at",
        "assignee_id",
        "created_by_id",
        "service_id",
        "created_at",
        "updated_at",
        "completed_at",
    ),
    "bookings": (
        "tenant_id",
        "id",
        "service_id",
        "client_id",
        "staff_id",
        "starts_at",
        "ends_at",
        "status",
        "created_at",
        "updated_at",
    ),
    "service_requests": (
        "tenant_id",
        "id",
        "service_id",
        "client_id",
        "description",
        "status",
        "task_id",
        "created_at",
        "updated_at",
    ),
    "compliance_records": (
        "tenant_id",
        "id",
        "task_id",
        "title",
        "category",
        "status",
        "due_at",
        "created_by_id",
        "created_at",
        "updated_at",
    ),
}
LOAD_ORDER = tuple(COLUMNS)


@dataclass
class LoadResult:
    counts: dict[str, int]
    seconds: float
    tenants: list[TenantPlan]


class _Rows:
    """A table's rows as an async iterable for COPY, advancing a progress bar."""

    def __init__(self, rows: Iterator[tuple[Any, ...]], progress: Progress | None, task: Any):
        self.rows = rows
        self.progress = progress
        self.task = task
        self.count = 0

    async def __aiter__(self) -> AsyncIterator[tuple[Any, ...]]:
        batch = 0
        for row in self.rows:
            yield row
            batch += 1
            if batch == 5_000:
                self.count += batch
                if self.progress is not None:
                    self.progress.advance(self.task, batch)
                batch = 0
        self.count += batch
        if self.progress is not None:
            self.progress.advance(self.task, batch)


async def _secondary_indexes(conn: asyncpg.Connection, tables: tuple[str, ...]) -> list[str]:
    """Definitions of the indexes that back no constraint (dropped for the load, rebuilt after)."""
    rows = await conn.fetch(
        """SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
            WHERE c.relname = ANY($1::text[]) AND c.relnamespace = 'public'::regnamespace
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)""",
        list(tables),
    )
    return [f"{r['name']}\t{r['def']}" for r in rows]


async def load(
    conn: asyncpg.Connection,
    spec: Spec,
    *,
    show_progress: bool = True,
    fast: bool = True,
    log: Callable[[str], None] = print,
) -> LoadResult:
    """Generate and COPY the dataset into the (migrated, empty) database of `conn`.

    `conn` is the schema owner or a superuser. With `fast` and a superuser, the load runs with
    `session_replication_role = replica` (no foreign-key or trigger checks, which the generator
    satisfies by construction; the tests load a small dataset with every check on) and rebuilds
    the secondary indexes after the load."""
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    plans = plan(spec)
    tenants = [TenantRows(p, now, spec.seed) for p in plans]
    from app.auth.passwords import hash_password

    password_hash = hash_password(BENCH_PASSWORD)
    superuser = await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    replica = fast and superuser
    await conn.execute("SET synchronous_commit = off")
    await conn.execute("SET maintenance_work_mem = '256MB'")
    if replica:
        await conn.execute("SET session_replication_role = replica")
    indexes = await _secondary_indexes(conn, LOAD_ORDER) if fast else []
    for entry in indexes:
        await conn.execute(f"DROP INDEX {entry.split(chr(9))[0]}")

    totals = {
        "tenants": len(plans),
        "users": sum(p.members for p in plans),
        "tenant_memberships": sum(p.members for p in plans) + 1,
        "organization_settings": len(plans),
        "services": sum(p.services for p in plans),
        "tasks": sum(p.tasks for p in plans),
        "bookings": sum(p.bookings for p in plans),
        "service_requests": sum(p.service_requests for p in plans),
        "compliance_records": sum(p.compliance_records for p in plans),
    }

    def tenants_rows() -> Iterator[tuple[Any, ...]]:
        for t in tenants:
            name = "Bench Big Firm" if t.plan.slug == BIG_SLUG else f"Firm {t.plan.index}"
            yield (t.id, t.plan.slug, name)

    memberships: list[tuple[Any, ...]] = []

    def users_rows() -> Iterator[tuple[Any, ...]]:
        for t in tenants:
            for user, membership in _users(t, password_hash):
                memberships.append(membership)
                yield user
        # the big tenant's first admin is also an admin of the second tenant (not its default)
        memberships.append((tenants[1].id, tenants[0].admins[0], "ADMIN", False, "active", None))

    def settings_rows() -> Iterator[tuple[Any, ...]]:
        for t in tenants:
            zone = "Europe/Berlin" if t.plan.slug == BIG_SLUG else TIMEZONES[t.plan.index % 5]
            yield (t.id, zone)

    def services_rows() -> Iterator[tuple[Any, ...]]:
        for t in tenants:
            yield from _services(t)

    def tasks_rows() -> Iterator[tuple[Any, ...]]:
        for month in range(MONTHS):
            for t in tenants:
                yield from _tasks_of_month(t, month)

    def per_tenant(make: Callable[[TenantRows], Iterator[tuple[Any, ...]]]) -> Callable[[], Any]:
        def rows() -> Iterator[tuple[Any, ...]]:
            for t in tenants:
                yield from make(t)

        return rows

    sources: dict[str, Callable[[], Iterator[tuple[Any, ...]]]] = {
        "tenants": tenants_rows,
        "users": users_rows,
        "tenant_memberships": lambda: iter(memberships),
        "organization_settings": settings_rows,
        "services": services_rows,
        "tasks": tasks_rows,
        "bookings": per_tenant(_bookings),
        "service_requests": per_tenant(_service_requests),
        "compliance_records": per_tenant(_compliance),
    }
    counts: dict[str, int] = {}
    progress = (
        Progress(
            TextColumn("[bold]{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        )
        if show_progress
        else None
    )
    if progress is not None:
        progress.start()
    try:
        for table in LOAD_ORDER:
            bar = (
                progress.add_task(table, total=totals[table], rate="")
                if progress is not None
                else None
            )
            table_started = time.perf_counter()
            rows = _Rows(sources[table](), progress, bar)
            await conn.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
            counts[table] = rows.count
            if progress is not None:
                rate = rows.count / max(time.perf_counter() - table_started, 1e-6)
                progress.update(bar, total=rows.count, rate=f"{rate:,.0f} rows/s")
        if indexes:
            bar = progress.add_task("indexes", total=len(indexes), rate="") if progress else None
            for entry in indexes:
                await conn.execute(entry.split("\t", 1)[1])
                if progress is not None:
                    progress.advance(bar)
    finally:
        if progress is not None:
            progress.stop()
    if replica:
        await conn.execute("SET session_replication_role = origin")
    log("VACUUM ANALYZE …")
    for table in LOAD_ORDER:
        await conn.execute(f"VACUUM (ANALYZE) {table}")
    return LoadResult(counts=counts, seconds=time.perf_counter() - started, tenants=plans)
