from __future__ import annotations

from datetime import datetime

import strawberry
import structlog

from repositories.service_requests import Contact, Conversion, ServiceRequestRepository
from schema.context import Info
from schema.ids import decode_id
from schema.permissions import IsTenantStaff
from schema.service_requests.types import (
    ServiceRequest,
    ServiceRequestReceipt,
    ServiceRequestStatus,
)
from schema.tasks.types import TaskPriority
from schema.work import inputs

log = structlog.get_logger("tenantgraph.service_requests")


@strawberry.input(
    description="A signed-in member asks as itself; an anonymous visitor of an organization's "
    "address must give a contact email."
)
class SubmitServiceRequestInput:
    description: str
    service_id: strawberry.ID | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None


@strawberry.input(description="The task made from a request; every field has a default.")
class ConvertServiceRequestInput:
    title: str | None = strawberry.field(
        default=None, description="Defaults to the first line of the request."
    )
    assignee_id: strawberry.ID | None = None
    priority: TaskPriority = TaskPriority.MEDIUM
    due_at: datetime | None = None


@strawberry.type
class ServiceRequestMutations:
    @strawberry.mutation(
        description="Ask for a service. Signed in: as the viewer. Anonymous (on an "
        "organization's own address only): with contact details, never linked to an account."
    )
    async def submit_service_request(
        self, info: Info, input: SubmitServiceRequestInput
    ) -> ServiceRequestReceipt:
        description = inputs.required_text(input.description, "description", inputs.MAX_DESCRIPTION)
        service_id = decode_id("Service", input.service_id) if input.service_id else None
        contact = Contact(
            name=inputs.optional_text(input.contact_name, "contactName", inputs.MAX_NAME),
            email=inputs.email(input.contact_email),
            phone=inputs.phone(input.contact_phone),
        )
        repo = info.context.repo(ServiceRequestRepository)
        if info.context.tenant.is_authenticated:
            row = await repo.submit(description=description, service_id=service_id, contact=contact)
            return ServiceRequestReceipt(
                submitted=True, service_request=ServiceRequest.from_row(row)
            )
        await repo.submit_public(description=description, service_id=service_id, contact=contact)
        log.info(
            "public service request submitted",
            tenant_id=str(info.context.tenant.public_tenant_id),
            with_service=service_id is not None,
        )
        return ServiceRequestReceipt(submitted=True, service_request=None)

    @strawberry.mutation(
        description="Move a request to another status (CONVERTED only by converting it).",
        permission_classes=[IsTenantStaff],
    )
    async def update_service_request_status(
        self, info: Info, id: strawberry.ID, status: ServiceRequestStatus
    ) -> ServiceRequest:
        row = await info.context.repo(ServiceRequestRepository).update_status(
            id=decode_id("ServiceRequest", id), status=status.value
        )
        return ServiceRequest.from_row(row)

    @strawberry.mutation(
        description="Make a task of a request and mark it CONVERTED, in one step; CONFLICT "
        "when it already was.",
        permission_classes=[IsTenantStaff],
    )
    async def convert_service_request_to_task(
        self, info: Info, id: strawberry.ID, input: ConvertServiceRequestInput | None = None
    ) -> ServiceRequest:
        given = input or ConvertServiceRequestInput()
        conversion = Conversion(
            title=inputs.optional_text(given.title, "title", inputs.MAX_TITLE),
            priority=given.priority.value,
            due_at=inputs.aware(given.due_at),
            assignee_id=decode_id("User", given.assignee_id) if given.assignee_id else None,
        )
        row = await info.context.repo(ServiceRequestRepository).convert(
            id=decode_id("ServiceRequest", id), conversion=conversion
        )
        return ServiceRequest.from_row(row)
