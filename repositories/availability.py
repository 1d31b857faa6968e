"""Availability slots: when a staff member can take bookings, for one service or for any."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select

from app.errors import BadUserInput, NotFound
from repositories import pagination
from repositories.audit import AuditRepository
from repositories.base import TenantRepository
from repositories.models import AvailabilitySlot, Service, TenantMembership
from repositories.pagination import Cursor, Page

STAFF_ROLES = ("STAFF", "ADMIN")


MAX_SLOT = timedelta(hours=24)
MAX_AHEAD = timedelta(days=730)


@dataclass(frozen=True, slots=True)
class SlotFilter:
    start: datetime
    end: datetime
    service_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None


class AvailabilityRepository(TenantRepository):
    """Slots of the context tenant. A CLIENT does not see slots reserved for an inactive
    service."""

    def _visible(self) -> list[ColumnElement[bool]]:
        slot = AvailabilitySlot
        conditions: list[ColumnElement[bool]] = [slot.tenant_id == self.tenant_id]
        if self.is_client:
            active = select(Service.id).where(
                Service.tenant_id == self.tenant_id, Service.active.is_(True)
            )
            conditions.append(or_(slot.service_id.is_(None), slot.service_id.in_(active)))
        return conditions

    def _filtered(self, flt: SlotFilter) -> list[ColumnElement[bool]]:
        slot = AvailabilitySlot
        conditions = self._visible()
        conditions += [slot.starts_at >= flt.start, slot.starts_at < flt.end]
        if flt.service_id is not None:
            # a slot without a service is open to every service
            conditions.append(or_(slot.service_id == flt.service_id, slot.service_id.is_(None)))
        if flt.staff_id is not None:
            conditions.append(slot.staff_id == flt.staff_id)
        return conditions

    async def get(self, *, id: uuid.UUID) -> AvailabilitySlot | None:
        """One visible slot, or None."""
        result = await self._execute(
            select(AvailabilitySlot).where(AvailabilitySlot.id == id, *self._visible())
        )
        return result.scalar_one_or_none()

    async def list(
        self, *, flt: SlotFilter, first: int, after: Cursor | None = None
    ) -> Page[AvailabilitySlot]:
        """A page of visible slots starting in [start, end), earliest first."""
        slot = AvailabilitySlot
        conditions = self._filtered(flt)
        if after is not None:
            conditions.append(pagination.after(slot.starts_at, slot.id, after, descending=False))
        result = await self._execute(
            select(slot)
            .where(*conditions)
            .order_by(*pagination.order(slot.starts_at, slot.id, descending=False))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.scalars()), first)

    async def count(self, *, flt: SlotFilter) -> int:
        """How many visible slots match the filter."""
        result = await self._execute(
            select(func.count()).select_from(AvailabilitySlot).where(*self._filtered(flt))
        )
        return int(result.scalar_one())

    async def is_active_staff(self, *, user_id: uuid.UUID) -> bool:
        """Whether `user_id` is an active STAFF or ADMIN member of the context tenant."""
        m = TenantMembership
        found = await self._execute(
            select(m.user_id).where(
                m.tenant_id == self.tenant_id,
                m.user_id == user_id,
                m.status == "active",
                m.role.in_(STAFF_ROLES),
            )
        )
        return found.first() is not None

    async def create(
        self,
        *,
        starts_at: datetime,
        ends_at: datetime,
        staff_id: uuid.UUID | None = None,
        service_id: uuid.UUID | None = None,
        capacity: int = 1,
    ) -> AvailabilitySlot:
        """A new slot for an active staff member of the tenant (default: the context user);
        audited."""
        staff_id = staff_id or self.user_id
        if ends_at <= starts_at:
            raise BadUserInput("A slot must end after it starts")
        now = datetime.now(UTC)
        if starts_at <= now:
            raise BadUserInput("A slot must start in the future")
        if ends_at - starts_at > MAX_SLOT or starts_at - now > MAX_AHEAD:
            raise BadUserInput("A slot lasts at most a day and starts within two years")
        if not await self.is_active_staff(user_id=staff_id):
            raise BadUserInput("The staff member is not active staff of this organization")
        if service_id is not None:
            found = await self._execute(
                select(Service.id).where(
                    Service.tenant_id == self.tenant_id, Service.id == service_id
                )
            )
            if found.first() is None:
                raise NotFound("Service not found")
        slot = AvailabilitySlot(
            tenant_id=self.tenant_id,
            id=uuid.uuid4(),
            staff_id=staff_id,
            service_id=service_id,
            starts_at=starts_at,
            ends_at=ends_at,
            capacity=capacity,
        )
        self.session.add(slot)
        await self._flush()
        await self._refresh(slot)
        await AuditRepository(self.session, self.ctx).record(
            action="availability_slot.create",
            target_type="availability_slot",
            target_id=slot.id,
            changes={
                "staff_id": str(staff_id),
                "service_id": str(service_id) if service_id else None,
                "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat(),
                "capacity": capacity,
            },
        )
        return slot

    async def delete(self, *, id: uuid.UUID) -> None:
        """Delete a slot of the tenant; NOT_FOUND otherwise; audited. Bookings already made
        stay (a booking does not point at a slot)."""
        slot = await self.get(id=id)
        if slot is None:
            raise NotFound("Availability slot not found")
        await self._delete(slot)
        await self._flush()
        await AuditRepository(self.session, self.ctx).record(
            action="availability_slot.delete",
            target_type="availability_slot",
            target_id=id,
            changes={"staff_id": str(slot.staff_id), "starts_at": slot.starts_at.isoformat()},
        )
