"""Service requests: from a signed-in client of the tenant, or from an anonymous visitor of the
tenant's host (the public path, which may insert a NEW request and read nothing back)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select

from app.errors import BadUserInput, Conflict, NotFound
from repositories import pagination
from repositories.audit import AuditRepository
from repositories.base import TenantRepository
from repositories.models import Service, ServiceRequest
from repositories.pagination import Cursor, Page
from repositories.tasks import TaskRepository
from repositories.users import UserRepository

STATUSES = ("NEW", "IN_REVIEW", "CONVERTED", "REJECTED", "CLOSED")
CONVERTED = "CONVERTED"
MAX_TITLE = 200


@dataclass(frozen=True, slots=True)
class ServiceRequestFilter:
    statuses: tuple[str, ...] = ()
    client_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """How to reach whoever asked (all optional for a signed-in client)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    """What the task made from a request looks like; every field has a default."""

    title: str | None = None
    priority: str = "MEDIUM"
    due_at: datetime | None = None
    assignee_id: uuid.UUID | None = None


class ServiceRequestRepository(TenantRepository):
    """Service requests of the context tenant. A CLIENT sees only the requests it submitted."""

    def _visible(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [ServiceRequest.tenant_id == self.tenant_id]
        if self.is_client:
            conditions.append(ServiceRequest.client_id == self.user_id)
        return conditions

    def _filtered(self, flt: ServiceRequestFilter) -> list[ColumnElement[bool]]:
        conditions = self._visible()
        if flt.statuses:
            conditions.append(ServiceRequest.status.in_(flt.statuses))
        if flt.client_id is not None:
            conditions.append(ServiceRequest.client_id == flt.client_id)
        if flt.service_id is not None:
            conditions.append(ServiceRequest.service_id == flt.service_id)
        return conditions

    async def get(self, *, id: uuid.UUID) -> ServiceRequest | None:
        """One visible request, or None (another tenant's request is simply not there)."""
        result = await self._execute(
            select(ServiceRequest).where(ServiceRequest.id == id, *self._visible())
        )
        return result.scalar_one_or_none()

    async def list(
        self,
        *,
        first: int,
        after: Cursor | None = None,
        flt: ServiceRequestFilter = ServiceRequestFilter(),
    ) -> Page[ServiceRequest]:
        """A page of visible requests, newest first, after the cursor."""
        conditions = self._filtered(flt)
        sr = ServiceRequest
        if after is not None:
            conditions.append(pagination.after(sr.created_at, sr.id, after, descending=True))
        result = await self._execute(
            select(sr)
            .where(*conditions)
            .order_by(*pagination.order(sr.created_at, sr.id, descending=True))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.scalars()), first)

    async def count(self, *, flt: ServiceRequestFilter = ServiceRequestFilter()) -> int:
        """How many visible requests match the filter."""
        result = await self._execute(
            select(func.count()).select_from(ServiceRequest).where(*self._filtered(flt))
        )
        return int(result.scalar_one())

    def mine(self) -> ServiceRequestFilter:
        """The filter for the requests the context user submitted (whatever its role)."""
        return ServiceRequestFilter(client_id=self.user_id)

    async def _check_service(self, tenant_id: uuid.UUID, service_id: uuid.UUID | None) -> None:
        if service_id is None:
            return
        found = await self._execute(
            select(Service.id).where(
                Service.tenant_id == tenant_id, Service.id == service_id, Service.active
            )
        )
        if found.first() is None:
            raise BadUserInput("The service does not exist or is not offered")

    async def submit(
        self, *, description: str, service_id: uuid.UUID | None, contact: Contact
    ) -> ServiceRequest:
        """A NEW request from the context user (its client); audited. The user's email and name
        are kept as the contact, so the request still says who asked if the membership is
        removed later (which clears the client link)."""
        await self._check_service(self.tenant_id, service_id)
        me = (await UserRepository(self.session, self.ctx).get_many(ids=[self.user_id])).get(
            self.user_id
        )
        request = ServiceRequest(
            tenant_id=self.tenant_id,
            id=uuid.uuid4(),
            service_id=service_id,
            client_id=self.user_id,
            contact_name=contact.name or (me.display_name if me else None),
            contact_email=contact.email or (me.email if me else None),
            contact_phone=contact.phone,
            description=description,
            status="NEW",
        )
        self.session.add(request)
        await self._flush()
        await self._refresh(request)
        await AuditRepository(self.session, self.ctx).record(
            action="service_request.submit",
            target_type="service_request",
            target_id=request.id,
            changes={"service_id": _str(service_id), "client_id": str(self.user_id)},
        )
        return request

    async def submit_public(
        self, *, description: str, service_id: uuid.UUID | None, contact: Contact
    ) -> None:
        """A NEW request from an anonymous visitor of the host's tenant, with contact details
        only: never linked to an account, even one with that email. Nothing is read back (the
        database allows this path to insert, not to select); its audit row is the one the
        public path may write."""
        tenant_id = self.ctx.public_tenant_id
        if tenant_id is None or self.ctx.user_id is not None:
            raise BadUserInput("Submit the request on the organization's own address")
        if contact.email is None:
            raise BadUserInput("A contact email is required")
        await self._check_service(tenant_id, service_id)
        # A plain INSERT without RETURNING: RETURNING would need a read policy it does not have.
        request_id = uuid.uuid4()
        await self._execute(
            insert(ServiceRequest).values(
                tenant_id=tenant_id,
                id=request_id,
                service_id=service_id,
                client_id=None,
                contact_name=contact.name,
                contact_email=contact.email,
                contact_phone=contact.phone,
                description=description,
                status="NEW",
                task_id=None,
            )
        )
        await AuditRepository(self.session, self.ctx).record_public_submission(
            service_request_id=request_id
        )

    async def _get_for_update(self, id: uuid.UUID) -> ServiceRequest:
        result = await self._execute(
            select(ServiceRequest)
            .where(ServiceRequest.id == id, *self._visible())
            .with_for_update()
        )
        request: ServiceRequest | None = result.scalar_one_or_none()
        if request is None:
            raise NotFound("Service request not found")
        return request

    async def update_status(self, *, id: uuid.UUID, status: str) -> ServiceRequest:
        """Move a visible request to `status` (not CONVERTED: converting makes a task); a
        converted request keeps its status. Audited."""
        if status not in STATUSES:
            raise BadUserInput("Unknown status")
        if status == CONVERTED:
            raise BadUserInput("Convert the request into a task to mark it CONVERTED")
        request = await self._get_for_update(id)
        if request.status == CONVERTED:
            raise Conflict("The service request was already converted into a task")
        before = request.status
        request.status = status
        request.updated_at = func.now()
        await self._flush()
        await self._refresh(request)
        await AuditRepository(self.session, self.ctx).record(
            action="service_request.update_status",
            target_type="service_request",
            target_id=request.id,
            changes={"status": {"from": before, "to": status}} if before != status else {},
        )
        return request

    async def convert(self, *, id: uuid.UUID, conversion: Conversion) -> ServiceRequest:
        """Make a task of a visible request, in the same transaction, and mark the request
        CONVERTED; CONFLICT when it already was. Audited (the task's creation too)."""
        request = await self._get_for_update(id)
        if request.status == CONVERTED or request.task_id is not None:
            raise Conflict("The service request was already converted into a task")
        task = await TaskRepository(self.session, self.ctx).create(
            title=conversion.title or _default_title(request.description),
            description=_task_description(request),
            priority=conversion.priority,
            due_at=conversion.due_at,
            assignee_id=conversion.assignee_id,
            service_id=request.service_id,
            source={"service_request_id": str(request.id)},
        )
        before = request.status
        request.task_id = task.id
        request.status = CONVERTED
        request.updated_at = func.now()
        await self._flush()
        await self._refresh(request)
        await AuditRepository(self.session, self.ctx).record(
            action="service_request.convert",
            target_type="service_request",
            target_id=request.id,
            changes={"status": {"from": before, "to": CONVERTED}, "task_id": str(task.id)},
        )
        return request


def _default_title(description: str) -> str:
    first_line = description.strip().splitlines()[0].strip()
    title = f"Service request: {first_line}"
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"


def _task_description(request: ServiceRequest) -> str:
    contact = ", ".join(
        part
        for part in (request.contact_name, request.contact_email, request.contact_phone)
        if part
    )
    return f"{request.description}\n\nContact: {contact}" if contact else request.description


def _str(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value
