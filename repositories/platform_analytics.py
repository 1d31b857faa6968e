"""The super-admin's platform dashboard: one row of aggregates per tenant.

This is the only read that crosses tenants, and it does not run on the request's connection:
`PlatformGateway` opens a transaction of its own as the platform role (`<runtime role>_platform`),
the only role that may execute `tenantgraph_platform_analytics` and `tenantgraph_platform_audit`
(revision 0007). The runtime role can execute neither, so no SQL run on a request's connection,
whatever settings it forges, reaches them. The function checks again that the transaction
names a super-admin in a platform session, writes the audit row naming them, and returns counts
only; the gateway commits that transaction at once, so the audit row stays even when the rest
of the request fails. A document rolled back for an error in another field also drops its
answer (`answered_audited_read`): the figures leave only with a request that succeeded.

Days are UTC calendar days (tenants keep their own time zones; the platform view has none):
the period runs from `start` 00:00 UTC up to, not including, the day after `end`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.context import TenantContext
from app.errors import Forbidden
from repositories.analytics import checked_period
from repositories.session import STATEMENT_TIMEOUT

_ANALYTICS = text("SELECT * FROM tenantgraph_platform_analytics(:start, :end, :request_id)")
_AUDIT = text("SELECT tenantgraph_platform_audit(:action, :request_id)")
_INSUFFICIENT_PRIVILEGE = "42501"
# session.info key: set once the function answered (its audit row is in this transaction)
AUDITED_READ = "tenantgraph.audited_read"


def answered_audited_read(session: Any) -> bool:
    """Whether this transaction answered a read whose audit row it holds: rolling it back
    would drop the audit row, so the answer must be dropped with it."""
    return bool(session.info.get(AUDITED_READ))


@dataclass(frozen=True, slots=True)
class TenantActivity:
    tenant_id: uuid.UUID
    slug: str
    name: str
    status: str
    created_at: datetime
    members_active: int
    tasks_total: int
    tasks_open: int
    tasks_overdue: int
    tasks_created: int
    tasks_completed: int
    bookings: int
    revenue_cents: int
    service_requests: int
    service_requests_converted: int
    compliance_overdue: int


COUNTERS = tuple(
    name
    for name in TenantActivity.__dataclass_fields__
    if name not in {"tenant_id", "slug", "name", "status", "created_at"}
)


@dataclass(frozen=True, slots=True)
class PlatformSummary:
    start: date
    end: date
    tenants: tuple[TenantActivity, ...]
    totals: dict[str, int]


def _refused(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE


# The platform connection's whole context: the verified super-admin, no tenant.
_BIND = text(
    "SELECT set_config('app.current_tenant_id', '', true),"
    " set_config('app.public_tenant_id', '', true),"
    " set_config('app.current_user_id', :user_id, true),"
    " set_config('app.is_superadmin', 'true', true),"
    " set_config('statement_timeout', :statement_timeout, true)"
)


class PlatformGateway:
    """The platform role's connections; used only for a verified platform session."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def _call(self, ctx: TenantContext, statement: Any, params: dict[str, Any]) -> list[Any]:
        if not ctx.is_platform_session:
            raise Forbidden("Only a platform super-admin may do this")
        try:
            async with self._sessionmaker() as session, session.begin():
                await session.execute(
                    _BIND,
                    {"user_id": str(ctx.user_id), "statement_timeout": STATEMENT_TIMEOUT},
                )
                return list((await session.execute(statement, params)).all())
        except DBAPIError as exc:
            if _refused(exc):
                raise Forbidden("Only a platform super-admin may do this") from None
            raise

    async def summary(
        self,
        ctx: TenantContext,
        request_session: AsyncSession,
        *,
        start: date | None = None,
        end: date | None = None,
    ) -> PlatformSummary:
        """Every tenant's activity in the period, and the totals over all tenants (audited)."""
        first, last = checked_period(start, end, datetime.now(UTC).date())
        params = {
            "start": datetime.combine(first, time.min, UTC),
            "end": datetime.combine(last + timedelta(days=1), time.min, UTC),
            "request_id": ctx.request_id,
        }
        rows = await self._call(ctx, _ANALYTICS, params)
        request_session.info[AUDITED_READ] = True
        tenants = tuple(TenantActivity(**row._mapping) for row in rows)
        totals = {name: sum(getattr(t, name) for t in tenants) for name in COUNTERS}
        return PlatformSummary(start=first, end=last, tenants=tenants, totals=totals)

    async def audit(self, ctx: TenantContext, *, action: str) -> None:
        """Record a platform session event (sign-in, sign-out) naming the super-admin."""
        await self._call(ctx, _AUDIT, {"action": action, "request_id": ctx.request_id})
