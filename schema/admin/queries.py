from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from repositories.audit_log import AuditFilter, AuditLogRepository, HealthLogRepository
from repositories.domains import DomainRepository
from repositories.members import MemberFilter as MemberFilterValues
from repositories.members import MemberRepository
from repositories.settings import SettingsRepository
from schema.admin.filters import AuditLogFilter, MemberFilter
from schema.admin.types import AuditEntry, Domain, HealthLog, Member, Settings
from schema.context import Info
from schema.pagination import DEFAULT_PAGE_SIZE, Connection, connection, page_request
from schema.permissions import IsAuthenticated, IsTenantAdmin, IsTenantStaff


@strawberry.type
class AdminQueries:
    @strawberry.field(
        description="Members of the active organization, longest-standing first. STAFF may "
        "read, ADMIN may also change them. `first` is at most 100.",
        permission_classes=[IsTenantStaff],
    )
    async def members(
        self,
        info: Info,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        filter: MemberFilter | None = None,
    ) -> Connection[Member]:
        request = page_request(first, after)
        flt = filter.to_values() if filter else MemberFilterValues()
        repo = info.context.repo(MemberRepository)
        page = await repo.list(first=request.first, after=request.after, flt=flt)
        return connection(
            page,
            node=Member.from_row,
            sort_value=lambda row: row.created_at,
            row_id=lambda row: row.user_id,
            counter=lambda: repo.count(flt=flt),
        )

    @strawberry.field(
        description="The active organization's effective settings (any member may read them).",
        permission_classes=[IsAuthenticated],
    )
    def settings(self) -> Settings:
        return Settings()

    @strawberry.field(
        description="The effective settings as a JSON document for `importSettings`; it "
        "carries no ids.",
        permission_classes=[IsTenantAdmin],
    )
    async def export_settings(self, info: Info) -> JSON:
        document: Any = await info.context.repo(SettingsRepository).export()
        return document  # type: ignore[no-any-return]

    @strawberry.field(
        description="Custom domains serving the active organization.",
        permission_classes=[IsTenantAdmin],
    )
    async def domains(self, info: Info) -> list[Domain]:
        return [Domain.from_row(row) for row in await info.context.repo(DomainRepository).list()]

    @strawberry.field(
        description="The active organization's audit log, newest first. `first` is at most 100.",
        permission_classes=[IsTenantAdmin],
    )
    async def audit_log(
        self,
        info: Info,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        filter: AuditLogFilter | None = None,
    ) -> Connection[AuditEntry]:
        request = page_request(first, after)
        flt = filter.to_values() if filter else AuditFilter()
        repo = info.context.repo(AuditLogRepository)
        page = await repo.list(first=request.first, after=request.after, flt=flt)
        return connection(
            page,
            node=AuditEntry.from_row,
            sort_value=lambda row: row.created_at,
            row_id=lambda row: row.id,
            counter=lambda: repo.count(flt=flt),
        )

    @strawberry.field(
        description="The active organization's health checks, newest first. `first` is at "
        "most 100.",
        permission_classes=[IsTenantAdmin],
    )
    async def health_logs(
        self, info: Info, first: int | None = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Connection[HealthLog]:
        request = page_request(first, after)
        repo = info.context.repo(HealthLogRepository)
        page = await repo.list(first=request.first, after=request.after)
        return connection(
            page,
            node=HealthLog.from_row,
            sort_value=lambda row: row.created_at,
            row_id=lambda row: row.id,
            counter=repo.count,
        )
