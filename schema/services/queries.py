from __future__ import annotations

import strawberry

from repositories.catalog import PublicCatalogRepository
from repositories.services import ServiceFilter as ServiceFilterValues
from repositories.services import ServiceRepository
from schema.context import Info
from schema.ids import decode_id
from schema.pagination import DEFAULT_PAGE_SIZE, Connection, connection, page_request
from schema.permissions import IsAuthenticated
from schema.services.filters import ServiceFilter
from schema.services.types import Service


@strawberry.type
class ServiceQueries:
    @strawberry.field(
        description="Services of the active organization, oldest first (a CLIENT sees only "
        "active ones). `first` is at most 100.",
        permission_classes=[IsAuthenticated],
    )
    async def services(
        self,
        info: Info,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        filter: ServiceFilter | None = None,
    ) -> Connection[Service]:
        request = page_request(first, after)
        flt = filter.to_values() if filter else ServiceFilterValues()
        repo = info.context.repo(ServiceRepository)
        page = await repo.list(first=request.first, after=request.after, flt=flt)
        return connection(
            page,
            node=Service.from_row,
            sort_value=lambda row: row.created_at,
            row_id=lambda row: row.id,
            counter=lambda: repo.count(flt=flt),
        )

    @strawberry.field(
        description="One service by id; null when it does not exist or is not visible.",
        permission_classes=[IsAuthenticated],
    )
    async def service(self, info: Info, id: strawberry.ID) -> Service | None:
        row = await info.context.repo(ServiceRepository).get(id=decode_id("Service", id))
        return Service.from_row(row) if row else None

    @strawberry.field(
        description="The active services of the organization whose host was called, for "
        "anyone (no login). Empty on the bare base domain, where no organization is named."
    )
    async def public_services(
        self, info: Info, first: int | None = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Connection[Service]:
        request = page_request(first, after)
        repo = info.context.repo(PublicCatalogRepository)
        page = await repo.list_services(first=request.first, after=request.after)
        return connection(
            page,
            node=Service.from_row,
            sort_value=lambda row: row.created_at,
            row_id=lambda row: row.id,
            counter=repo.count_services,
        )
