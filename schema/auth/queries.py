from __future__ import annotations

import strawberry

from schema.auth.types import Viewer, load_viewer
from schema.context import Info


@strawberry.type
class AuthQueries:
    @strawberry.field(
        description="The signed-in user in its organization; null when anonymous (or in a "
        "platform session, which has no organization)."
    )
    async def viewer(self, info: Info) -> Viewer | None:
        if not info.context.tenant.is_authenticated or info.context.tenant.tenant_id is None:
            return None  # anonymous, or a platform session (no organization to show)
        return await load_viewer(info, info.context.tenant)
