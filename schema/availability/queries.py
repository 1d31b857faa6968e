from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry

from app.errors import BadUserInput
from repositories.availability import AvailabilityRepository, SlotFilter
from repositories.catalog import PublicCatalogRepository
from schema.availability.types import AvailabilitySlot, PublicAvailabilitySlot
from schema.context import Info
from schema.ids import decode_id
from schema.pagination import DEFAULT_PAGE_SIZE, Connection, connection, page_request
from schema.permissions import IsAuthenticated

From = Annotated[datetime, strawberry.argument(name="from", description="Starts at or after.")]
To = Annotated[datetime, strawberry.argument(description="Starts before.")]


def window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """A time window [start, end); naive times are UTC."""
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    if end <= start:
        raise BadUserInput("`to` must be after `from`")
    return start, end


@strawberry.type
class AvailabilityQueries:
    @strawberry.field(
        description="Availability slots of the active organization starting in [from, to), "
        "earliest first. `serviceId` keeps the slots of that service and those open to any "
        "service. `first` is at most 100.",
        permission_classes=[IsAuthenticated],
    )
    async def availability(
        self,
        info: Info,
        from_: From,
        to: To,
        service_id: strawberry.ID | None = None,
        staff_id: strawberry.ID | None = None,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> Connection[AvailabilitySlot]:
        request = page_request(first, after)
        start, end = window(from_, to)
        flt = SlotFilter(
            start=start,
            end=end,
            service_id=decode_id("Service", service_id) if service_id else None,
            staff_id=decode_id("User", staff_id) if staff_id else None,
        )
        repo = info.context.repo(AvailabilityRepository)
        page = await repo.list(flt=flt, first=request.first, after=request.after)
        return connection(
            page,
            node=AvailabilitySlot.from_row,
            sort_value=lambda row: row.starts_at,
            row_id=lambda row: row.id,
            counter=lambda: repo.count(flt=flt),
        )

    @strawberry.field(
        description="Future availability for an active service of the organization whose "
        "host was called, for anyone (no login). Empty on the bare base domain and for a "
        "service that is not offered there."
    )
    async def public_availability(
        self,
        info: Info,
        service_id: strawberry.ID,
        from_: From,
        to: To,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> Connection[PublicAvailabilitySlot]:
        request = page_request(first, after)
        start, end = window(from_, to)
        service = decode_id("Service", service_id)
        repo = info.context.repo(PublicCatalogRepository)
        page = await repo.list_slots(
            service_id=service, start=start, end=end, first=request.first, after=request.after
        )
        return connection(
            page,
            node=PublicAvailabilitySlot.from_row,
            sort_value=lambda row: row.starts_at,
            row_id=lambda row: row.id,
            counter=lambda: repo.count_slots(service_id=service, start=start, end=end),
        )
