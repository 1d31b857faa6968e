from __future__ import annotations

from datetime import date, datetime

import strawberry

from repositories import platform_analytics as records
from schema.analytics.types import REVENUE_CENTS
from schema.ids import encode_id
from schema.scalars import BigInt
from schema.users.types import User


@strawberry.type(description="A super-admin's platform session (no organization).")
class PlatformAuthPayload:
    token: str
    expires_at: datetime
    user: User


@strawberry.type(description="Activity counters: of one organization, or summed over all.")
class PlatformCounters:
    members_active: int = strawberry.field(description="Active memberships now.")
    tasks_total: int = strawberry.field(description="Tasks now, whatever their status.")
    tasks_open: int = strawberry.field(description="Tasks not DONE now.")
    tasks_overdue: int = strawberry.field(description="Tasks not DONE whose due time has passed.")
    tasks_created: int = strawberry.field(description="Tasks created in the period.")
    tasks_completed: int = strawberry.field(
        description="DONE tasks that became DONE (completed) in the period."
    )
    bookings: int = strawberry.field(description="Bookings starting in the period.")
    revenue_cents: BigInt = strawberry.field(
        description="Service prices of the CONFIRMED or COMPLETED bookings of the period. "
        + REVENUE_CENTS
    )
    service_requests: int = strawberry.field(description="Service requests created in the period.")
    service_requests_converted: int = strawberry.field(
        description="Of those, the ones converted into a task."
    )
    compliance_overdue: int = strawberry.field(
        description="Open (PENDING or NON_COMPLIANT) compliance records past their due time."
    )


@strawberry.type(description="One organization's row of the platform dashboard.")
class PlatformTenantActivity(PlatformCounters):
    tenant_id: strawberry.ID
    slug: str
    name: str
    status: str
    created_at: datetime

    @classmethod
    def from_record(cls, row: records.TenantActivity) -> PlatformTenantActivity:
        values = {name: getattr(row, name) for name in records.COUNTERS}
        return cls(
            tenant_id=strawberry.ID(encode_id("Tenant", row.tenant_id)),
            slug=row.slug,
            name=row.name,
            status=row.status,
            created_at=row.created_at,
            **values,
        )


@strawberry.type(
    description="Every organization's activity in a period (UTC days), and the totals."
)
class PlatformAnalytics:
    from_: date = strawberry.field(name="from", description="First day of the period (included).")
    to: date = strawberry.field(description="Last day of the period (included).")
    tenants: list[PlatformTenantActivity]
    totals: PlatformCounters

    @classmethod
    def from_record(cls, summary: records.PlatformSummary) -> PlatformAnalytics:
        return cls(
            from_=summary.start,
            to=summary.end,
            tenants=[PlatformTenantActivity.from_record(t) for t in summary.tenants],
            totals=PlatformCounters(**summary.totals),
        )
