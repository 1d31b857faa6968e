from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from repositories.analytics import AnalyticsRepository
from schema.analytics.types import TenantAnalytics
from schema.context import Info
from schema.permissions import IsTenantAdmin


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(
        description="The admin dashboard of the active organization (ADMIN only). `from` and "
        "`to` are days in the organization's time zone, both included; by default the last 30 "
        "days up to today. `from` must not be after `to`, and the period may cover at most "
        "366 days.",
        permission_classes=[IsTenantAdmin],
    )
    async def analytics(
        self,
        info: Info,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None,
    ) -> TenantAnalytics:
        repo = info.context.repo(AnalyticsRepository)
        return TenantAnalytics.from_record(await repo.summary(start=from_, end=to))
