"""The health check job's reads and its one write: a `health_logs` row per check and tenant day.

`health_logs` is append-only for the runtime role (SELECT and INSERT), so a check is written
only when the tenant has none of that name for the day yet; the job runner holds a lock per job
and tenant for the transaction, so two runs cannot both see "none yet".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from repositories.base import TenantRepository

_BACKLOG = text("""
    SELECT
        (SELECT count(*) FROM tasks
          WHERE tenant_id = :tenant AND status <> 'DONE' AND due_at < :now) AS overdue_tasks,
        (SELECT count(*) FROM tasks t JOIN tenant_memberships m
             ON m.tenant_id = t.tenant_id AND m.user_id = t.assignee_id
          WHERE t.tenant_id = :tenant AND t.status <> 'DONE' AND m.status <> 'active')
            AS tasks_with_suspended_assignee,
        (SELECT count(*) FROM compliance_records
          WHERE tenant_id = :tenant AND status IN ('PENDING', 'NON_COMPLIANT') AND due_at < :now)
            AS overdue_compliance_records,
        (SELECT count(*) FROM bookings
          WHERE tenant_id = :tenant AND status = 'REQUESTED' AND starts_at < :now)
            AS unconfirmed_past_bookings
""")

_RECORD_ONCE = text("""
    INSERT INTO health_logs (tenant_id, check_name, status, details, created_at)
    SELECT CAST(:tenant AS uuid), CAST(:check AS text), CAST(:status AS text), :details, :now
     WHERE NOT EXISTS (
        SELECT 1 FROM health_logs
         WHERE tenant_id = :tenant AND check_name = CAST(:check AS text)
           AND created_at >= :day_start AND created_at < :day_end)
    RETURNING id
""").bindparams(bindparam("details", type_=JSONB))


@dataclass(frozen=True, slots=True)
class Probe:
    tenant_bound: bool  # the transaction's tenant setting is the context tenant
    latency_ms: float
    members: int


class HealthCheckRepository(TenantRepository):
    async def probe(self) -> Probe:
        """One round trip in the tenant's transaction: is the tenant bound, how long it took."""
        started = time.perf_counter()
        row = (
            await self._execute(
                text(
                    "SELECT current_setting('app.current_tenant_id', true) AS bound,"
                    " (SELECT count(*) FROM tenant_memberships WHERE tenant_id = :tenant"
                    "   AND status = 'active') AS members"
                ),
                {"tenant": self.tenant_id},
            )
        ).one()
        latency = (time.perf_counter() - started) * 1000
        return Probe(
            tenant_bound=row.bound == str(self.tenant_id),
            latency_ms=round(latency, 2),
            members=int(row.members),
        )

    async def backlog(self, *, now: datetime) -> dict[str, int]:
        """Counts of work that is late or stuck in the tenant."""
        row = (await self._execute(_BACKLOG, {"tenant": self.tenant_id, "now": now})).one()
        return {key: int(value) for key, value in row._mapping.items()}

    async def record_once(
        self,
        *,
        check: str,
        status: str,
        details: dict[str, Any],
        now: datetime,
        day_start: datetime,
        day_end: datetime,
    ) -> bool:
        """Write the check unless the tenant already has one of that name in [day_start,
        day_end); whether a row was written."""
        result = await self._execute(
            _RECORD_ONCE,
            {
                "tenant": self.tenant_id,
                "check": check,
                "status": status,
                "details": details,
                "now": now,
                "day_start": day_start,
                "day_end": day_end,
            },
        )
        return result.first() is not None
