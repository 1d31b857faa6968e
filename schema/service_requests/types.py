from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry

from repositories.models import ServiceRequest as ServiceRequestRow
from schema.context import Info
from schema.ids import encode_id
from schema.services.types import Service
from schema.tasks.types import Task
from schema.users.types import User


@strawberry.enum
class ServiceRequestStatus(Enum):
    NEW = "NEW"
    IN_REVIEW = "IN_REVIEW"
    CONVERTED = "CONVERTED"
    REJECTED = "REJECTED"
    CLOSED = "CLOSED"


@strawberry.type(
    description="A request for a service: from a signed-in client, or from a visitor of the "
    "organization's public site (contact details only)."
)
class ServiceRequest:
    id: strawberry.ID
    description: str
    status: ServiceRequestStatus
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    service_id: strawberry.ID | None = strawberry.field(description="The requested service.")
    created_at: datetime
    updated_at: datetime
    service_uuid: strawberry.Private[uuid.UUID | None]
    client_id: strawberry.Private[uuid.UUID | None]
    task_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: ServiceRequestRow) -> ServiceRequest:
        return cls(
            id=strawberry.ID(encode_id("ServiceRequest", row.id)),
            description=row.description,
            status=ServiceRequestStatus(row.status),
            contact_name=row.contact_name,
            contact_email=row.contact_email,
            contact_phone=row.contact_phone,
            service_id=strawberry.ID(encode_id("Service", row.service_id))
            if row.service_id
            else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            service_uuid=row.service_id,
            client_id=row.client_id,
            task_id=row.task_id,
        )

    @strawberry.field(description="The requested service.")
    async def service(self, info: Info) -> Service | None:
        if self.service_uuid is None:
            return None
        row = await info.context.loaders.services.load(self.service_uuid)
        return Service.from_row(row) if row else None

    @strawberry.field(description="The name of the requested service.")
    async def service_name(self, info: Info) -> str | None:
        if self.service_uuid is None:
            return None
        row = await info.context.loaders.services.load(self.service_uuid)
        return row.name if row else None

    @strawberry.field(description="The signed-in client who asked; null for a public contact.")
    async def client(self, info: Info) -> User | None:
        if self.client_id is None:
            return None
        record = await info.context.loaders.users.load(self.client_id)
        return User.from_record(record) if record else None

    @strawberry.field(description="The task the request was converted into, when visible.")
    async def task(self, info: Info) -> Task | None:
        if self.task_id is None:
            return None
        row = await info.context.loaders.tasks.load(self.task_id)
        return Task.from_row(row) if row else None


@strawberry.type(description="The answer to a submitted service request.")
class ServiceRequestReceipt:
    submitted: bool
    service_request: ServiceRequest | None = strawberry.field(
        description="The request, for a signed-in requester; null for an anonymous visitor, "
        "who cannot read it back."
    )
