from __future__ import annotations

import strawberry

from repositories.base import Values
from repositories.bookings import BookingFilter as BookingFilterValues
from repositories.bookings import BookingRepository
from repositories.pagination import Page
from schema.bookings.filters import BookingFilter
from schema.bookings.types import Booking, prime
from schema.context import Info
from schema.ids import decode_id
from schema.pagination import DEFAULT_PAGE_SIZE, Connection, connection, page_request
from schema.permissions import IsAuthenticated, IsTenantStaff


async def _connection(
    info: Info, first: int | None, after: str | None, flt: BookingFilterValues
) -> Connection[Booking]:
    request = page_request(first, after)
    repo = info.context.repo(BookingRepository)
    page: Page[Values] = await repo.list(first=request.first, after=request.after, flt=flt)
    await prime(info, page.rows)
    return connection(
        page,
        node=Booking.from_row,
        sort_value=lambda row: row.starts_at,
        row_id=lambda row: row.id,
        counter=lambda: repo.count(flt=flt),
    )


@strawberry.type
class BookingQueries:
    @strawberry.field(
        description="The viewer's own bookings in the active organization, earliest start "
        "first (`clientId` in the filter is ignored). `first` is at most 100.",
        permission_classes=[IsAuthenticated],
    )
    async def my_bookings(
        self,
        info: Info,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        filter: BookingFilter | None = None,
    ) -> Connection[Booking]:
        flt = (filter or BookingFilter()).to_values(own=True)
        return await _connection(info, first, after, flt)

    @strawberry.field(
        description="Every booking of the active organization, earliest start first. "
        "`first` is at most 100.",
        permission_classes=[IsTenantStaff],
    )
    async def bookings(
        self,
        info: Info,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        filter: BookingFilter | None = None,
    ) -> Connection[Booking]:
        flt = (filter or BookingFilter()).to_values()
        return await _connection(info, first, after, flt)

    @strawberry.field(
        description="One booking by id; null when it does not exist or is not visible (a "
        "CLIENT sees only its own).",
        permission_classes=[IsAuthenticated],
    )
    async def booking(self, info: Info, id: strawberry.ID) -> Booking | None:
        row = await info.context.repo(BookingRepository).get(id=decode_id("Booking", id))
        return Booking.from_row(row) if row else None
