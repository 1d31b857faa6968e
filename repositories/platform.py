"""Operator data access for the CLI (creating tenants, users, memberships; demo data).

Runs on the *owner* connection, never in a request: the API process has no owner connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import Role
from app.errors import BadUserInput, Conflict, NotFound
from app.names import check_slug
from repositories.models import Base, Tenant, TenantMembership, User
from repositories.records import TenantRecord


@dataclass(frozen=True, slots=True)
class MemberChange:
    created: bool
    status: str


class PlatformRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_tenant(self, *, slug: str) -> TenantRecord | None:
        """A tenant by slug, whatever its status."""
        row = (
            await self.session.execute(
                select(Tenant.id, Tenant.slug, Tenant.name).where(Tenant.slug == slug)
            )
        ).first()
        return TenantRecord(row.id, row.slug, row.name) if row else None

    async def create_tenant(self, *, slug: str, name: str) -> TenantRecord:
        """A new active tenant; CONFLICT when the slug is taken."""
        check_slug(slug)
        if not name.strip():
            raise BadUserInput("a tenant needs a name")
        try:
            async with self.session.begin_nested():
                row = (
                    await self.session.execute(
                        insert(Tenant)
                        .values(slug=slug, name=name)
                        .returning(Tenant.id, Tenant.slug, Tenant.name)
                    )
                ).one()
        except IntegrityError as exc:
            raise _conflict_or_input(exc, f"a tenant with slug {slug!r} already exists") from None
        return TenantRecord(row.id, row.slug, row.name)

    async def list_active_tenants(self) -> list[TenantRecord]:
        """Every active tenant, by slug: the one cross-tenant read of the job runner."""
        rows = await self.session.execute(
            select(Tenant.id, Tenant.slug, Tenant.name)
            .where(Tenant.status == "active")
            .order_by(Tenant.slug)
        )
        return [TenantRecord(r.id, r.slug, r.name) for r in rows]

    async def get_user_id(self, *, email: str) -> uuid.UUID | None:
        """A user id by email, compared case-insensitively."""
        return await self.session.scalar(
            select(User.id).where(func.lower(User.email) == email.strip().lower())
        )

    async def create_user(
        self, *, email: str, password_hash: str, is_superadmin: bool = False
    ) -> uuid.UUID:
        """A new user; CONFLICT when the email is taken (in any letter case)."""
        try:
            async with self.session.begin_nested():
                return (
                    await self.session.execute(
                        insert(User)
                        .values(
                            email=email.strip(),
                            password_hash=password_hash,
                            is_superadmin=is_superadmin,
                        )
                        .returning(User.id)
                    )
                ).scalar_one()
        except IntegrityError as exc:
            raise _conflict_or_input(exc, f"a user with email {email!r} already exists") from None

    async def add_member(
        self,
        *,
        slug: str,
        email: str,
        role: Role,
        is_default: bool = False,
        display_name: str | None = None,
        keep_existing: bool = False,
    ) -> MemberChange:
        """Give the user a membership in the tenant, or change the role of an existing one
        (its status is left alone: a suspended member stays suspended). With `keep_existing`,
        an existing membership is not touched at all (idempotent demo data)."""
        tenant = await self.get_tenant(slug=slug)
        if tenant is None:
            raise NotFound(f"no tenant with slug {slug!r}")
        user_id = await self.get_user_id(email=email)
        if user_id is None:
            raise NotFound(f"no user with email {email!r}")
        m = TenantMembership
        existing = (
            await self.session.execute(
                select(m.status).where(m.tenant_id == tenant.id, m.user_id == user_id)
            )
        ).scalar_one_or_none()
        if existing is not None and keep_existing:
            return MemberChange(created=False, status=existing)
        if is_default:
            await self.session.execute(
                update(m)
                .where(m.user_id == user_id, m.tenant_id != tenant.id)
                .values(is_default=False)
            )
        if existing is None:
            await self.session.execute(
                insert(m).values(
                    tenant_id=tenant.id,
                    user_id=user_id,
                    role=role.value,
                    is_default=is_default,
                    display_name=display_name,
                )
            )
            return MemberChange(created=True, status="active")
        changes: dict[str, Any] = {"role": role.value}
        if is_default:
            changes["is_default"] = True
        await self.session.execute(
            update(m).where(m.tenant_id == tenant.id, m.user_id == user_id).values(**changes)
        )
        return MemberChange(created=False, status=existing)

    async def insert_missing(self, model: type[Base], rows: Sequence[dict[str, Any]]) -> int:
        """Insert rows whose key is not there yet (idempotent demo data); how many were new."""
        if not rows:
            return 0
        result = await self.session.execute(
            insert(model)
            .values(list(rows))
            .on_conflict_do_nothing()
            .returning(*model.__table__.primary_key.columns)
        )
        return len(result.all())


def _conflict_or_input(exc: IntegrityError, conflict: str) -> Exception:
    if getattr(exc.orig, "sqlstate", None) == "23505":
        return Conflict(conflict)
    constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    return BadUserInput(f"the values break the rule {constraint or 'of the table'}")
