"""The public catalogue: what an anonymous visitor of a tenant's host may read (its active
services and their future availability). The tenant is the host's, never an argument; the
database allows exactly these rows through `app.public_tenant_id`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select

from repositories import pagination
from repositories.base import Repository
from repositories.models import AvailabilitySlot, Service
from repositories.pagination import Cursor, Page


class PublicCatalogRepository(Repository):
    """Reads of the host's tenant for anyone. Without a host tenant (the bare base domain)
    there is no catalogue: every list is empty."""

    @property
    def public_tenant_id(self) -> uuid.UUID | None:
        return self.ctx.public_tenant_id

    def _services(self, tenant_id: uuid.UUID) -> list[ColumnElement[bool]]:
        return [Service.tenant_id == tenant_id, Service.active.is_(True)]

    async def list_services(self, *, first: int, after: Cursor | None = None) -> Page[Service]:
        """A page of the host tenant's active services, oldest first."""
        tenant_id = self.public_tenant_id
        if tenant_id is None:
            return pagination.page_of([], first)
        conditions = self._services(tenant_id)
        if after is not None:
            conditions.append(
                pagination.after(Service.created_at, Service.id, after, descending=False)
            )
        result = await self._execute(
            select(Service)
            .where(*conditions)
            .order_by(*pagination.order(Service.created_at, Service.id, descending=False))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.scalars()), first)

    async def count_services(self) -> int:
        """How many active services the host tenant offers."""
        tenant_id = self.public_tenant_id
        if tenant_id is None:
            return 0
        result = await self._execute(
            select(func.count()).select_from(Service).where(*self._services(tenant_id))
        )
        return int(result.scalar_one())

    async def get_service(self, *, id: uuid.UUID) -> Service | None:
        """One active service of the host tenant, or None."""
        tenant_id = self.public_tenant_id
        if tenant_id is None:
            return None
        result = await self._execute(
            select(Service).where(Service.id == id, *self._services(tenant_id))
        )
        return result.scalar_one_or_none()

    def _slots(
        self, tenant_id: uuid.UUID, service_id: uuid.UUID, start: datetime, end: datetime
    ) -> list[ColumnElement[bool]]:
        slot = AvailabilitySlot
        return [
            slot.tenant_id == tenant_id,
            or_(slot.service_id == service_id, slot.service_id.is_(None)),
            slot.starts_at >= start,
            slot.starts_at < end,
            slot.starts_at > func.now(),
        ]

    async def list_slots(
        self,
        *,
        service_id: uuid.UUID,
        start: datetime,
        end: datetime,
        first: int,
        after: Cursor | None = None,
    ) -> Page[AvailabilitySlot]:
        """Future slots of the host tenant for an active service (slots for any service
        included) starting in [start, end), earliest first; empty for an unknown service."""
        tenant_id = self.public_tenant_id
        if tenant_id is None or await self.get_service(id=service_id) is None:
            return pagination.page_of([], first)
        slot = AvailabilitySlot
        conditions = self._slots(tenant_id, service_id, start, end)
        if after is not None:
            conditions.append(pagination.after(slot.starts_at, slot.id, after, descending=False))
        result = await self._execute(
            select(slot)
            .where(*conditions)
            .order_by(*pagination.order(slot.starts_at, slot.id, descending=False))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.scalars()), first)

    async def count_slots(self, *, service_id: uuid.UUID, start: datetime, end: datetime) -> int:
        """How many slots `list_slots` would walk through."""
        tenant_id = self.public_tenant_id
        if tenant_id is None or await self.get_service(id=service_id) is None:
            return 0
        result = await self._execute(
            select(func.count())
            .select_from(AvailabilitySlot)
            .where(*self._slots(tenant_id, service_id, start, end))
        )
        return int(result.scalar_one())
