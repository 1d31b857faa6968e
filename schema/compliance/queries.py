from __future__ import annotations

import strawberry

from repositories.compliance_records import ComplianceFilter as ComplianceFilterValues
from repositories.compliance_records import ComplianceRecordRepository
from schema.compliance.filters import ComplianceRecordFilter
from schema.compliance.types import ComplianceRecord
from schema.context import Info
from schema.ids import decode_id
from schema.pagination import DEFAULT_PAGE_SIZE, Connection, connection, page_request
from schema.permissions import IsTenantStaff


@strawberry.type
class ComplianceQueries:
    @strawberry.field(
        description="Compliance records of the active organization, newest first. `first` is "
        "at most 100.",
        permission_classes=[IsTenantStaff],
    )
    async def compliance_records(
        self,
        info: Info,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        filter: ComplianceRecordFilter | None = None,
    ) -> Connection[ComplianceRecord]:
        request = page_request(first, after)
        flt = filter.to_values() if filter else ComplianceFilterValues()
        repo = info.context.repo(ComplianceRecordRepository)
        page = await repo.list(first=request.first, after=request.after, flt=flt)
        return connection(
            page,
            node=ComplianceRecord.from_row,
            sort_value=lambda row: row.created_at,
            row_id=lambda row: row.id,
            counter=lambda: repo.count(flt=flt),
        )

    @strawberry.field(
        description="One compliance record by id; null when it does not exist.",
        permission_classes=[IsTenantStaff],
    )
    async def compliance_record(self, info: Info, id: strawberry.ID) -> ComplianceRecord | None:
        row = await info.context.repo(ComplianceRecordRepository).get(
            id=decode_id("ComplianceRecord", id)
        )
        return ComplianceRecord.from_row(row) if row else None
