from __future__ import annotations

import uuid
from collections.abc import Sequence

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import TenantContext
from repositories.service_requests import ServiceRequestRepository


class ServiceNameByIdLoader(DataLoader[uuid.UUID, str | None]):
    """Names of the request tenant's services by id; anything else loads as None."""

    def __init__(self, session: AsyncSession, ctx: TenantContext) -> None:
        super().__init__()
        self._repo = ServiceRequestRepository(session, ctx)

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[str | None]:
        found = await self._repo.service_names(ids=keys)
        return [found.get(key) for key in keys]
