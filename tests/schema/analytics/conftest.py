"""Fixtures of the analytics tests: an independent, row-by-row computation of every aggregate,
organizations made for one test, and the app over either cache backend."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.auth.passwords import hash_password
from app.context import Role
from app.seed import DEMO_PASSWORD
from repositories.platform import PlatformRepository
from schema.ids import encode_id

TASK_STATUSES = ("TODO", "IN_PROGRESS", "BLOCKED", "DONE")
PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")
BOOKING_STATUSES = ("REQUESTED", "CONFIRMED", "CANCELLED", "COMPLETED")
REQUEST_STATUSES = ("NEW", "IN_REVIEW", "CONVERTED", "REJECTED", "CLOSED")
COMPLIANCE_STATUSES = ("PENDING", "COMPLIANT", "NON_COMPLIANT", "WAIVED")
ROLES = ("ADMIN", "STAFF", "CLIENT")


def _counts(name: str, keys: tuple[str, ...], values: list[str]) -> list[dict[str, Any]]:
    return [{name: key, "count": values.count(key)} for key in keys]


def _per_day(start: date, end: date, days: list[date]) -> list[dict[str, Any]]:
    span = (end - start).days + 1
    return [
        {"date": (start + timedelta(days=i)).isoformat(), "count": days.count(start + timedelta(i))}
        for i in range(span)
    ]


async def expected_analytics(
    conn: AsyncConnection, tenant_id: uuid.UUID, start: date, end: date, now: datetime
) -> dict[str, Any]:
    """Every aggregate of `analytics(from: start, to: end)`, counted here in Python over the
    tenant's rows (read on `conn`, which must see them), with the time zone resolved here too."""

    async def rows(sql: str) -> list[Any]:
        return list((await conn.execute(text(sql), {"t": tenant_id})).all())

    own = await rows("SELECT timezone FROM organization_settings WHERE tenant_id = :t")
    glob = await rows("SELECT timezone FROM organization_settings WHERE tenant_id IS NULL")
    tz = (own and own[0].timezone) or (glob and glob[0].timezone) or "UTC"
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()

    def day(value: datetime) -> date:
        return value.astimezone(zone).date()

    def within(value: datetime) -> bool:
        return start <= day(value) <= end

    tasks = await rows(
        "SELECT status, priority, created_at, completed_at, due_at FROM tasks WHERE tenant_id = :t"
    )
    created = [t for t in tasks if within(t.created_at)]
    done = [t for t in created if t.status == "DONE"]
    completed = [t for t in tasks if t.status == "DONE" and within(t.completed_at)]
    hours = [(t.completed_at - t.created_at).total_seconds() / 3600 for t in completed]

    prices = {
        r.id: r.price_cents
        for r in await rows("SELECT id, price_cents FROM services WHERE tenant_id = :t")
    }
    bookings = await rows("SELECT status, starts_at, service_id FROM bookings WHERE tenant_id = :t")
    booked = [b for b in bookings if within(b.starts_at)]
    paid = [b for b in booked if b.status in ("CONFIRMED", "COMPLETED")]
    revenue: dict[str, dict[str, int]] = {}
    for b in paid:
        entry = revenue.setdefault(encode_id("Service", b.service_id), {"bookings": 0, "cents": 0})
        entry["bookings"] += 1
        entry["cents"] += prices[b.service_id]

    requests = [
        r
        for r in await rows(
            "SELECT status, task_id, created_at FROM service_requests WHERE tenant_id = :t"
        )
        if within(r.created_at)
    ]
    converted = [r for r in requests if r.status == "CONVERTED" or r.task_id is not None]

    records = await rows("SELECT status, due_at FROM compliance_records WHERE tenant_id = :t")
    open_records = [
        r for r in records if r.status in ("PENDING", "NON_COMPLIANT") and r.due_at is not None
    ]

    def due_within(days: int) -> int:
        return sum(1 for r in open_records if 0 <= (day(r.due_at) - today).days < days)

    members = await rows(
        "SELECT role FROM tenant_memberships WHERE tenant_id = :t AND status = 'active'"
    )
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "timezone": tz,
        "tasks": {
            "total": len(created),
            "overdue": sum(
                1
                for t in tasks
                if t.status != "DONE" and t.due_at is not None and day(t.due_at) < today
            ),
            "byStatus": _counts("status", TASK_STATUSES, [t.status for t in created]),
            "byPriority": _counts("priority", PRIORITIES, [t.priority for t in created]),
            "completionRate": len(done) / len(created) if created else None,
            "medianHoursToDone": statistics.median(hours) if hours else None,
            "createdPerDay": _per_day(start, end, [day(t.created_at) for t in created]),
            "completedPerDay": _per_day(start, end, [day(t.completed_at) for t in completed]),
        },
        "bookings": {
            "total": len(booked),
            "byStatus": _counts("status", BOOKING_STATUSES, [b.status for b in booked]),
            "upcoming": sum(
                1 for b in bookings if b.starts_at > now and b.status in ("REQUESTED", "CONFIRMED")
            ),
            "revenueCents": sum(prices[b.service_id] for b in paid),
            "revenueCentsByService": revenue,
            "perDay": _per_day(start, end, [day(b.starts_at) for b in booked]),
        },
        "serviceRequests": {
            "total": len(requests),
            "byStatus": _counts("status", REQUEST_STATUSES, [r.status for r in requests]),
            "convertedToTasks": len(converted),
            "conversionRate": len(converted) / len(requests) if requests else None,
        },
        "compliance": {
            "total": len(records),
            "byStatus": _counts("status", COMPLIANCE_STATUSES, [r.status for r in records]),
            "dueWithin7Days": due_within(7),
            "dueWithin30Days": due_within(30),
            "overdue": sum(1 for r in open_records if day(r.due_at) < today),
        },
        "members": {
            "active": len(members),
            "activeByRole": _counts("role", ROLES, [m.role for m in members]),
        },
    }


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer in the shape of `expected_analytics` (revenue keyed by service id, after
    checking it is ordered by revenue, highest first)."""
    result = {**answer, "bookings": {**answer["bookings"]}}
    by_service = answer["bookings"]["revenueCentsByService"]
    cents = [entry["revenueCents"] for entry in by_service]
    assert cents == sorted(cents, reverse=True)
    result["bookings"]["revenueCentsByService"] = {
        entry["serviceId"]: {"bookings": entry["bookings"], "cents": entry["revenueCents"]}
        for entry in by_service
    }
    median = answer["tasks"]["medianHoursToDone"]
    if median is not None:
        result["tasks"] = {**answer["tasks"], "medianHoursToDone": pytest.approx(median)}
    return result


# --- organizations made for one test -----------------------------------------------------------


@dataclass(frozen=True)
class Organization:
    id: uuid.UUID
    slug: str
    admin_email: str
    owner: AsyncEngine

    async def execute(self, sql: str, **params: Any) -> list[Any]:
        """One committed statement as the owner (the rows must be visible to the API's
        connection, which is another one)."""
        async with self.owner.begin() as conn:
            result = await conn.execute(text(sql), {"t": self.id, **params})
            return list(result.all()) if result.returns_rows else []


NewOrganization = Callable[..., Awaitable[Organization]]


@pytest.fixture(scope="session")
async def _made_organizations(owner_engine: AsyncEngine) -> AsyncIterator[list[Organization]]:
    """Organizations made by the tests, removed with their rows and users when the suite ends
    (not after each test: the test's own writes, rolled back only after every function fixture
    is gone, still hold locks on the tenant's row). No other tenant can see them meanwhile."""
    made: list[Organization] = []
    yield made
    async with owner_engine.begin() as conn:
        for organization in made:
            await conn.execute(text("DELETE FROM tenants WHERE id = :t"), {"t": organization.id})
            await conn.execute(
                text("DELETE FROM users WHERE email = :e"), {"e": organization.admin_email}
            )


@pytest.fixture
def new_organization(
    owner_engine: AsyncEngine, _made_organizations: list[Organization]
) -> NewOrganization:
    """Make an organization with one ADMIN through the operator's repository, committed (the
    API runs on another connection)."""

    async def make(*, timezone: str | None = None) -> Organization:
        suffix = uuid.uuid4().hex[:10]
        slug, email = f"analytics-{suffix}", f"admin-{suffix}@analytics.test"
        async with AsyncSession(owner_engine) as session, session.begin():
            platform = PlatformRepository(session)
            tenant = await platform.create_tenant(slug=slug, name=f"Analytics {suffix}")
            await platform.create_user(email=email, password_hash=hash_password(DEMO_PASSWORD))
            await platform.add_member(slug=slug, email=email, role=Role.ADMIN, is_default=True)
        organization = Organization(tenant.id, slug, email, owner_engine)
        _made_organizations.append(organization)
        if timezone is not None:
            await organization.execute(
                "INSERT INTO organization_settings (tenant_id, timezone) VALUES (:t, :tz)",
                tz=timezone,
            )
        return organization

    return make


def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(tz))
