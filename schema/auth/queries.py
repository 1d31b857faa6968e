from __future__ import annotations

import strawberry

from schema.auth.types import Viewer, load_viewer
from schema.context import Info


@strawberry.type
class AuthQueries:
    @strawberry.field(description="The signed-in user; null when anonymous.")
    async def viewer(self, info: Info) -> Viewer | None:
        if not info.context.tenant.is_authenticated:
            return None
        return await load_viewer(info, info.context.tenant)
