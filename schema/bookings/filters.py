from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from app.errors import BadUserInput
from repositories.bookings import BookingFilter as BookingFilterValues
from schema.bookings.types import BookingStatus
from schema.ids import decode_id


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@strawberry.input(description="Narrows a booking list; all given conditions must hold.")
class BookingFilter:
    status: list[BookingStatus] | None = None
    staff_id: strawberry.ID | None = None
    client_id: strawberry.ID | None = None
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Starts at or after."
    )
    to: datetime | None = strawberry.field(default=None, description="Starts before.")

    def to_values(self, *, own: bool = False) -> BookingFilterValues:
        start, end = _aware(self.from_), _aware(self.to)
        if start is not None and end is not None and end <= start:
            raise BadUserInput("`to` must be after `from`")
        return BookingFilterValues(
            statuses=tuple(s.value for s in self.status or ()),
            staff_id=decode_id("User", self.staff_id) if self.staff_id else None,
            client_id=decode_id("User", self.client_id) if self.client_id else None,
            start=start,
            end=end,
            own=own,
        )
