from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from repositories.models import AuditLog, TenantDomain, TenantMembership
from repositories.models import HealthLog as HealthLogRow
from repositories.settings import SettingsRepository, SettingsValues
from schema.auth.types import TenantRole
from schema.context import Info
from schema.ids import encode_id
from schema.permissions import IsTenantStaff
from schema.users.types import User

# --- members ----------------------------------------------------------------------------------


@strawberry.enum
class MemberStatus(Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@strawberry.type(description="A person's membership in the active organization.")
class Member:
    role: TenantRole
    status: MemberStatus
    is_default: bool = strawberry.field(
        description="Whether this organization is the member's default at login."
    )
    display_name: str | None
    joined_at: datetime
    user_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: TenantMembership) -> Member:
        return cls(
            role=TenantRole(row.role),
            status=MemberStatus(row.status),
            is_default=row.is_default,
            display_name=row.display_name,
            joined_at=row.created_at,
            user_id=row.user_id,
        )

    @strawberry.field
    async def user(self, info: Info) -> User:
        record = await info.context.loaders.users.load(self.user_id)
        if record is None:  # the membership row was just read in this tenant
            raise LookupError("member without a visible user")
        return User.from_record(record)


# --- settings ---------------------------------------------------------------------------------


def _customized() -> Any:
    return strawberry.field(
        description="Whether the organization has its own values; otherwise every value is the "
        "platform default."
    )


@strawberry.type
class OrganizationSettings:
    display_name: str | None
    timezone: str = strawberry.field(description="An IANA time zone, e.g. Europe/London.")
    locale: str = strawberry.field(description="e.g. en or en-GB.")
    customized: bool = _customized()


@strawberry.type
class BookingSettings:
    slot_minutes: int
    min_notice_hours: int
    max_advance_days: int
    cancellation_notice_hours: int
    require_confirmation: bool
    customized: bool = _customized()


@strawberry.type
class IntegrationSettings:
    calendar_provider: str | None
    accounting_provider: str | None
    webhook_url: str | None
    customized: bool = _customized()


@strawberry.type
class CommunicationSettings:
    sender_name: str | None
    reply_to_email: str | None
    reminders_enabled: bool
    reminder_hours_before: int
    customized: bool = _customized()


@strawberry.type
class SecuritySettings:
    session_ttl_minutes: int
    password_min_length: int
    mfa_required: bool
    allowed_email_domains: list[str]
    customized: bool = _customized()


SECTION_TYPES: Mapping[str, type[Any]] = {
    "organization": OrganizationSettings,
    "booking": BookingSettings,
    "integration": IntegrationSettings,
    "communication": CommunicationSettings,
    "security": SecuritySettings,
}


def settings_section(values: SettingsValues) -> Any:
    """The GraphQL type of one section, from its effective values."""
    return SECTION_TYPES[values.section](**values.values, customized=values.customized)


@strawberry.type(
    description="The active organization's effective settings: its own values over the "
    "platform defaults, per field."
)
class Settings:
    @strawberry.field
    async def organization(self, info: Info) -> OrganizationSettings:
        return await _section(info, "organization")

    @strawberry.field
    async def booking(self, info: Info) -> BookingSettings:
        return await _section(info, "booking")

    @strawberry.field(
        description="Integration endpoints (a webhook URL often carries a secret): STAFF and "
        "ADMIN only.",
        permission_classes=[IsTenantStaff],
    )
    async def integration(self, info: Info) -> IntegrationSettings:
        return await _section(info, "integration")

    @strawberry.field
    async def communication(self, info: Info) -> CommunicationSettings:
        return await _section(info, "communication")

    @strawberry.field
    async def security(self, info: Info) -> SecuritySettings:
        return await _section(info, "security")


async def _section(info: Info, name: str) -> Any:
    return settings_section(await info.context.repo(SettingsRepository).get(section=name))


# --- domains ----------------------------------------------------------------------------------


@strawberry.type(description="A custom domain that serves the active organization.")
class Domain:
    domain: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: TenantDomain) -> Domain:
        return cls(domain=row.domain, created_at=row.created_at)


# --- audit and health -------------------------------------------------------------------------


def _type_name(target_type: str) -> str:
    """`service_request` -> `ServiceRequest`: the GraphQL type a target id is encoded as."""
    return "".join(part.capitalize() for part in target_type.split("_"))


@strawberry.type(description="One recorded change in the active organization.")
class AuditEntry:
    id: strawberry.ID
    action: str
    target_type: str | None
    target_id: strawberry.ID | None = strawberry.field(
        description="An opaque id of the changed object, or null."
    )
    request_id: str | None
    changes: JSON | None
    created_at: datetime
    actor_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: AuditLog) -> AuditEntry:
        target = None
        if row.target_id is not None and row.target_type:
            target = strawberry.ID(encode_id(_type_name(row.target_type), row.target_id))
        return cls(
            id=strawberry.ID(encode_id("AuditEntry", row.id)),
            action=row.action,
            target_type=row.target_type,
            target_id=target,
            request_id=row.request_id,
            changes=row.changes,
            created_at=row.created_at,
            actor_id=row.actor_id,
        )

    @strawberry.field(description="Who made the change; null if no longer a member.")
    async def actor(self, info: Info) -> User | None:
        if self.actor_id is None:
            return None
        record = await info.context.loaders.users.load(self.actor_id)
        return User.from_record(record) if record else None


@strawberry.enum
class HealthStatus(Enum):
    OK = "OK"
    WARNING = "WARNING"
    FAILED = "FAILED"


@strawberry.type(description="One health check of the active organization's integrations.")
class HealthLog:
    id: strawberry.ID
    check_name: str
    status: HealthStatus
    details: JSON | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: HealthLogRow) -> HealthLog:
        return cls(
            id=strawberry.ID(encode_id("HealthLog", row.id)),
            check_name=row.check_name,
            status=HealthStatus(row.status),
            details=row.details,
            created_at=row.created_at,
        )
