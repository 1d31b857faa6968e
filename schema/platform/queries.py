from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from schema.context import Info
from schema.permissions import IsSuperAdmin
from schema.platform.types import PlatformAnalytics


@strawberry.type
class PlatformQueries:
    @strawberry.field(
        description="One row of activity per organization, and the totals (super-admins in a "
        "platform session only; everyone else is FORBIDDEN). Days are UTC days, both "
        "included; by default the last 30 days up to today, at most 366. Every call is audited.",
        permission_classes=[IsSuperAdmin],
    )
    async def platform_analytics(
        self,
        info: Info,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None,
    ) -> PlatformAnalytics:
        context = info.context
        summary = await context.platform_gateway().summary(
            context.tenant, context.session, start=from_, end=to
        )
        return PlatformAnalytics.from_record(summary)
