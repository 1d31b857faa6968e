from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from app.errors import BadUserInput
from repositories.bookings import BookingRepository
from schema.bookings.types import Booking
from schema.context import Info
from schema.ids import decode_id
from schema.permissions import IsAuthenticated, IsTenantStaff

MAX_NOTES = 2_000


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _notes(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_NOTES:
        raise BadUserInput(f"The notes must be at most {MAX_NOTES} characters long")
    return value.strip() or None


@strawberry.input
class BookServiceInput:
    service_id: strawberry.ID
    starts_at: datetime
    staff_id: strawberry.ID | None = strawberry.field(
        default=None, description="An active STAFF or ADMIN member to ask for."
    )
    notes: str | None = None


@strawberry.type
class BookingMutations:
    @strawberry.mutation(
        description="Book a service for the viewer (never for someone else), within the "
        "organization's booking rules: REQUESTED when bookings need confirmation, else "
        "CONFIRMED. CONFLICT when the staff member asked for has another open booking then.",
        permission_classes=[IsAuthenticated],
    )
    async def book_service(self, info: Info, input: BookServiceInput) -> Booking:
        row = await info.context.repo(BookingRepository).book(
            service_id=decode_id("Service", input.service_id),
            starts_at=_aware(input.starts_at),
            staff_id=decode_id("User", input.staff_id) if input.staff_id else None,
            notes=_notes(input.notes),
        )
        return Booking.from_row(row)

    @strawberry.mutation(
        description="Cancel a booking: a CLIENT its own (within the cancellation notice), "
        "STAFF and ADMIN any of the organization's.",
        permission_classes=[IsAuthenticated],
    )
    async def cancel_booking(self, info: Info, id: strawberry.ID) -> Booking:
        row = await info.context.repo(BookingRepository).cancel(id=decode_id("Booking", id))
        return Booking.from_row(row)

    @strawberry.mutation(
        description="Move a booking to a new start, keeping its length: a CLIENT its own "
        "(within the booking rules; it waits for confirmation again when the organization "
        "requires it), STAFF and ADMIN any of the organization's.",
        permission_classes=[IsAuthenticated],
    )
    async def reschedule_booking(
        self, info: Info, id: strawberry.ID, starts_at: datetime
    ) -> Booking:
        row = await info.context.repo(BookingRepository).reschedule(
            id=decode_id("Booking", id), starts_at=_aware(starts_at)
        )
        return Booking.from_row(row)

    @strawberry.mutation(description="REQUESTED → CONFIRMED.", permission_classes=[IsTenantStaff])
    async def confirm_booking(self, info: Info, id: strawberry.ID) -> Booking:
        row = await info.context.repo(BookingRepository).confirm(id=decode_id("Booking", id))
        return Booking.from_row(row)

    @strawberry.mutation(description="CONFIRMED → COMPLETED.", permission_classes=[IsTenantStaff])
    async def complete_booking(self, info: Info, id: strawberry.ID) -> Booking:
        row = await info.context.repo(BookingRepository).complete(id=decode_id("Booking", id))
        return Booking.from_row(row)

    @strawberry.mutation(
        description="Set the staff member of an open booking (an active STAFF or ADMIN "
        "member); null unassigns.",
        permission_classes=[IsTenantStaff],
    )
    async def assign_booking_staff(
        self, info: Info, id: strawberry.ID, staff_id: strawberry.ID | None
    ) -> Booking:
        row = await info.context.repo(BookingRepository).assign_staff(
            id=decode_id("Booking", id),
            staff_id=decode_id("User", staff_id) if staff_id else None,
        )
        return Booking.from_row(row)
