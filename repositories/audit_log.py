"""Reading the context tenant's audit history and health checks (both append-only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select

from repositories import pagination
from repositories.base import TenantRepository
from repositories.models import AuditLog, HealthLog
from repositories.pagination import Cursor, Page


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: str | None = None
    actor_id: uuid.UUID | None = None
    target_type: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


class AuditLogRepository(TenantRepository):
    def _filtered(self, flt: AuditFilter) -> list[ColumnElement[bool]]:
        a = AuditLog
        conditions: list[ColumnElement[bool]] = [a.tenant_id == self.tenant_id]
        if flt.action is not None:
            conditions.append(a.action == flt.action)
        if flt.actor_id is not None:
            conditions.append(a.actor_id == flt.actor_id)
        if flt.target_type is not None:
            conditions.append(a.target_type == flt.target_type)
        if flt.since is not None:
            conditions.append(a.created_at >= flt.since)
        if flt.until is not None:
            conditions.append(a.created_at < flt.until)
        return conditions

    async def list(
        self, *, first: int, after: Cursor | None = None, flt: AuditFilter = AuditFilter()
    ) -> Page[AuditLog]:
        """A page of the context tenant's audit rows, newest first, after the cursor."""
        a = AuditLog
        conditions = self._filtered(flt)
        if after is not None:
            conditions.append(pagination.after(a.created_at, a.id, after, descending=True))
        result = await self._execute(
            select(a)
            .where(*conditions)
            .order_by(*pagination.order(a.created_at, a.id, descending=True))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.scalars()), first)

    async def count(self, *, flt: AuditFilter = AuditFilter()) -> int:
        """How many audit rows match the filter."""
        result = await self._execute(
            select(func.count()).select_from(AuditLog).where(*self._filtered(flt))
        )
        return int(result.scalar_one())


class HealthLogRepository(TenantRepository):
    async def list(self, *, first: int, after: Cursor | None = None) -> Page[HealthLog]:
        """A page of the context tenant's health checks, newest first, after the cursor."""
        h = HealthLog
        conditions: list[ColumnElement[bool]] = [h.tenant_id == self.tenant_id]
        if after is not None:
            conditions.append(pagination.after(h.created_at, h.id, after, descending=True))
        result = await self._execute(
            select(h)
            .where(*conditions)
            .order_by(*pagination.order(h.created_at, h.id, descending=True))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.scalars()), first)

    async def count(self) -> int:
        """How many health checks the context tenant has."""
        result = await self._execute(
            select(func.count()).select_from(HealthLog).where(HealthLog.tenant_id == self.tenant_id)
        )
        return int(result.scalar_one())
