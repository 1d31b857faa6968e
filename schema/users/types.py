from __future__ import annotations

import strawberry

from repositories.records import TenantRecord, UserRecord
from schema.ids import encode_id


@strawberry.type(description="A person, as seen from the active organization.")
class User:
    id: strawberry.ID
    email: str
    display_name: str | None

    @classmethod
    def from_record(cls, record: UserRecord) -> User:
        return cls(
            id=strawberry.ID(encode_id("User", record.id)),
            email=record.email,
            display_name=record.display_name,
        )


@strawberry.type(description="An organization (tenant) of the platform.")
class Tenant:
    id: strawberry.ID
    slug: str
    name: str

    @classmethod
    def from_record(cls, record: TenantRecord) -> Tenant:
        return cls(
            id=strawberry.ID(encode_id("Tenant", record.id)), slug=record.slug, name=record.name
        )
