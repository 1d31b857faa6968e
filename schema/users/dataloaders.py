from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.context import TenantContext
from repositories.records import UserRecord
from repositories.users import UserRepository
from schema.loading import PrimableLoader


class UserByIdLoader(PrimableLoader[uuid.UUID, UserRecord]):
    """Members of the request's tenant by user id; anyone else loads as None."""

    memoize = True  # frozen records: a page names the same people many times

    def __init__(self, session: AsyncSession, ctx: TenantContext) -> None:
        super().__init__()
        self._repo = UserRepository(session, ctx)

    async def fetch(self, keys: Sequence[uuid.UUID]) -> list[UserRecord | None]:
        found = await self._repo.get_many(ids=keys)
        return [found.get(key) for key in keys]
