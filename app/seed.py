"""The demo data of API.md: three firms of different sizes, so that a leak shows in counts."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import hash_password
from app.context import Role
from repositories.models import AuditLog, AvailabilitySlot, Booking, Service, Task
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
# Per tenant: a withdrawn service (never in the public catalogue), how many availability slots
# and bookings, and who books (a CLIENT where the tenant has one; otherwise members book).
_WITHDRAWN = {
    "acme": ("paper-filing", "Paper filing (withdrawn)", 20000, 60),
    "globex": ("fax-reports", "Faxed reports (withdrawn)", 5000, 30),
}
_SLOTS = {"acme": 24, "globex": 10, "initech": 4}
_BOOKINGS = {"acme": 14, "globex": 6, "initech": 3}
_BOOKERS = {
    "acme": ("carol@acme.test", "carol@acme.test", "dave@initech.test"),
    "globex": ("alice@acme.test",),
    "initech": ("dave@initech.test",),
}

_CLIENTS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware", "Proseware")
_STATUSES = ("TODO", "IN_PROGRESS", "BLOCKED", "DONE")
_PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")


def _id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(_NS, "/".join(parts))


async def seed_demo(session: AsyncSession, *, now: datetime | None = None) -> dict[str, int]:
    """Create whatever part of the demo data is missing; returns how many rows were new."""
    now = now or datetime.now(UTC)
    platform = PlatformRepository(session)
    created = {
        "tenants": 0,
        "users": 0,
        "memberships": 0,
        "services": 0,
        "tasks": 0,
        "audit": 0,
        "availability_slots": 0,
        "bookings": 0,
    }

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
        change = await platform.add_member(
            slug=slug,
            email=email,
            role=role,
            is_default=default,
            display_name=names[email],
            keep_existing=True,  # never undo what an operator changed since
        )
        created["memberships"] += change.created

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
        withdrawn, slots, bookings = _portal_rows(demo, tenant_id, members, user_ids, now)
        created["services"] += await platform.insert_missing(Service, withdrawn)
        created["availability_slots"] += await platform.insert_missing(AvailabilitySlot, slots)
        created["bookings"] += await platform.insert_missing(Booking, bookings)
    return created


def _portal_rows(
    demo: DemoTenant,
    tenant_id: uuid.UUID,
    staff: list[uuid.UUID],
    user_ids: dict[str, uuid.UUID],
    now: datetime,
) -> tuple[list[dict[str, object]], list[dict[str, object]], list[dict[str, object]]]:
    """A withdrawn service, availability slots (mostly ahead, a few past, some for any service)
    and bookings in every status for one demo tenant."""
    day = now.replace(hour=9, minute=0, second=0, microsecond=0)
    withdrawn = _WITHDRAWN.get(demo.slug)
    services = (
        [
            {
                "tenant_id": tenant_id,
                "id": _id(demo.slug, "service", withdrawn[0]),
                "slug": withdrawn[0],
                "name": withdrawn[1],
                "price_cents": withdrawn[2],
                "duration_minutes": withdrawn[3],
                "active": False,
            }
        ]
        if withdrawn
        else []
    )
    slots = []
    for i in range(_SLOTS[demo.slug]):
        starts = day + timedelta(days=i - 2 if i < 3 else i, hours=(i % 3) * 3)
        slots.append(
            {
                "tenant_id": tenant_id,
                "id": _id(demo.slug, "slot", str(i)),
                "staff_id": staff[i % len(staff)],
                "service_id": None
                if i % 4 == 0
                else _id(demo.slug, "service", demo.services[i % len(demo.services)][0]),
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=2),
                "capacity": 1 + i % 3,
            }
        )
    bookings = []
    bookers = _BOOKERS[demo.slug]
    for i in range(_BOOKINGS[demo.slug]):
        service = demo.services[i % len(demo.services)]
        past = i % 3 == 0
        starts = day + timedelta(days=-(i + 1) if past else i + 3, hours=i % 6)
        status = ("COMPLETED", "CANCELLED")[i % 2] if past else ("REQUESTED", "CONFIRMED")[i % 2]
        bookings.append(
            {
                "tenant_id": tenant_id,
                "id": _id(demo.slug, "booking", str(i)),
                "service_id": _id(demo.slug, "service", service[0]),
                "client_id": user_ids[bookers[i % len(bookers)]],
                "staff_id": None if i % 4 == 1 else staff[i % len(staff)],
                "starts_at": starts,
                "ends_at": starts + timedelta(minutes=service[3]),
                "status": status,
                "notes": f"Demo booking {i + 1} of {demo.name}.",
            }
        )
    return services, slots, bookings
