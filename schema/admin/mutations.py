from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.context import Role
from app.errors import BadUserInput
from app.hosts import HostKind, parse_host
from repositories.domains import DomainRepository
from repositories.members import MemberRepository
from repositories.settings import SettingsRepository
from schema.admin.types import (
    BookingSettings,
    CommunicationSettings,
    Domain,
    IntegrationSettings,
    Member,
    OrganizationSettings,
    SecuritySettings,
    Settings,
    settings_section,
)
from schema.auth.types import TenantRole
from schema.context import Info
from schema.ids import decode_id
from schema.permissions import IsTenantAdmin

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_EMAIL = 320
MAX_DISPLAY_NAME = 200
MAX_DOMAIN = 253


def _email(value: str) -> str:
    email = value.strip()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise BadUserInput("Not an email address")
    return email


def _display_name(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    name = value.strip()
    if len(name) > MAX_DISPLAY_NAME:
        raise BadUserInput(f"The display name must be at most {MAX_DISPLAY_NAME} characters long")
    return name


def _domain(value: str, base_domain: str) -> str:
    """Lower-cased, a hostname with at least two labels, no port, not an IP address, and not
    the platform's base domain or anything under it."""
    domain = value.strip().lower().rstrip(".")
    if ":" in domain or "." not in domain or len(domain) > MAX_DOMAIN:
        raise BadUserInput("Not a domain name such as portal.example.com")
    try:
        ipaddress.ip_address(domain)
    except ValueError:
        pass
    else:
        raise BadUserInput("An IP address cannot serve an organization; use a domain name")
    kind = parse_host(domain, base_domain).kind
    if kind in (HostKind.BASE, HostKind.SLUG) or domain.endswith("." + base_domain):
        raise BadUserInput("Domains under the platform's own domain cannot be added")
    if kind is not HostKind.DOMAIN:
        raise BadUserInput("Not a domain name such as portal.example.com")
    return domain


def _changes(input: object) -> dict[str, Any]:
    """The fields given in a settings input (column -> value); null means clear."""
    return {
        f.name: getattr(input, f.name)
        for f in dataclasses.fields(input)  # type: ignore[arg-type]
        if getattr(input, f.name) is not strawberry.UNSET
    }


_PARTIAL = "Only the fields given are changed; null clears an optional field."


@strawberry.input(description=_PARTIAL)
class OrganizationSettingsInput:
    display_name: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    locale: str | None = strawberry.UNSET


@strawberry.input(description=_PARTIAL)
class BookingSettingsInput:
    slot_minutes: int | None = strawberry.UNSET
    min_notice_hours: int | None = strawberry.UNSET
    max_advance_days: int | None = strawberry.UNSET
    cancellation_notice_hours: int | None = strawberry.UNSET
    require_confirmation: bool | None = strawberry.UNSET


@strawberry.input(description=_PARTIAL)
class IntegrationSettingsInput:
    calendar_provider: str | None = strawberry.UNSET
    accounting_provider: str | None = strawberry.UNSET
    webhook_url: str | None = strawberry.UNSET


@strawberry.input(description=_PARTIAL)
class CommunicationSettingsInput:
    sender_name: str | None = strawberry.UNSET
    reply_to_email: str | None = strawberry.UNSET
    reminders_enabled: bool | None = strawberry.UNSET
    reminder_hours_before: int | None = strawberry.UNSET


@strawberry.input(description=_PARTIAL)
class SecuritySettingsInput:
    session_ttl_minutes: int | None = strawberry.UNSET
    password_min_length: int | None = strawberry.UNSET
    mfa_required: bool | None = strawberry.UNSET
    allowed_email_domains: list[str] | None = strawberry.UNSET


async def _update(info: Info, section: str, input: object) -> Any:
    repo = info.context.repo(SettingsRepository)
    return settings_section(await repo.update(section=section, changes=_changes(input)))


@strawberry.type
class AdminMutations:
    # --- members ------------------------------------------------------------------------------

    @strawberry.mutation(
        description="Add an existing account to the active organization by email. An unknown "
        "email is NOT_FOUND, with a message that does not say whether the account exists.",
        permission_classes=[IsTenantAdmin],
    )
    async def add_member(
        self, info: Info, email: str, role: TenantRole, display_name: str | None = None
    ) -> Member:
        row = await info.context.repo(MemberRepository).add(
            email=_email(email), role=Role(role.value), display_name=_display_name(display_name)
        )
        return Member.from_row(row)

    @strawberry.mutation(
        description="Takes effect on the member's next request.", permission_classes=[IsTenantAdmin]
    )
    async def change_member_role(
        self, info: Info, user_id: strawberry.ID, role: TenantRole
    ) -> Member:
        row = await info.context.repo(MemberRepository).change_role(
            user_id=decode_id("User", user_id), role=Role(role.value)
        )
        return Member.from_row(row)

    @strawberry.mutation(
        description="The member's next request is refused (403 FORBIDDEN).",
        permission_classes=[IsTenantAdmin],
    )
    async def suspend_member(self, info: Info, user_id: strawberry.ID) -> Member:
        row = await info.context.repo(MemberRepository).set_status(
            user_id=decode_id("User", user_id), suspended=True
        )
        return Member.from_row(row)

    @strawberry.mutation(permission_classes=[IsTenantAdmin])
    async def reactivate_member(self, info: Info, user_id: strawberry.ID) -> Member:
        row = await info.context.repo(MemberRepository).set_status(
            user_id=decode_id("User", user_id), suspended=False
        )
        return Member.from_row(row)

    @strawberry.mutation(
        description="CONFLICT for the last active admin, and for a member with bookings "
        "(suspend instead).",
        permission_classes=[IsTenantAdmin],
    )
    async def remove_member(self, info: Info, user_id: strawberry.ID) -> bool:
        await info.context.repo(MemberRepository).remove(user_id=decode_id("User", user_id))
        return True

    # --- settings -----------------------------------------------------------------------------

    @strawberry.mutation(permission_classes=[IsTenantAdmin])
    async def update_organization_settings(
        self, info: Info, input: OrganizationSettingsInput
    ) -> OrganizationSettings:
        return await _update(info, "organization", input)  # type: ignore[no-any-return]

    @strawberry.mutation(permission_classes=[IsTenantAdmin])
    async def update_booking_settings(
        self, info: Info, input: BookingSettingsInput
    ) -> BookingSettings:
        return await _update(info, "booking", input)  # type: ignore[no-any-return]

    @strawberry.mutation(permission_classes=[IsTenantAdmin])
    async def update_integration_settings(
        self, info: Info, input: IntegrationSettingsInput
    ) -> IntegrationSettings:
        return await _update(info, "integration", input)  # type: ignore[no-any-return]

    @strawberry.mutation(permission_classes=[IsTenantAdmin])
    async def update_communication_settings(
        self, info: Info, input: CommunicationSettingsInput
    ) -> CommunicationSettings:
        return await _update(info, "communication", input)  # type: ignore[no-any-return]

    @strawberry.mutation(permission_classes=[IsTenantAdmin])
    async def update_security_settings(
        self, info: Info, input: SecuritySettingsInput
    ) -> SecuritySettings:
        return await _update(info, "security", input)  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="Validate a document from `exportSettings` (an object, or the same as a "
        "string) and write it into the active organization; nothing is written if any part is "
        "wrong.",
        permission_classes=[IsTenantAdmin],
    )
    async def import_settings(self, info: Info, document: JSON) -> Settings:
        await info.context.repo(SettingsRepository).import_document(document=document)
        return Settings()

    # --- domains ------------------------------------------------------------------------------

    @strawberry.mutation(
        description="Serve the active organization on a custom domain too (the host cache may "
        "take a few seconds to notice).",
        permission_classes=[IsTenantAdmin],
    )
    async def add_domain(self, info: Info, domain: str) -> Domain:
        name = _domain(domain, info.context.base_domain)
        return Domain.from_row(await info.context.repo(DomainRepository).add(domain=name))

    @strawberry.mutation(
        description="Stop serving a custom domain (cached hosts expire within the host cache's "
        "lifetime, 30 s by default).",
        permission_classes=[IsTenantAdmin],
    )
    async def remove_domain(self, info: Info, domain: str) -> bool:
        name = domain.strip().lower().rstrip(".")
        await info.context.repo(DomainRepository).remove(domain=name)
        return True
