from __future__ import annotations

import uuid
from collections.abc import Sequence

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import TenantContext
from repositories.records import UserRecord
from repositories.users import UserRepository


class UserByIdLoader(DataLoader[uuid.UUID, UserRecord | None]):
    """Members of the request's tenant by user id; anyone else loads as None."""

    def __init__(self, session: AsyncSession, ctx: TenantContext) -> None:
        super().__init__()
        self._repo = UserRepository(session, ctx)

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[UserRecord | None]:
        found = await self._repo.get_many(ids=keys)
        return [found.get(key) for key in keys]
