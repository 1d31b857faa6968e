from __future__ import annotations

import re
from typing import Any

import strawberry

from app.errors import BadUserInput
from repositories.services import ServiceRepository
from schema.context import Info
from schema.ids import decode_id
from schema.permissions import IsTenantAdmin
from schema.services.types import Service

MAX_NAME = 200
MAX_DESCRIPTION = 5_000
MAX_DURATION = 24 * 60
SLUG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise BadUserInput(f"The name must be 1 to {MAX_NAME} characters long")
    return name


def _slug(value: str) -> str:
    slug = value.strip()
    if not SLUG.match(slug):
        raise BadUserInput("The slug must be 1 to 63 lowercase letters, digits or inner hyphens")
    return slug


def _description(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_DESCRIPTION:
        raise BadUserInput(f"The description must be at most {MAX_DESCRIPTION} characters long")
    return value


def _price(value: int) -> int:
    if value < 0:
        raise BadUserInput("`priceCents` cannot be negative")
    return value


def _duration(value: int) -> int:
    if not 0 < value <= MAX_DURATION:
        raise BadUserInput(f"`durationMinutes` must be between 1 and {MAX_DURATION}")
    return value


@strawberry.input
class CreateServiceInput:
    name: str
    slug: str = strawberry.field(description="Unique within the organization.")
    description: str | None = None
    price_cents: int = 0
    duration_minutes: int = 60
    active: bool = True


@strawberry.input(description="Only the fields given are changed.")
class UpdateServiceInput:
    name: str | None = strawberry.UNSET
    slug: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    price_cents: int | None = strawberry.UNSET
    duration_minutes: int | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        checks = {
            "name": _name,
            "slug": _slug,
            "price_cents": _price,
            "duration_minutes": _duration,
            "active": bool,
        }
        changes: dict[str, Any] = {}
        for name, check in checks.items():
            value = getattr(self, name)
            if value is strawberry.UNSET:
                continue
            if value is None:
                raise BadUserInput(f"`{name}` cannot be cleared")
            changes[name] = check(value)
        if self.description is not strawberry.UNSET:
            changes["description"] = _description(self.description)
        return changes


@strawberry.type
class ServiceMutations:
    @strawberry.mutation(permission_classes=[IsTenantAdmin])
    async def create_service(self, info: Info, input: CreateServiceInput) -> Service:
        row = await info.context.repo(ServiceRepository).create(
            name=_name(input.name),
            slug=_slug(input.slug),
            description=_description(input.description),
            price_cents=_price(input.price_cents),
            duration_minutes=_duration(input.duration_minutes),
            active=input.active,
        )
        return Service.from_row(row)

    @strawberry.mutation(permission_classes=[IsTenantAdmin])
    async def update_service(
        self, info: Info, id: strawberry.ID, input: UpdateServiceInput
    ) -> Service:
        row = await info.context.repo(ServiceRepository).update(
            id=decode_id("Service", id), changes=input.changes()
        )
        return Service.from_row(row)

    @strawberry.mutation(
        permission_classes=[IsTenantAdmin],
        description="Delete a service no booking refers to (its availability slots go with "
        "it). A service with bookings answers CONFLICT: deactivate it with "
        "`updateService(input: {active: false})` instead.",
    )
    async def delete_service(self, info: Info, id: strawberry.ID) -> bool:
        await info.context.repo(ServiceRepository).delete(id=decode_id("Service", id))
        return True
