"""The admin dashboard's aggregates. Counts by status list every status, zero when none; series
per day list every day of the period, in order, in the organization's time zone."""

from __future__ import annotations

import uuid
from datetime import date

import strawberry

from repositories import analytics as records
from schema.auth.types import TenantRole
from schema.context import Info
from schema.ids import encode_id
from schema.scalars import BigInt
from schema.services.types import Service

# A sum of prices outgrows GraphQL's Int (32 bits: 21,474,836.47 in cents) well before a firm's
# revenue does.
REVENUE_CENTS = "A whole number of cents."


@strawberry.type(description="How many items have one status.")
class StatusCount:
    status: str
    count: int


@strawberry.type(description="How many tasks have one priority.")
class PriorityCount:
    priority: str
    count: int


@strawberry.type(description="How many active members have one role.")
class RoleCount:
    role: TenantRole
    count: int


@strawberry.type(description="How many items fall on one day (the organization's time zone).")
class DayCount:
    date: date
    count: int


def _statuses(counts: tuple[records.Count, ...]) -> list[StatusCount]:
    return [StatusCount(status=c.key, count=c.count) for c in counts]


def _days(counts: tuple[records.DayCount, ...]) -> list[DayCount]:
    return [DayCount(date=c.day, count=c.count) for c in counts]


@strawberry.type(description="Tasks created in the period, and the tasks overdue today.")
class TaskStats:
    total: int = strawberry.field(description="Tasks created in the period.")
    overdue: int = strawberry.field(
        description="Tasks not DONE whose due day is before today (whatever the period)."
    )
    by_status: list[StatusCount] = strawberry.field(
        description="Tasks created in the period, by their current status."
    )
    by_priority: list[PriorityCount] = strawberry.field(
        description="Tasks created in the period, by priority."
    )
    completion_rate: float | None = strawberry.field(
        description="Share of the tasks created in the period that are DONE; null without tasks."
    )
    median_hours_to_done: float | None = strawberry.field(
        description="Median hours from creation to completion (when the task last became DONE) "
        "of the tasks completed in the period; null when none was."
    )
    created_per_day: list[DayCount]
    completed_per_day: list[DayCount]

    @classmethod
    def from_record(cls, stats: records.TaskStats) -> TaskStats:
        return cls(
            total=stats.total,
            overdue=stats.overdue,
            by_status=_statuses(stats.by_status),
            by_priority=[PriorityCount(priority=c.key, count=c.count) for c in stats.by_priority],
            completion_rate=stats.completion_rate,
            median_hours_to_done=stats.median_hours_to_done,
            created_per_day=_days(stats.created_per_day),
            completed_per_day=_days(stats.completed_per_day),
        )


@strawberry.type(description="Revenue of one service in the period.")
class ServiceRevenue:
    service_id: strawberry.Private[uuid.UUID]
    bookings: int = strawberry.field(description="CONFIRMED or COMPLETED bookings.")
    revenue_cents: BigInt = strawberry.field(description=REVENUE_CENTS)

    @strawberry.field(description="The service (null if it no longer exists).")
    async def service(self, info: Info) -> Service | None:
        row = await info.context.loaders.services.load(self.service_id)
        return Service.from_row(row) if row else None

    @strawberry.field(name="serviceId", description="The service's id.")
    def service_gid(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Service", self.service_id))


@strawberry.type(description="Bookings starting in the period, and those still to come.")
class BookingStats:
    total: int = strawberry.field(description="Bookings starting in the period.")
    by_status: list[StatusCount]
    upcoming: int = strawberry.field(
        description="REQUESTED or CONFIRMED bookings that have not started (whatever the period)."
    )
    revenue_cents: BigInt = strawberry.field(
        description="Price of each CONFIRMED or COMPLETED booking of the period. " + REVENUE_CENTS
    )
    revenue_cents_by_service: list[ServiceRevenue] = strawberry.field(
        description="Revenue per service, highest first."
    )
    per_day: list[DayCount] = strawberry.field(description="Bookings by the day they start.")

    @classmethod
    def from_record(cls, stats: records.BookingStats) -> BookingStats:
        return cls(
            total=stats.total,
            by_status=_statuses(stats.by_status),
            upcoming=stats.upcoming,
            revenue_cents=stats.revenue_cents,
            revenue_cents_by_service=[
                ServiceRevenue(
                    service_id=r.service_id, bookings=r.bookings, revenue_cents=r.revenue_cents
                )
                for r in stats.revenue_cents_by_service
            ],
            per_day=_days(stats.per_day),
        )


@strawberry.type(description="Service requests created in the period.")
class ServiceRequestStats:
    total: int
    by_status: list[StatusCount]
    converted_to_tasks: int = strawberry.field(description="Requests turned into a task.")
    conversion_rate: float | None = strawberry.field(
        description="Share of the requests turned into a task; null without requests."
    )

    @classmethod
    def from_record(cls, stats: records.ServiceRequestStats) -> ServiceRequestStats:
        return cls(
            total=stats.total,
            by_status=_statuses(stats.by_status),
            converted_to_tasks=stats.converted_to_tasks,
            conversion_rate=stats.conversion_rate,
        )


@strawberry.type(
    description="Compliance records as they stand today (not bound to the period). Open means "
    "PENDING or NON_COMPLIANT."
)
class ComplianceStats:
    total: int
    by_status: list[StatusCount]
    due_within_7_days: int = strawberry.field(
        name="dueWithin7Days", description="Open records due today or in the next 6 days."
    )
    due_within_30_days: int = strawberry.field(
        name="dueWithin30Days", description="Open records due today or in the next 29 days."
    )
    overdue: int = strawberry.field(description="Open records whose due day is before today.")

    @classmethod
    def from_record(cls, stats: records.ComplianceStats) -> ComplianceStats:
        return cls(
            total=stats.total,
            by_status=_statuses(stats.by_status),
            due_within_7_days=stats.due_within_7_days,
            due_within_30_days=stats.due_within_30_days,
            overdue=stats.overdue,
        )


@strawberry.type(description="Active members today (not bound to the period).")
class MemberStats:
    active: int
    active_by_role: list[RoleCount]

    @classmethod
    def from_record(cls, stats: records.MemberStats) -> MemberStats:
        return cls(
            active=stats.active,
            active_by_role=[
                RoleCount(role=TenantRole(c.key), count=c.count) for c in stats.active_by_role
            ],
        )


@strawberry.type(description="The admin dashboard of the active organization for one period.")
class TenantAnalytics:
    from_: date = strawberry.field(name="from", description="First day of the period (included).")
    to: date = strawberry.field(description="Last day of the period (included).")
    timezone: str = strawberry.field(description="The time zone the days are counted in.")
    tasks: TaskStats
    bookings: BookingStats
    service_requests: ServiceRequestStats
    compliance: ComplianceStats
    members: MemberStats

    @classmethod
    def from_record(cls, result: records.TenantAnalytics) -> TenantAnalytics:
        return cls(
            from_=result.start,
            to=result.end,
            timezone=result.timezone,
            tasks=TaskStats.from_record(result.tasks),
            bookings=BookingStats.from_record(result.bookings),
            service_requests=ServiceRequestStats.from_record(result.service_requests),
            compliance=ComplianceStats.from_record(result.compliance),
            members=MemberStats.from_record(result.members),
        )
