from __future__ import annotations

import uuid
from collections.abc import Sequence

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import TenantContext
from repositories.models import Task
from repositories.tasks import TaskRepository


class TaskByIdLoader(DataLoader[uuid.UUID, Task | None]):
    """Tasks the request may see, by id; another tenant's (or, for a CLIENT, another person's)
    task loads as None."""

    def __init__(self, session: AsyncSession, ctx: TenantContext) -> None:
        super().__init__()
        self._repo = TaskRepository(session, ctx)

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[Task | None]:
        found = await self._repo.get_many(ids=keys)
        return [found.get(key) for key in keys]
