"""The demo data of API.md: three firms of different sizes, so that a leak shows in counts."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import hash_password
from app.context import Role
from repositories.models import (
    AuditLog,
    BookingSettings,
    HealthLog,
    OrganizationSettings,
    Service,
    Task,
    TenantDomain,
)
from repositories.platform import PlatformRepository

DEMO_PASSWORD = "demo-password"  # noqa: S105 - documented demo credential
_NS = uuid.UUID("5b0c1f52-3f7e-4a8e-9d55-0d6f1c1e7a10")


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    tasks: int
    services: tuple[tuple[str, str, int, int], ...]  # slug, name, price (cents), minutes


TENANTS = (
    DemoTenant(
        "acme",
        "Acme Advisory",
        37,
        (
            ("tax-return", "Personal tax return", 45000, 90),
            ("bookkeeping", "Monthly bookkeeping", 30000, 120),
            ("payroll", "Payroll run", 15000, 60),
            ("audit-prep", "Audit preparation", 120000, 240),
            ("consultation", "Initial consultation", 0, 30),
        ),
    ),
    DemoTenant(
        "globex",
        "Globex Consulting",
        23,
        (
            ("strategy", "Strategy workshop", 250000, 480),
            ("market-study", "Market study", 180000, 600),
            ("coaching", "Executive coaching", 40000, 60),
        ),
    ),
    DemoTenant(
        "initech",
        "Initech Legal",
        11,
        (
            ("contract-review", "Contract review", 60000, 120),
            ("incorporation", "Company incorporation", 90000, 180),
        ),
    ),
)

USERS: tuple[tuple[str, str, bool], ...] = (
    ("alice@acme.test", "Alice Anders", False),
    ("bob@globex.test", "Bob Barker", False),
    ("carol@acme.test", "Carol Chen", False),
    ("dave@initech.test", "Dave Dietrich", False),
    ("root@platform.test", "Platform Root", True),
)

MEMBERSHIPS: tuple[tuple[str, str, Role, bool], ...] = (
    ("acme", "alice@acme.test", Role.ADMIN, True),
    ("globex", "alice@acme.test", Role.STAFF, False),
    ("globex", "bob@globex.test", Role.ADMIN, True),
    ("acme", "carol@acme.test", Role.CLIENT, True),
    ("initech", "dave@initech.test", Role.ADMIN, True),
    ("acme", "dave@initech.test", Role.STAFF, False),
)

_TITLES = (
    "Collect receipts for {client}",
    "Prepare quarterly VAT filing",
    "Reconcile bank statements",
    "Draft engagement letter for {client}",
    "Review payroll exceptions",
    "Chase missing invoices from {client}",
    "Update client KYC documents",
    "Schedule year-end review with {client}",
    "File annual accounts",
    "Answer tax authority query",
    "Prepare board pack",
    "Check contract renewal terms",
)
_CLIENTS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware", "Proseware")
_STATUSES = ("TODO", "IN_PROGRESS", "BLOCKED", "DONE")
_PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")


def _id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(_NS, "/".join(parts))


async def seed_demo(session: AsyncSession, *, now: datetime | None = None) -> dict[str, int]:
    """Create whatever part of the demo data is missing; returns how many rows were new."""
    now = now or datetime.now(UTC)
    platform = PlatformRepository(session)
    created = {"tenants": 0, "users": 0, "memberships": 0, "services": 0, "tasks": 0, "audit": 0}
    created.update({"settings": 0, "domains": 0, "health": 0})

    tenant_ids: dict[str, uuid.UUID] = {}
    for demo in TENANTS:
        found = await platform.get_tenant(slug=demo.slug)
        if found is None:
            found = await platform.create_tenant(slug=demo.slug, name=demo.name)
            created["tenants"] += 1
        tenant_ids[demo.slug] = found.id

    user_ids: dict[str, uuid.UUID] = {}
    names = {email: name for email, name, _ in USERS}
    for email, _name, superadmin in USERS:
        user_id = await platform.get_user_id(email=email)
        if user_id is None:
            user_id = await platform.create_user(
                email=email, password_hash=hash_password(DEMO_PASSWORD), is_superadmin=superadmin
            )
            created["users"] += 1
        user_ids[email] = user_id

    for slug, email, role, default in MEMBERSHIPS:
        if await platform.add_member(
            slug=slug, email=email, role=role, is_default=default, display_name=names[email]
        ):
            created["memberships"] += 1

    for demo in TENANTS:
        tenant_id = tenant_ids[demo.slug]
        rng = random.Random(demo.slug)  # noqa: S311 - demo data, not security
        members = [user_ids[e] for s, e, r, _ in MEMBERSHIPS if s == demo.slug and r != Role.CLIENT]
        clients = [user_ids[e] for s, e, r, _ in MEMBERSHIPS if s == demo.slug and r == Role.CLIENT]
        created["services"] += await platform.insert_missing(
            Service,
            [
                {
                    "tenant_id": tenant_id,
                    "id": _id(demo.slug, "service", slug),
                    "slug": slug,
                    "name": name,
                    "price_cents": price,
                    "duration_minutes": minutes,
                }
                for slug, name, price, minutes in demo.services
            ],
        )
        tasks = []
        for i in range(demo.tasks):
            status = _STATUSES[i % len(_STATUSES)]
            created_at = now - timedelta(days=60 - i * 55 / demo.tasks, hours=rng.randint(0, 8))
            # Every fifth task is overdue (due in the past, not done); every third unassigned.
            due = (
                now - timedelta(days=rng.randint(1, 10))
                if i % 5 == 1
                else (now + timedelta(days=rng.randint(1, 30)) if i % 4 else None)
            )
            if i % 5 == 1 and status == "DONE":
                status = "IN_PROGRESS"
            creator = (
                clients[i % len(clients)] if clients and i % 12 == 0 else members[i % len(members)]
            )
            tasks.append(
                {
                    "tenant_id": tenant_id,
                    "id": _id(demo.slug, "task", str(i)),
                    "title": rng.choice(_TITLES).format(client=rng.choice(_CLIENTS)),
                    "description": f"Demo task {i + 1} of {demo.name}.",
                    "status": status,
                    "priority": _PRIORITIES[rng.randrange(len(_PRIORITIES))],
                    "due_at": due,
                    "assignee_id": None if i % 3 == 0 else members[(i + 1) % len(members)],
                    "created_by_id": creator,
                    "service_id": _id(
                        demo.slug, "service", demo.services[i % len(demo.services)][0]
                    ),
                    "created_at": created_at,
                    "updated_at": created_at,
                }
            )
        created["tasks"] += await platform.insert_missing(Task, tasks)
        created["audit"] += await platform.insert_missing(
            AuditLog,
            [
                {
                    "tenant_id": tenant_id,
                    "id": _id(demo.slug, "audit", str(row["id"])),
                    "actor_id": row["created_by_id"],
                    "action": "task.create",
                    "target_type": "task",
                    "target_id": row["id"],
                    "request_id": "demo-seed",
                    "changes": {"title": row["title"]},
                    "created_at": row["created_at"],
                }
                for row in tasks
            ],
        )
        await _seed_admin(platform, demo.slug, tenant_id, now, created)
    return created


# Admin surface: acme has its own organization settings and a custom domain, globex its own
# booking rules, initech nothing (it reads the global defaults). Health checks differ in number.
_ORGANIZATION = {
    "acme": {"display_name": "Acme Advisory LLP", "timezone": "Europe/London", "locale": "en-GB"}
}
_BOOKING = {"globex": {"slot_minutes": 60, "min_notice_hours": 48, "max_advance_days": 180}}
_DOMAINS = {"acme": ("portal.acme-advisory.test",), "globex": ("clients.globex-consulting.test",)}
_HEALTH = {"acme": 6, "globex": 4, "initech": 2}
_CHECKS = ("calendar-sync", "accounting-export", "webhook-delivery")


async def _seed_admin(
    platform: PlatformRepository,
    slug: str,
    tenant_id: uuid.UUID,
    now: datetime,
    created: dict[str, int],
) -> None:
    for model, values in ((OrganizationSettings, _ORGANIZATION), (BookingSettings, _BOOKING)):
        if slug in values:
            created["settings"] += await platform.insert_missing(
                model,
                [{"id": _id(slug, model.__tablename__), "tenant_id": tenant_id, **values[slug]}],
            )
    created["domains"] += await platform.insert_missing(
        TenantDomain, [{"tenant_id": tenant_id, "domain": d} for d in _DOMAINS.get(slug, ())]
    )
    created["health"] += await platform.insert_missing(
        HealthLog,
        [
            {
                "tenant_id": tenant_id,
                "id": _id(slug, "health", str(i)),
                "check_name": _CHECKS[i % len(_CHECKS)],
                "status": "WARNING" if i % 4 == 3 else "OK",
                "details": {"latency_ms": 120 + 15 * i},
                "created_at": now - timedelta(hours=6 * i),
            }
            for i in range(_HEALTH[slug])
        ],
    )
