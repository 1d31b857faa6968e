"""The services a tenant offers: its catalogue."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select

from app.errors import BadUserInput, Conflict, NotFound
from repositories import pagination
from repositories.audit import AuditRepository
from repositories.base import TenantRepository, one_of
from repositories.models import Booking, Service
from repositories.pagination import Cursor, Page


@dataclass(frozen=True, slots=True)
class ServiceFilter:
    active: bool | None = None
    search: str | None = None


_EDITABLE = ("name", "slug", "description", "price_cents", "duration_minutes", "active")


def like_pattern(text: str) -> str:
    """`text` as a literal part of an ILIKE pattern (escape character: backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ServiceRepository(TenantRepository):
    """Services of the context tenant. A CLIENT sees only the active ones."""

    def _visible(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [Service.tenant_id == self.tenant_id]
        if self.is_client:
            conditions.append(Service.active.is_(True))
        return conditions

    def _filtered(self, flt: ServiceFilter) -> list[ColumnElement[bool]]:
        conditions = self._visible()
        if flt.active is not None:
            conditions.append(Service.active.is_(flt.active))
        if flt.search:
            conditions.append(Service.name.ilike(like_pattern(flt.search), escape="\\"))
        return conditions

    async def get(self, *, id: uuid.UUID) -> Service | None:
        """One visible service, or None (another tenant's service is simply not there)."""
        result = await self._execute(select(Service).where(Service.id == id, *self._visible()))
        return result.scalar_one_or_none()

    async def get_many(self, *, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Service]:
        """Services of the context tenant among `ids`, active or not (what a booking or a slot
        refers to stays readable after the service is withdrawn); others are absent."""
        result = await self._execute(
            select(Service).where(Service.tenant_id == self.tenant_id, one_of(Service.id, ids))
        )
        return {row.id: row for row in result.scalars()}

    async def list(
        self, *, first: int, after: Cursor | None = None, flt: ServiceFilter = ServiceFilter()
    ) -> Page[Service]:
        """A page of visible services, oldest first, after the cursor."""
        conditions = self._filtered(flt)
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

    async def count(self, *, flt: ServiceFilter = ServiceFilter()) -> int:
        """How many visible services match the filter."""
        result = await self._execute(
            select(func.count()).select_from(Service).where(*self._filtered(flt))
        )
        return int(result.scalar_one())

    async def _check_slug_free(self, slug: str, *, except_id: uuid.UUID | None = None) -> None:
        conditions = [Service.tenant_id == self.tenant_id, Service.slug == slug]
        if except_id is not None:
            conditions.append(Service.id != except_id)
        found = await self._execute(select(Service.id).where(*conditions))
        if found.first() is not None:
            raise Conflict("Another service already uses this slug")

    async def create(
        self,
        *,
        name: str,
        slug: str,
        description: str | None = None,
        price_cents: int = 0,
        duration_minutes: int = 60,
        active: bool = True,
    ) -> Service:
        """A new service in the context tenant; CONFLICT when the slug is taken; audited."""
        await self._check_slug_free(slug)
        service = Service(
            tenant_id=self.tenant_id,
            id=uuid.uuid4(),
            name=name,
            slug=slug,
            description=description,
            price_cents=price_cents,
            duration_minutes=duration_minutes,
            active=active,
        )
        self.session.add(service)
        await self._flush()
        await self._refresh(service)
        await AuditRepository(self.session, self.ctx).record(
            action="service.create",
            target_type="service",
            target_id=service.id,
            changes={
                "name": name,
                "slug": slug,
                "price_cents": price_cents,
                "duration_minutes": duration_minutes,
                "active": active,
            },
        )
        return service

    async def update(self, *, id: uuid.UUID, changes: dict[str, Any]) -> Service:
        """Apply `changes` to a service of the tenant; NOT_FOUND otherwise; audited."""
        unknown = set(changes) - set(_EDITABLE)
        if unknown:
            raise BadUserInput(f"Cannot change {', '.join(sorted(unknown))}")
        service = await self.get(id=id)
        if service is None:
            raise NotFound("Service not found")
        if "slug" in changes and changes["slug"] != service.slug:
            await self._check_slug_free(changes["slug"], except_id=service.id)
        diff = {
            key: {"from": getattr(service, key), "to": value}
            for key, value in changes.items()
            if getattr(service, key) != value
        }
        for key, value in changes.items():
            setattr(service, key, value)
        await self._flush()
        await self._refresh(service)
        await AuditRepository(self.session, self.ctx).record(
            action="service.update", target_type="service", target_id=service.id, changes=diff
        )
        return service

    async def delete(self, *, id: uuid.UUID) -> None:
        """Delete a service that no booking refers to; NOT_FOUND when it is not the tenant's,
        CONFLICT when bookings refer to it (deactivate it instead); audited."""
        service = await self.get(id=id)
        if service is None:
            raise NotFound("Service not found")
        booked = await self._execute(
            select(Booking.id)
            .where(Booking.tenant_id == self.tenant_id, Booking.service_id == id)
            .limit(1)
        )
        if booked.first() is not None:
            raise Conflict("This service has bookings and cannot be deleted; deactivate it instead")
        await self._delete(service)
        await self._flush()
        await AuditRepository(self.session, self.ctx).record(
            action="service.delete",
            target_type="service",
            target_id=id,
            changes={"name": service.name, "slug": service.slug},
        )
