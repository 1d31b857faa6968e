from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry

from repositories.base import Values
from repositories.models import Booking as BookingRow
from schema.context import Info
from schema.ids import encode_id
from schema.selection import selected_below
from schema.services.types import Service
from schema.users.types import User


@strawberry.enum
class BookingStatus(Enum):
    REQUESTED = "REQUESTED"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"


@strawberry.type(description="A client's appointment for a service.")
class Booking:
    id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    status: BookingStatus
    notes: str | None
    created_at: datetime
    updated_at: datetime
    service_id: strawberry.Private[uuid.UUID]
    client_id: strawberry.Private[uuid.UUID]
    staff_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: BookingRow | Values) -> Booking:
        return cls(
            id=strawberry.ID(encode_id("Booking", row.id)),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            status=BookingStatus(row.status),
            notes=row.notes,
            created_at=row.created_at,
            updated_at=row.updated_at,
            service_id=row.service_id,
            client_id=row.client_id,
            staff_id=row.staff_id,
        )

    # Synchronous: they answer at once when the page primed the loaders (schema/loading.py).
    @strawberry.field(description="The service booked (also when it is no longer offered).")
    def service(self, info: Info) -> Service | None:
        return info.context.loaders.services.resolve(self.service_id, Service.from_row)  # type: ignore[return-value]

    @strawberry.field(description="The member the booking is for.")
    def client(self, info: Info) -> User | None:
        return info.context.loaders.users.resolve(self.client_id, User.from_record)  # type: ignore[return-value]

    @strawberry.field(description="The staff member who will serve it, if assigned.")
    def staff(self, info: Info) -> User | None:
        return info.context.loaders.users.resolve(self.staff_id, User.from_record)  # type: ignore[return-value]


async def prime(info: Info, rows: list[BookingRow] | list[Values]) -> None:
    """Load what the page's selected fields refer to, one batch per loader."""
    selected = selected_below(info, "edges", "node")
    if "service" in selected:
        await info.context.loaders.services.prime_many(r.service_id for r in rows)
    people = [r.client_id for r in rows] if "client" in selected else []
    if "staff" in selected:
        people += [r.staff_id for r in rows]
    if people:
        await info.context.loaders.users.prime_many(people)
