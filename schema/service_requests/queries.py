from __future__ import annotations

import strawberry

from repositories.service_requests import ServiceRequestFilter as ServiceRequestFilterValues
from repositories.service_requests import ServiceRequestRepository
from schema.context import Info
from schema.ids import decode_id
from schema.pagination import DEFAULT_PAGE_SIZE, Connection, connection, page_request
from schema.permissions import IsAuthenticated, IsTenantStaff
from schema.service_requests.filters import ServiceRequestFilter
from schema.service_requests.types import ServiceRequest


async def _page(
    info: Info, first: int | None, after: str | None, flt: ServiceRequestFilterValues
) -> Connection[ServiceRequest]:
    request = page_request(first, after)
    repo = info.context.repo(ServiceRequestRepository)
    page = await repo.list(first=request.first, after=request.after, flt=flt)
    return connection(
        page,
        node=ServiceRequest.from_row,
        sort_value=lambda row: row.created_at,
        row_id=lambda row: row.id,
        counter=lambda: repo.count(flt=flt),
    )


@strawberry.type
class ServiceRequestQueries:
    @strawberry.field(
        description="The service requests the viewer submitted, newest first.",
        permission_classes=[IsAuthenticated],
    )
    async def my_service_requests(
        self, info: Info, first: int | None = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Connection[ServiceRequest]:
        return await _page(info, first, after, info.context.repo(ServiceRequestRepository).mine())

    @strawberry.field(
        description="Service requests of the active organization, newest first. `first` is at "
        "most 100.",
        permission_classes=[IsTenantStaff],
    )
    async def service_requests(
        self,
        info: Info,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        filter: ServiceRequestFilter | None = None,
    ) -> Connection[ServiceRequest]:
        flt = filter.to_values() if filter else ServiceRequestFilterValues()
        return await _page(info, first, after, flt)

    @strawberry.field(
        description="One service request by id (a CLIENT sees only its own); null when it does "
        "not exist or is not visible.",
        permission_classes=[IsAuthenticated],
    )
    async def service_request(self, info: Info, id: strawberry.ID) -> ServiceRequest | None:
        row = await info.context.repo(ServiceRequestRepository).get(
            id=decode_id("ServiceRequest", id)
        )
        return ServiceRequest.from_row(row) if row else None
