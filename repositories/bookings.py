"""Bookings: a client's appointment for a service, optionally with a staff member.

The tenant's booking rules (its `booking_settings` row over the global default) bind a CLIENT:
how early and how far ahead it may book, how late it may cancel or move a booking, and whether a
booking waits for confirmation. STAFF and ADMIN act for the organization and are not bound by
the notice windows (a late cancellation taken by phone), only by what is always true (a new time
is in the future, a finished booking stays finished, and a staff member serves one open
booking at a time: a booking, a new time or an assignment that would overlap another open
booking of the same staff member is a CONFLICT)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select

from app.errors import BadUserInput, Conflict, NotFound
from repositories import pagination
from repositories.audit import AuditRepository
from repositories.availability import AvailabilityRepository
from repositories.base import TenantRepository, Values, columns
from repositories.models import Booking, Service
from repositories.pagination import Cursor, Page
from repositories.settings import SettingsRepository

OPEN_STATUSES = ("REQUESTED", "CONFIRMED")


@dataclass(frozen=True, slots=True)
class BookingFilter:
    statuses: tuple[str, ...] = ()
    staff_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    start: datetime | None = None  # starts at or after
    end: datetime | None = None  # starts before
    own: bool = False  # only the context user's own bookings (as the client)


@dataclass(frozen=True, slots=True)
class BookingRules:
    """The booking settings in force for the context tenant."""

    min_notice_hours: int
    max_advance_days: int
    cancellation_notice_hours: int
    require_confirmation: bool


class BookingRepository(TenantRepository):
    """Bookings of the context tenant. A CLIENT sees only its own."""

    def _visible(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [Booking.tenant_id == self.tenant_id]
        if self.is_client:
            conditions.append(Booking.client_id == self.user_id)
        return conditions

    def _filtered(self, flt: BookingFilter) -> list[ColumnElement[bool]]:
        conditions = self._visible()
        if flt.own:
            conditions.append(Booking.client_id == self.user_id)
        if flt.statuses:
            conditions.append(Booking.status.in_(flt.statuses))
        if flt.staff_id is not None:
            conditions.append(Booking.staff_id == flt.staff_id)
        if flt.client_id is not None:
            conditions.append(Booking.client_id == flt.client_id)
        if flt.start is not None:
            conditions.append(Booking.starts_at >= flt.start)
        if flt.end is not None:
            conditions.append(Booking.starts_at < flt.end)
        return conditions

    async def get(self, *, id: uuid.UUID) -> Booking | None:
        """One visible booking, or None (another client's or tenant's is simply not there)."""
        result = await self._execute(select(Booking).where(Booking.id == id, *self._visible()))
        return result.scalar_one_or_none()

    async def list(
        self, *, first: int, after: Cursor | None = None, flt: BookingFilter = BookingFilter()
    ) -> Page[Values]:
        """A page of visible bookings (their values), earliest start first, after the cursor."""
        conditions = self._filtered(flt)
        if after is not None:
            conditions.append(
                pagination.after(Booking.starts_at, Booking.id, after, descending=False)
            )
        result = await self._execute(
            select(*columns(Booking))
            .where(*conditions)
            .order_by(*pagination.order(Booking.starts_at, Booking.id, descending=False))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.all()), first)

    async def count(self, *, flt: BookingFilter = BookingFilter()) -> int:
        """How many visible bookings match the filter."""
        result = await self._execute(
            select(func.count()).select_from(Booking).where(*self._filtered(flt))
        )
        return int(result.scalar_one())

    async def rules(self) -> BookingRules:
        """The tenant's effective booking settings (its own values over the global defaults),
        through the per-tenant settings cache."""
        values = (
            await SettingsRepository(self.session, self.ctx, cache=self.cache).get(
                section="booking"
            )
        ).values
        return BookingRules(
            min_notice_hours=values["min_notice_hours"],
            max_advance_days=values["max_advance_days"],
            cancellation_notice_hours=values["cancellation_notice_hours"],
            require_confirmation=values["require_confirmation"],
        )

    async def _now(self) -> datetime:
        """The transaction's time, the same clock the database policies use."""
        now: datetime = (await self._execute(select(func.now()))).scalar_one()
        return now

    def _check_window(self, starts_at: datetime, now: datetime, rules: BookingRules) -> None:
        if starts_at <= now:
            raise BadUserInput("A booking must start in the future")
        if not self.is_client:
            return
        if starts_at < now + timedelta(hours=rules.min_notice_hours):
            raise BadUserInput(f"Bookings need at least {rules.min_notice_hours} hours' notice")
        if starts_at > now + timedelta(days=rules.max_advance_days):
            raise BadUserInput(f"Bookings can be made at most {rules.max_advance_days} days ahead")

    def _check_changeable(self, booking: Booking, now: datetime, rules: BookingRules) -> None:
        if booking.status not in OPEN_STATUSES:
            raise BadUserInput(f"A {booking.status.lower()} booking cannot be changed")
        notice = timedelta(hours=rules.cancellation_notice_hours)
        if self.is_client and booking.starts_at - now < notice:
            raise BadUserInput(
                "Bookings can be cancelled or moved no later than "
                f"{rules.cancellation_notice_hours} hours before they start"
            )

    async def _check_staff(self, staff_id: uuid.UUID | None) -> None:
        if staff_id is None:
            return
        availability = AvailabilityRepository(self.session, self.ctx)
        if not await availability.is_active_staff(user_id=staff_id):
            raise BadUserInput("The staff member is not active staff of this organization")

    async def _check_staff_free(
        self,
        staff_id: uuid.UUID | None,
        starts_at: datetime,
        ends_at: datetime,
        *,
        except_id: uuid.UUID | None = None,
    ) -> None:
        """A staff member serves one open booking at a time (whoever's it is: this looks past
        a CLIENT's own bookings and answers only yes or no)."""
        if staff_id is None:
            return
        conditions = [
            Booking.tenant_id == self.tenant_id,
            Booking.staff_id == staff_id,
            Booking.status.in_(OPEN_STATUSES),
            Booking.starts_at < ends_at,
            Booking.ends_at > starts_at,
        ]
        if except_id is not None:
            conditions.append(Booking.id != except_id)
        found = await self._execute(select(Booking.id).where(*conditions).limit(1))
        if found.first() is not None:
            raise Conflict("The staff member already has a booking at that time")

    async def _get_or_404(self, id: uuid.UUID) -> Booking:
        booking = await self.get(id=id)
        if booking is None:
            raise NotFound("Booking not found")
        return booking

    async def book(
        self,
        *,
        service_id: uuid.UUID,
        starts_at: datetime,
        staff_id: uuid.UUID | None = None,
        notes: str | None = None,
    ) -> Booking:
        """Book a service for the context user (always the client of its own booking), within
        the tenant's rules; REQUESTED when bookings need confirmation, else CONFIRMED."""
        found = await self._execute(
            select(Service).where(Service.tenant_id == self.tenant_id, Service.id == service_id)
        )
        service = found.scalar_one_or_none()
        if service is None or (self.is_client and not service.active):
            raise NotFound("Service not found")
        if not service.active:
            raise BadUserInput("This service is not offered at the moment")
        rules = await self.rules()
        self._check_window(starts_at, await self._now(), rules)
        await self._check_staff(staff_id)
        ends_at = starts_at + timedelta(minutes=service.duration_minutes)
        await self._check_staff_free(staff_id, starts_at, ends_at)
        booking = Booking(
            tenant_id=self.tenant_id,
            id=uuid.uuid4(),
            service_id=service.id,
            client_id=self.user_id,
            staff_id=staff_id,
            starts_at=starts_at,
            ends_at=ends_at,
            status="REQUESTED" if rules.require_confirmation else "CONFIRMED",
            notes=notes,
        )
        self.session.add(booking)
        await self._flush()
        await self._refresh(booking)
        await self._audit(
            "booking.create",
            booking,
            {
                "service_id": str(service.id),
                "starts_at": starts_at.isoformat(),
                "staff_id": str(staff_id) if staff_id else None,
                "status": booking.status,
            },
        )
        return booking

    async def cancel(self, *, id: uuid.UUID) -> Booking:
        """Cancel an open visible booking (a CLIENT: its own, within the notice period)."""
        booking = await self._get_or_404(id)
        self._check_changeable(booking, await self._now(), await self.rules())
        return await self._change(booking, "booking.cancel", {"status": "CANCELLED"})

    async def reschedule(self, *, id: uuid.UUID, starts_at: datetime) -> Booking:
        """Move an open visible booking to a new start, keeping its length. A CLIENT moves
        only its own, within the rules, and the new time waits for confirmation again when
        the tenant requires confirmation."""
        booking = await self._get_or_404(id)
        now, rules = await self._now(), await self.rules()
        self._check_changeable(booking, now, rules)
        self._check_window(starts_at, now, rules)
        ends_at = starts_at + (booking.ends_at - booking.starts_at)
        await self._check_staff_free(booking.staff_id, starts_at, ends_at, except_id=booking.id)
        changes: dict[str, Any] = {"starts_at": starts_at, "ends_at": ends_at}
        if self.is_client and rules.require_confirmation:
            changes["status"] = "REQUESTED"
        return await self._change(booking, "booking.reschedule", changes)

    async def confirm(self, *, id: uuid.UUID) -> Booking:
        """REQUESTED → CONFIRMED."""
        booking = await self._get_or_404(id)
        if booking.status != "REQUESTED":
            raise BadUserInput("Only a requested booking can be confirmed")
        return await self._change(booking, "booking.confirm", {"status": "CONFIRMED"})

    async def complete(self, *, id: uuid.UUID) -> Booking:
        """CONFIRMED → COMPLETED."""
        booking = await self._get_or_404(id)
        if booking.status != "CONFIRMED":
            raise BadUserInput("Only a confirmed booking can be completed")
        return await self._change(booking, "booking.complete", {"status": "COMPLETED"})

    async def assign_staff(self, *, id: uuid.UUID, staff_id: uuid.UUID | None) -> Booking:
        """Set (or clear, with None) the staff member of a booking of the tenant."""
        booking = await self._get_or_404(id)
        if booking.status not in OPEN_STATUSES:
            raise BadUserInput(f"A {booking.status.lower()} booking cannot be changed")
        await self._check_staff(staff_id)
        await self._check_staff_free(
            staff_id, booking.starts_at, booking.ends_at, except_id=booking.id
        )
        return await self._change(booking, "booking.assign_staff", {"staff_id": staff_id})

    async def _change(self, booking: Booking, action: str, changes: dict[str, Any]) -> Booking:
        diff = {
            key: {"from": _str(getattr(booking, key)), "to": _str(value)}
            for key, value in changes.items()
            if getattr(booking, key) != value
        }
        for key, value in changes.items():
            setattr(booking, key, value)
        if diff:
            booking.updated_at = func.now()
        await self._flush()
        await self._refresh(booking)
        await self._audit(action, booking, diff)
        return booking

    async def _audit(self, action: str, booking: Booking, changes: dict[str, Any]) -> None:
        await AuditRepository(self.session, self.ctx).record(
            action=action, target_type="booking", target_id=booking.id, changes=changes
        )


def _str(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
