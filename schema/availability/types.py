from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from repositories.models import AvailabilitySlot as SlotRow
from schema.context import Info
from schema.ids import encode_id
from schema.services.types import Service
from schema.users.types import User


@strawberry.type(description="A time a staff member can take bookings, for one service or any.")
class AvailabilitySlot:
    id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    capacity: int
    staff_id: strawberry.Private[uuid.UUID]
    service_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: SlotRow) -> AvailabilitySlot:
        return cls(
            id=strawberry.ID(encode_id("AvailabilitySlot", row.id)),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            capacity=row.capacity,
            staff_id=row.staff_id,
            service_id=row.service_id,
        )

    @strawberry.field(description="The staff member who is available.")
    async def staff(self, info: Info) -> User | None:
        record = await info.context.loaders.users.load(self.staff_id)
        return User.from_record(record) if record else None

    @strawberry.field(description="The service the slot is reserved for; null: any service.")
    async def service(self, info: Info) -> Service | None:
        if self.service_id is None:
            return None
        row = await info.context.loaders.services.load(self.service_id)
        return Service.from_row(row) if row else None


@strawberry.type(
    description="A future time the organization can take a booking, as shown to anyone."
)
class PublicAvailabilitySlot:
    id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    capacity: int

    @classmethod
    def from_row(cls, row: SlotRow) -> PublicAvailabilitySlot:
        return cls(
            id=strawberry.ID(encode_id("AvailabilitySlot", row.id)),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            capacity=row.capacity,
        )
