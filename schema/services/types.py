from __future__ import annotations

from datetime import datetime

import strawberry

from repositories.models import Service as ServiceRow
from schema.ids import encode_id


@strawberry.type(description="Something the organization offers and clients can book.")
class Service:
    id: strawberry.ID
    slug: str
    name: str
    description: str | None
    price_cents: int
    duration_minutes: int
    active: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: ServiceRow) -> Service:
        return cls(
            id=strawberry.ID(encode_id("Service", row.id)),
            slug=row.slug,
            name=row.name,
            description=row.description,
            price_cents=row.price_cents,
            duration_minutes=row.duration_minutes,
            active=row.active,
            created_at=row.created_at,
        )
