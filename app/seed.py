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
    AvailabilitySlot,
    Booking,
    BookingSettings,
    ComplianceRecord,
    HealthLog,
    Notification,
    OrganizationSettings,
    Service,
    ServiceRequest,
    Task,
    TaskTemplate,
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
        "settings": 0,
        "domains": 0,
        "health": 0,
        "notifications": 0,
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
        # the reminder a job would have left for each overdue task with an assignee
        created["notifications"] += await platform.insert_missing(
            Notification,
            [
                {
                    "tenant_id": tenant_id,
                    "id": _id(demo.slug, "notification", str(row["id"])),
                    "user_id": row["assignee_id"],
                    "kind": "TASK_OVERDUE",
                    "task_id": row["id"],
                    "dedupe_key": f"demo:{row['id']}",
                    "message": f"Overdue task: {row['title']}",
                    "due_at": row["due_at"],
                    "created_at": now - timedelta(hours=1),
                }
                for row in tasks
                if row["assignee_id"]
                and row["due_at"]
                and row["status"] != "DONE"
                and row["due_at"] < now
            ],
        )
        withdrawn, slots, bookings = _portal_rows(demo, tenant_id, members, user_ids, now)
        created["services"] += await platform.insert_missing(Service, withdrawn)
        created["availability_slots"] += await platform.insert_missing(AvailabilitySlot, slots)
        created["bookings"] += await platform.insert_missing(Booking, bookings)
        work = await _seed_work(platform, demo, tenant_id, members, clients, now)
        for key, count in work.items():
            created[key] = created.get(key, 0) + count
        await _seed_admin(platform, demo.slug, tenant_id, now, created)
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


# --- service requests, task templates and compliance records ---------------------------------

# per tenant: (service requests, task templates, compliance records)
_WORK_SIZES = {"acme": (12, 4, 9), "globex": (7, 3, 6), "initech": (4, 2, 3)}
_REQUESTS = (
    "We need help with our quarterly VAT return.",
    "Could you review the payroll for our new hires?",
    "Our year-end accounts are due next month.",
    "Looking for advice on restructuring the company.",
    "Please prepare the documents for an audit.",
    "We received a letter from the tax authority.",
)
_CONTACTS = (
    ("Priya Patel", "priya@northwind.example"),
    ("Tom Becker", "tom.becker@contoso.example"),
    ("Ana Ruiz", "ana@fabrikam.example"),
    ("Jon Olsen", "jon@tailspin.example"),
)
_REQUEST_STATUSES = ("NEW", "IN_REVIEW", "NEW", "REJECTED", "CLOSED")
_TEMPLATES = (
    (
        "Client onboarding",
        "Onboard new client",
        "Collect ID, engagement letter and KYC.",
        "HIGH",
        7,
    ),
    ("Monthly close", "Monthly close checklist", "Reconcile, accrue and report.", "MEDIUM", 5),
    ("VAT filing", "Prepare VAT filing", "Gather invoices and file the return.", "HIGH", 14),
    ("Annual review", "Annual client review", None, "LOW", 30),
)
_COMPLIANCE = (
    ("Anti-money-laundering check", "AML"),
    ("Data protection register review", "GDPR"),
    ("Professional indemnity renewal", "Insurance"),
    ("Client identity verification", "KYC"),
    ("Annual licence renewal", "Licensing"),
)
_COMPLIANCE_STATUSES = ("PENDING", "COMPLIANT", "PENDING", "NON_COMPLIANT", "WAIVED")


async def _seed_work(
    platform: PlatformRepository,
    demo: DemoTenant,
    tenant_id: uuid.UUID,
    members: list[uuid.UUID],
    clients: list[uuid.UUID],
    now: datetime,
) -> dict[str, int]:
    """Service requests (from a client where the tenant has one, else public contacts; every
    fifth converted into one of the demo tasks), task templates and compliance records (some
    overdue, some tied to a task)."""
    n_requests, n_templates, n_records = _WORK_SIZES[demo.slug]
    rng = random.Random(f"{demo.slug}/work")  # noqa: S311 - demo data, not security

    def task_id(i: int) -> uuid.UUID:
        return _id(demo.slug, "task", str(i % demo.tasks))

    requests = []
    for i in range(n_requests):
        created_at = now - timedelta(days=40 - i * 35 / n_requests, hours=rng.randint(0, 8))
        from_client = bool(clients) and i % 2 == 0
        name, email = _CONTACTS[i % len(_CONTACTS)]
        converted = i % 5 == 2
        requests.append(
            {
                "tenant_id": tenant_id,
                "id": _id(demo.slug, "service-request", str(i)),
                "service_id": _id(demo.slug, "service", demo.services[i % len(demo.services)][0])
                if i % 3
                else None,
                "client_id": clients[i % len(clients)] if from_client else None,
                "contact_name": None if from_client else name,
                "contact_email": None if from_client else email,
                "contact_phone": None if from_client or i % 2 else f"+44 20 7946 0{i:03d}",
                "description": _REQUESTS[i % len(_REQUESTS)],
                "status": "CONVERTED"
                if converted
                else _REQUEST_STATUSES[i % len(_REQUEST_STATUSES)],
                "task_id": task_id(i * 3) if converted else None,
                "created_at": created_at,
                "updated_at": created_at,
            }
        )
    templates = [
        {
            "tenant_id": tenant_id,
            "id": _id(demo.slug, "task-template", name),
            "name": name,
            "title": title,
            "description": description,
            "priority": priority,
            "due_in_days": days,
            "created_at": now - timedelta(days=90 - i),
        }
        for i, (name, title, description, priority, days) in enumerate(_TEMPLATES[:n_templates])
    ]
    records = []
    for i in range(n_records):
        title, category = _COMPLIANCE[i % len(_COMPLIANCE)]
        status = _COMPLIANCE_STATUSES[i % len(_COMPLIANCE_STATUSES)]
        # every third record is due in the past; PENDING ones among them are overdue
        due = now + timedelta(days=(-1 if i % 3 == 0 else 1) * rng.randint(3, 60))
        created_at = now - timedelta(days=50 - i * 45 / n_records, hours=rng.randint(0, 8))
        records.append(
            {
                "tenant_id": tenant_id,
                "id": _id(demo.slug, "compliance", str(i)),
                "task_id": task_id(i * 2 + 1) if i % 2 else None,
                "title": f"{title} ({i + 1})" if i >= len(_COMPLIANCE) else title,
                "category": category,
                "status": status,
                "due_at": due,
                "notes": f"Demo compliance record {i + 1} of {demo.name}.",
                "created_by_id": members[i % len(members)],
                "created_at": created_at,
                "updated_at": created_at,
            }
        )
    return {
        "service requests": await platform.insert_missing(ServiceRequest, requests),
        "task templates": await platform.insert_missing(TaskTemplate, templates),
        "compliance records": await platform.insert_missing(ComplianceRecord, records),
    }


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
