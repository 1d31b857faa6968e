from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from app.errors import BadUserInput
from repositories.availability import AvailabilityRepository
from schema.availability.types import AvailabilitySlot
from schema.context import Info
from schema.ids import decode_id
from schema.permissions import IsTenantStaff

MAX_CAPACITY = 1000


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@strawberry.input
class CreateAvailabilitySlotInput:
    starts_at: datetime
    ends_at: datetime
    staff_id: strawberry.ID | None = strawberry.field(
        default=None, description="An active STAFF or ADMIN member; default: the viewer."
    )
    service_id: strawberry.ID | None = strawberry.field(
        default=None, description="Reserve the slot for one service; null: any service."
    )
    capacity: int = 1


@strawberry.type
class AvailabilityMutations:
    @strawberry.mutation(permission_classes=[IsTenantStaff])
    async def create_availability_slot(
        self, info: Info, input: CreateAvailabilitySlotInput
    ) -> AvailabilitySlot:
        if not 1 <= input.capacity <= MAX_CAPACITY:
            raise BadUserInput(f"`capacity` must be between 1 and {MAX_CAPACITY}")
        staff_id = decode_id("User", input.staff_id) if input.staff_id else None
        row = await info.context.repo(AvailabilityRepository).create(
            staff_id=staff_id,
            starts_at=_aware(input.starts_at),
            ends_at=_aware(input.ends_at),
            service_id=decode_id("Service", input.service_id) if input.service_id else None,
            capacity=input.capacity,
        )
        return AvailabilitySlot.from_row(row)

    @strawberry.mutation(permission_classes=[IsTenantStaff])
    async def delete_availability_slot(self, info: Info, id: strawberry.ID) -> bool:
        await info.context.repo(AvailabilityRepository).delete(id=decode_id("AvailabilitySlot", id))
        return True
