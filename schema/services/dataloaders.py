from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.context import TenantContext
from repositories.models import Service
from repositories.services import ServiceRepository
from schema.loading import PrimableLoader


class ServiceByIdLoader(PrimableLoader[uuid.UUID, Service]):
    """Services of the request's tenant by id, active or not (what a booking or a slot refers
    to); another tenant's loads as None."""

    def __init__(self, session: AsyncSession, ctx: TenantContext) -> None:
        super().__init__()
        self._repo = ServiceRepository(session, ctx)

    async def fetch(self, keys: Sequence[uuid.UUID]) -> list[Service | None]:
        found = await self._repo.get_many(ids=keys)
        return [found.get(key) for key in keys]
