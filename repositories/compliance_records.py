"""Compliance records: obligations a tenant tracks, each optionally tied to one of its tasks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select

from app.errors import BadUserInput, NotFound
from repositories import pagination
from repositories.audit import AuditRepository
from repositories.base import TenantRepository
from repositories.models import ComplianceRecord, Task
from repositories.pagination import Cursor, Page

SETTLED = ("COMPLIANT", "WAIVED")
_EDITABLE = ("title", "category", "status", "due_at", "notes", "task_id")


@dataclass(frozen=True, slots=True)
class ComplianceFilter:
    statuses: tuple[str, ...] = ()
    task_id: uuid.UUID | None = None
    due_before: datetime | None = None
    overdue: bool | None = None


class ComplianceRecordRepository(TenantRepository):
    """Compliance records of the context tenant."""

    def _visible(self) -> list[ColumnElement[bool]]:
        return [ComplianceRecord.tenant_id == self.tenant_id]

    def _filtered(self, flt: ComplianceFilter) -> list[ColumnElement[bool]]:
        c = ComplianceRecord
        conditions = self._visible()
        if flt.statuses:
            conditions.append(c.status.in_(flt.statuses))
        if flt.task_id is not None:
            conditions.append(c.task_id == flt.task_id)
        if flt.due_before is not None:
            conditions.append(c.due_at < flt.due_before)
        if flt.overdue is not None:
            # never NULL (a record without a due date is simply not late), so NOT is exact
            late = and_(c.due_at.is_not(None), c.due_at < func.now(), c.status.not_in(SETTLED))
            conditions.append(late if flt.overdue else ~late)
        return conditions

    async def get(self, *, id: uuid.UUID) -> ComplianceRecord | None:
        """One record of the context tenant, or None."""
        result = await self._execute(
            select(ComplianceRecord).where(ComplianceRecord.id == id, *self._visible())
        )
        return result.scalar_one_or_none()

    async def list(
        self, *, first: int, after: Cursor | None = None, flt: ComplianceFilter = ComplianceFilter()
    ) -> Page[ComplianceRecord]:
        """A page of records, newest first, after the cursor."""
        c = ComplianceRecord
        conditions = self._filtered(flt)
        if after is not None:
            conditions.append(pagination.after(c.created_at, c.id, after, descending=True))
        result = await self._execute(
            select(c)
            .where(*conditions)
            .order_by(*pagination.order(c.created_at, c.id, descending=True))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.scalars()), first)

    async def count(self, *, flt: ComplianceFilter = ComplianceFilter()) -> int:
        """How many records match the filter."""
        result = await self._execute(
            select(func.count()).select_from(ComplianceRecord).where(*self._filtered(flt))
        )
        return int(result.scalar_one())

    async def _check_task(self, task_id: uuid.UUID | None) -> None:
        if task_id is None:
            return
        found = await self._execute(
            select(Task.id).where(Task.tenant_id == self.tenant_id, Task.id == task_id)
        )
        if found.first() is None:
            raise BadUserInput("The task does not exist")

    async def create(
        self,
        *,
        title: str,
        category: str | None = None,
        status: str = "PENDING",
        due_at: datetime | None = None,
        notes: str | None = None,
        task_id: uuid.UUID | None = None,
    ) -> ComplianceRecord:
        """A new record in the context tenant, created by the context user; audited."""
        await self._check_task(task_id)
        record = ComplianceRecord(
            tenant_id=self.tenant_id,
            id=uuid.uuid4(),
            title=title,
            category=category,
            status=status,
            due_at=due_at,
            notes=notes,
            task_id=task_id,
            created_by_id=self.user_id,
        )
        self.session.add(record)
        await self._flush()
        await self._refresh(record)
        await AuditRepository(self.session, self.ctx).record(
            action="compliance_record.create",
            target_type="compliance_record",
            target_id=record.id,
            changes={"title": title, "status": status, "task_id": _str(task_id)},
        )
        return record

    async def update(self, *, id: uuid.UUID, changes: dict[str, Any]) -> ComplianceRecord:
        """Apply `changes` to a record; NOT_FOUND otherwise; audited with before/after."""
        unknown = set(changes) - set(_EDITABLE)
        if unknown:
            raise BadUserInput(f"Cannot change {', '.join(sorted(unknown))}")
        record = await self.get(id=id)
        if record is None:
            raise NotFound("Compliance record not found")
        if "task_id" in changes and changes["task_id"] != record.task_id:
            await self._check_task(changes["task_id"])
        diff = {
            key: {"from": _str(getattr(record, key)), "to": _str(value)}
            for key, value in changes.items()
            if getattr(record, key) != value
        }
        for key, value in changes.items():
            setattr(record, key, value)
        if diff:
            record.updated_at = func.now()
        await self._flush()
        await self._refresh(record)
        await AuditRepository(self.session, self.ctx).record(
            action="compliance_record.update",
            target_type="compliance_record",
            target_id=record.id,
            changes=diff,
        )
        return record

    async def delete(self, *, id: uuid.UUID) -> None:
        """Delete a record; NOT_FOUND otherwise; audited."""
        record = await self.get(id=id)
        if record is None:
            raise NotFound("Compliance record not found")
        await self._delete(record)
        await self._flush()
        await AuditRepository(self.session, self.ctx).record(
            action="compliance_record.delete",
            target_type="compliance_record",
            target_id=id,
            changes={"title": record.title},
        )


def _str(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, uuid.UUID) else value
