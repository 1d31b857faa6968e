"""SQLAlchemy models. The migrations in `migrations/versions` are the source of truth for the
database; these mirror them for typed access (a test compares the two)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        uuid.UUID: UUID(as_uuid=True),
    }


def _uuid_pk() -> Any:
    return mapped_column(UUID(as_uuid=True), server_default=text("gen_random_uuid()"))


def _created_at() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class TenantOwned:
    """Marker: rows that belong to exactly one tenant. Such tables have `tenant_id` leading every
    key, RLS enabled and forced, and go through a TenantRepository."""

    tenant_id: Mapped[uuid.UUID]


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    slug: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="active")
    created_at: Mapped[datetime] = _created_at()


class TenantDomain(Base):
    __tablename__ = "tenant_domains"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "domain"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = _created_at()


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    email: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)
    token_version: Mapped[int] = mapped_column(Integer, server_default="1")
    is_superadmin: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = _created_at()


class TenantMembership(TenantOwned, Base):
    __tablename__ = "tenant_memberships"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "user_id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(Text)
    is_default: Mapped[bool] = mapped_column(Boolean, server_default="false")
    status: Mapped[str] = mapped_column(Text, server_default="active")
    display_name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class Service(TenantOwned, Base):
    __tablename__ = "services"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[uuid.UUID] = _uuid_pk()
    slug: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    price_cents: Mapped[int] = mapped_column(Integer, server_default="0")
    duration_minutes: Mapped[int] = mapped_column(Integer, server_default="60")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = _created_at()


class Task(TenantOwned, Base):
    __tablename__ = "tasks"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "assignee_id"],
            ["tenant_memberships.tenant_id", "tenant_memberships.user_id"],
        ),
        ForeignKeyConstraint(
            ["tenant_id", "created_by_id"],
            ["tenant_memberships.tenant_id", "tenant_memberships.user_id"],
        ),
        ForeignKeyConstraint(["tenant_id", "service_id"], ["services.tenant_id", "services.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[uuid.UUID] = _uuid_pk()
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="TODO")
    priority: Mapped[str] = mapped_column(Text, server_default="MEDIUM")
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    service_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()
    # when the task last became DONE, NULL while it is not: kept by a trigger (revision 0009)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditLog(TenantOwned, Base):
    __tablename__ = "audit_logs"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[uuid.UUID] = _uuid_pk()
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(Text)
    target_type: Mapped[str | None] = mapped_column(Text)
    target_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    request_id: Mapped[str | None] = mapped_column(Text)
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created_at()


class Booking(TenantOwned, Base):
    __tablename__ = "bookings"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "service_id"], ["services.tenant_id", "services.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["tenant_memberships.tenant_id", "tenant_memberships.user_id"],
        ),
        ForeignKeyConstraint(
            ["tenant_id", "staff_id"],
            ["tenant_memberships.tenant_id", "tenant_memberships.user_id"],
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[uuid.UUID] = _uuid_pk()
    service_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    staff_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text, server_default="REQUESTED")
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class ServiceRequest(TenantOwned, Base):
    __tablename__ = "service_requests"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "service_id"], ["services.tenant_id", "services.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["tenant_memberships.tenant_id", "tenant_memberships.user_id"],
        ),
        ForeignKeyConstraint(["tenant_id", "task_id"], ["tasks.tenant_id", "tasks.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[uuid.UUID] = _uuid_pk()
    service_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    client_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    contact_name: Mapped[str | None] = mapped_column(Text)
    contact_email: Mapped[str | None] = mapped_column(Text)
    contact_phone: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="NEW")
    task_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class AvailabilitySlot(TenantOwned, Base):
    __tablename__ = "availability_slots"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "staff_id"],
            ["tenant_memberships.tenant_id", "tenant_memberships.user_id"],
        ),
        ForeignKeyConstraint(["tenant_id", "service_id"], ["services.tenant_id", "services.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[uuid.UUID] = _uuid_pk()
    staff_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    service_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = _created_at()


class TaskTemplate(TenantOwned, Base):
    __tablename__ = "task_templates"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(Text, server_default="MEDIUM")
    due_in_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created_at()


class ComplianceRecord(TenantOwned, Base):
    __tablename__ = "compliance_records"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "task_id"], ["tasks.tenant_id", "tasks.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "created_by_id"],
            ["tenant_memberships.tenant_id", "tenant_memberships.user_id"],
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[uuid.UUID] = _uuid_pk()
    task_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    title: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="PENDING")
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notes: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class HealthLog(TenantOwned, Base):
    __tablename__ = "health_logs"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[uuid.UUID] = _uuid_pk()
    check_name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created_at()


class Notification(TenantOwned, Base):
    """A reminder for one member about one task, booking or compliance record (revision 0006);
    `(tenant_id, user_id, dedupe_key)` is unique, which makes the jobs that write them
    idempotent."""

    __tablename__ = "notifications"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["tenant_memberships.tenant_id", "tenant_memberships.user_id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "task_id"], ["tasks.tenant_id", "tasks.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "booking_id"], ["bookings.tenant_id", "bookings.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "compliance_record_id"],
            ["compliance_records.tenant_id", "compliance_records.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("tenant_id", "user_id", "dedupe_key"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(Text)
    task_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    booking_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    compliance_record_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    dedupe_key: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()


class TenantSettings:
    """A settings singleton. `tenant_id IS NULL` is the one global default row; a tenant has at
    most one row of its own; reads merge the tenant's row over the global one."""

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OrganizationSettings(TenantSettings, Base):
    __tablename__ = "organization_settings"

    display_name: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text, server_default="UTC")
    locale: Mapped[str] = mapped_column(Text, server_default="en")


class BookingSettings(TenantSettings, Base):
    __tablename__ = "booking_settings"

    slot_minutes: Mapped[int] = mapped_column(Integer, server_default="30")
    min_notice_hours: Mapped[int] = mapped_column(Integer, server_default="24")
    max_advance_days: Mapped[int] = mapped_column(Integer, server_default="90")
    cancellation_notice_hours: Mapped[int] = mapped_column(Integer, server_default="24")
    require_confirmation: Mapped[bool] = mapped_column(Boolean, server_default="true")


class IntegrationSettings(TenantSettings, Base):
    __tablename__ = "integration_settings"

    calendar_provider: Mapped[str | None] = mapped_column(Text)
    accounting_provider: Mapped[str | None] = mapped_column(Text)
    webhook_url: Mapped[str | None] = mapped_column(Text)


class CommunicationSettings(TenantSettings, Base):
    __tablename__ = "communication_settings"

    sender_name: Mapped[str | None] = mapped_column(Text)
    reply_to_email: Mapped[str | None] = mapped_column(Text)
    reminders_enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    reminder_hours_before: Mapped[int] = mapped_column(Integer, server_default="24")


class SecuritySettings(TenantSettings, Base):
    __tablename__ = "security_settings"

    session_ttl_minutes: Mapped[int] = mapped_column(Integer, server_default="60")
    password_min_length: Mapped[int] = mapped_column(Integer, server_default="12")
    mfa_required: Mapped[bool] = mapped_column(Boolean, server_default="false")
    allowed_email_domains: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")


class PlatformAuditLog(Base):
    """What super-admins did on the platform. Global (no tenant), append-only, and out of the
    runtime role's reach: it holds no privilege on it; the platform functions of revision 0007
    write it."""

    __tablename__ = "platform_audit_logs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    actor_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    action: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = _created_at()


TENANT_OWNED_TABLES: tuple[str, ...] = tuple(
    sorted(
        mapper.class_.__tablename__
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, TenantOwned)
    )
)
"""Every table whose rows belong to one tenant: RLS enabled and forced is checked for each."""

SETTINGS_TABLES: tuple[str, ...] = tuple(
    sorted(
        mapper.class_.__tablename__
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, TenantSettings)
    )
)
"""Settings singletons: a global default row (tenant_id NULL) and at most one row per tenant."""

# Global tables also live behind RLS (a user sees itself and the people of its tenant; a tenant is
# visible to its members), but their rows are not owned by one tenant.
RLS_TABLES: tuple[str, ...] = (
    *TENANT_OWNED_TABLES,
    *SETTINGS_TABLES,
    "tenant_domains",
    "tenants",
    "users",
)

PRIVATE_TABLES: tuple[str, ...] = ("platform_audit_logs",)
"""Global tables the runtime role holds no privilege on at all (so no policy is needed)."""
