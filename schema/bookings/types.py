from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry

from repositories.models import Booking as BookingRow
from schema.context import Info
from schema.ids import encode_id
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
    def from_row(cls, row: BookingRow) -> Booking:
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

    @strawberry.field(description="The service booked (also when it is no longer offered).")
    async def service(self, info: Info) -> Service | None:
        row = await info.context.loaders.services.load(self.service_id)
        return Service.from_row(row) if row else None

    @strawberry.field(description="The member the booking is for.")
    async def client(self, info: Info) -> User | None:
        return await _user(info, self.client_id)

    @strawberry.field(description="The staff member who will serve it, if assigned.")
    async def staff(self, info: Info) -> User | None:
        return await _user(info, self.staff_id)


async def _user(info: Info, user_id: uuid.UUID | None) -> User | None:
    if user_id is None:
        return None
    record = await info.context.loaders.users.load(user_id)
    return User.from_record(record) if record else None
