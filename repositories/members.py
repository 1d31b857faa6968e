"""Memberships of the context tenant, as an admin manages them.

Every change takes effect on the member's next request: the endpoint re-reads the membership's
role and status before running anything, so there is nothing to revoke here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Delete, delete, func, or_, select, text
from sqlalchemy.exc import IntegrityError

from app.context import Role
from app.errors import Conflict, NotFound
from repositories import pagination
from repositories.audit import AuditRepository
from repositories.base import TenantRepository
from repositories.models import TenantMembership, User
from repositories.pagination import Cursor, Page

ACTIVE = "active"
SUSPENDED = "suspended"

# Through the narrow SECURITY DEFINER function of revision 0003: the runtime role cannot read a
# user who is not yet a member of the context tenant, and this answers only with an id.
_USER_ID_BY_EMAIL = text("SELECT tenantgraph_user_id_by_email(:email)")
_FOREIGN_KEY_VIOLATION = "23503"
_CHECK_VIOLATION = "23514"

# Deliberately the same answer for "no such account" and "an account that cannot be added": the
# message never says whether the email is known to the platform (see `add`).
UNKNOWN_EMAIL = "No user with that email can be added"
NOT_A_MEMBER = "Member not found"
LAST_ADMIN = "This organization must keep at least one active admin"


@dataclass(frozen=True, slots=True)
class MemberFilter:
    roles: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    search: str | None = None


class MemberRepository(TenantRepository):
    """Memberships of the context tenant. Permission (STAFF reads, ADMIN writes) is checked by
    the caller; RLS lets the runtime role touch only the context tenant's rows anyway."""

    def _filtered(self, flt: MemberFilter) -> list[ColumnElement[bool]]:
        m = TenantMembership
        conditions: list[ColumnElement[bool]] = [m.tenant_id == self.tenant_id]
        if flt.roles:
            conditions.append(m.role.in_(flt.roles))
        if flt.statuses:
            conditions.append(m.status.in_(flt.statuses))
        if flt.search:
            escaped = flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            # users are visible to the runtime role exactly when they are members of this tenant
            emails = select(User.id).where(
                User.id == m.user_id, User.email.ilike(pattern, escape="\\")
            )
            conditions.append(or_(m.display_name.ilike(pattern, escape="\\"), emails.exists()))
        return conditions

    async def get(self, *, user_id: uuid.UUID) -> TenantMembership | None:
        """The membership of `user_id` in the context tenant, or None."""
        m = TenantMembership
        result = await self._execute(
            select(m).where(m.tenant_id == self.tenant_id, m.user_id == user_id)
        )
        return result.scalar_one_or_none()

    async def list(
        self, *, first: int, after: Cursor | None = None, flt: MemberFilter = MemberFilter()
    ) -> Page[TenantMembership]:
        """A page of memberships, longest-standing first, after the cursor."""
        m = TenantMembership
        conditions = self._filtered(flt)
        if after is not None:
            conditions.append(pagination.after(m.created_at, m.user_id, after, descending=False))
        result = await self._execute(
            select(m)
            .where(*conditions)
            .order_by(*pagination.order(m.created_at, m.user_id, descending=False))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.scalars()), first)

    async def count(self, *, flt: MemberFilter = MemberFilter()) -> int:
        """How many memberships match the filter."""
        result = await self._execute(
            select(func.count()).select_from(TenantMembership).where(*self._filtered(flt))
        )
        return int(result.scalar_one())

    async def add(
        self, *, email: str, role: Role, display_name: str | None = None
    ) -> TenantMembership:
        """Give an existing account a membership in the context tenant; audited.

        An unknown email is NOT_FOUND with the same message whatever the reason, so the error
        text adds nothing. That an admin can still tell "added" from "not found" is inherent in
        adding existing accounts by email; the lookup answers only inside a tenant context, only
        with an id, and only admins reach it.
        """
        found = await self._execute(_USER_ID_BY_EMAIL, {"email": email.strip()})
        user_id: uuid.UUID | None = found.scalar_one_or_none()
        if user_id is None:
            raise NotFound(UNKNOWN_EMAIL)
        if await self.get(user_id=user_id) is not None:
            raise Conflict("This user is already a member of this organization")
        membership = TenantMembership(
            tenant_id=self.tenant_id,
            user_id=user_id,
            role=role.value,
            status=ACTIVE,
            is_default=False,
            display_name=display_name,
        )
        self.session.add(membership)
        await self._flush()
        await self._refresh(membership)
        await self._audit("member.add", user_id, {"role": role.value, "display_name": display_name})
        return membership

    async def change_role(self, *, user_id: uuid.UUID, role: Role) -> TenantMembership:
        """Give a member another role; the last active admin cannot be demoted; audited."""
        membership = await self._require(user_id)
        if membership.role == role.value:
            return membership
        if role is not Role.ADMIN:
            await self._keep_an_admin(membership)
        before = membership.role
        membership.role = role.value
        return await self._save(membership, "member.role", {"role": _change(before, role.value)})

    async def set_status(self, *, user_id: uuid.UUID, suspended: bool) -> TenantMembership:
        """Suspend or reactivate a member; the last active admin cannot be suspended; audited."""
        membership = await self._require(user_id)
        status = SUSPENDED if suspended else ACTIVE
        if membership.status == status:
            return membership
        if suspended:
            await self._keep_an_admin(membership)
        before = membership.status
        membership.status = status
        action = "member.suspend" if suspended else "member.reactivate"
        return await self._save(membership, action, {"status": _change(before, status)})

    async def remove(self, *, user_id: uuid.UUID) -> None:
        """Delete a membership; CONFLICT for the last active admin, and for a member whose
        bookings must be kept (suspending keeps them); audited."""
        membership = await self._require(user_id)
        await self._keep_an_admin(membership)
        m = TenantMembership
        deleted = await self._serialised(
            lambda: self._delete_in_savepoint(
                delete(m).where(m.tenant_id == self.tenant_id, m.user_id == user_id)
            )
        )
        if not deleted:
            raise Conflict(
                "This member still has bookings or requests that must be kept; suspend the "
                "member instead"
            )
        self.session.expunge(membership)
        await self._audit(
            "member.remove", user_id, {"role": membership.role, "status": membership.status}
        )

    # --- helpers ------------------------------------------------------------------------------

    async def _delete_in_savepoint(self, statement: Delete) -> bool:
        """Run the DELETE in a savepoint, so that a foreign key's refusal leaves the transaction
        usable; False when a restricting foreign key refused it."""
        try:
            async with self.session.begin_nested():
                await self.session.execute(statement)
        except IntegrityError as exc:
            # a restricting key, or a rule a cleared reference would break
            if _sqlstate(exc) in (_FOREIGN_KEY_VIOLATION, _CHECK_VIOLATION):
                return False
            raise
        return True

    async def _require(self, user_id: uuid.UUID) -> TenantMembership:
        membership = await self.get(user_id=user_id)
        if membership is None:
            raise NotFound(NOT_A_MEMBER)
        return membership

    async def _keep_an_admin(self, membership: TenantMembership) -> None:
        """Refuse when `membership` is the tenant's only active admin. The admins' rows are locked
        first, so two admins demoting each other at once cannot both succeed."""
        if membership.role != Role.ADMIN.value or membership.status != ACTIVE:
            return
        m = TenantMembership
        admins = await self._execute(
            select(m.user_id)
            .where(m.tenant_id == self.tenant_id, m.role == Role.ADMIN.value, m.status == ACTIVE)
            .with_for_update()
        )
        if set(admins.scalars()) <= {membership.user_id}:
            raise Conflict(LAST_ADMIN)

    async def _save(
        self, membership: TenantMembership, action: str, changes: dict[str, Any]
    ) -> TenantMembership:
        await self._flush()
        await self._audit(action, membership.user_id, changes)
        return membership

    async def _audit(self, action: str, user_id: uuid.UUID, changes: dict[str, Any]) -> None:
        await AuditRepository(self.session, self.ctx).record(
            action=action, target_type="user", target_id=user_id, changes=changes
        )


def _change(before: Any, after: Any) -> dict[str, Any]:
    return {"from": before, "to": after}


def _sqlstate(exc: IntegrityError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "__cause__", None), "sqlstate", None
    )
