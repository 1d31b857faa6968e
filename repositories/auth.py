"""Identity: the lookups before anyone is known, and the state a token depends on."""

from __future__ import annotations

import structlog
from sqlalchemy import func, select, text, update

from app.context import Role, TenantContext
from repositories.base import Repository
from repositories.models import Tenant, TenantMembership, User
from repositories.records import (
    LoginRecord,
    MembershipRecord,
    SessionState,
    TenantRecord,
    UserRecord,
)
from repositories.session import BOUND_STATE, apply_context

_LOGIN_LOOKUP = text(
    "SELECT id, password_hash, token_version FROM tenantgraph_login_lookup(:email)"
)
_RESOLVE_TENANT = text("SELECT id, slug, name FROM tenantgraph_resolve_tenant(:slug, :domain)")


class AuthRepository(Repository):
    """Works on the context's *user*; the tenant it may read is whatever RLS lets that user see."""

    async def login_lookup(self, *, email: str) -> LoginRecord | None:
        """The account behind an email, through the narrow SECURITY DEFINER lookup."""
        row = (await self._execute(_LOGIN_LOOKUP, {"email": email})).first()
        return LoginRecord(row.id, row.password_hash, row.token_version) if row else None

    async def resolve_tenant(
        self, *, slug: str | None = None, domain: str | None = None
    ) -> TenantRecord | None:
        """An active tenant by its slug or one of its custom domains."""
        row = (await self._execute(_RESOLVE_TENANT, {"slug": slug, "domain": domain})).first()
        return TenantRecord(row.id, row.slug, row.name) if row else None

    async def bind(self, ctx: TenantContext) -> AuthRepository:
        """Switch the transaction to a newly verified identity (after a password check). The
        lines logged meanwhile (the audit row of a sign-in, say) name that identity too."""
        await self._serialised(lambda: apply_context(self.session, ctx))
        structlog.contextvars.bind_contextvars(
            tenant_id=str(ctx.tenant_id) if ctx.tenant_id else None,
            user_id=str(ctx.user_id) if ctx.user_id else None,
        )
        return AuthRepository(self.session, ctx)

    async def session_state(self) -> SessionState | None:
        """The user's token version and its membership in the context tenant, or None when the
        user no longer exists.

        The statement that bound this context to the transaction has read it already (same
        transaction, same RLS context): that answer is used once, without another round trip.
        Any later call, or one for another identity, reads it again."""
        bound = self.session.info.pop(BOUND_STATE, None)
        if bound is not None and bound[:2] == (self.ctx.tenant_id, self.ctx.user_id):
            return bound[2]
        m = TenantMembership
        row = (
            await self._execute(
                select(
                    User.token_version,
                    m.role,
                    m.status.label("membership_status"),
                    select(Tenant.status)
                    .where(Tenant.id == self.ctx.tenant_id)
                    .scalar_subquery()
                    .label("tenant_status"),
                )
                .select_from(User)
                .outerjoin(m, (m.user_id == User.id) & (m.tenant_id == self.ctx.tenant_id))
                .where(User.id == self.ctx.user_id)
            )
        ).first()
        if row is None:
            return None
        return SessionState(
            token_version=row.token_version,
            role=Role(row.role) if row.role else None,
            membership_active=row.membership_status == "active",
            tenant_active=row.tenant_status == "active",
        )

    async def platform_state(self) -> tuple[int, bool] | None:
        """The context user's token version and whether it is (still) a super-admin, or None
        when the user no longer exists."""
        row = (
            await self._execute(
                select(User.token_version, User.is_superadmin).where(User.id == self.ctx.user_id)
            )
        ).first()
        return (row.token_version, row.is_superadmin) if row else None

    async def own_account(self) -> UserRecord | None:
        """The context user's own account (a user always sees itself)."""
        row = (
            await self._execute(select(User.id, User.email).where(User.id == self.ctx.user_id))
        ).first()
        return UserRecord(row.id, row.email, None) if row else None

    async def memberships(self) -> list[MembershipRecord]:
        """The user's active memberships in active tenants, default first, then by name."""
        m = TenantMembership
        rows = await self._execute(
            select(m.role, m.is_default, Tenant.id, Tenant.slug, Tenant.name)
            .join(Tenant, Tenant.id == m.tenant_id)
            .where(m.user_id == self.ctx.user_id, m.status == "active", Tenant.status == "active")
            .order_by(m.is_default.desc(), func.lower(Tenant.name))
        )
        return [
            MembershipRecord(TenantRecord(r.id, r.slug, r.name), Role(r.role), r.is_default)
            for r in rows
        ]

    async def bump_token_version(self) -> int:
        """Invalidate every token issued so far to the context user."""
        self.session.info.pop(BOUND_STATE, None)  # what the transaction began with is stale now
        result = await self._execute(
            update(User)
            .where(User.id == self.ctx.user_id)
            .values(token_version=User.token_version + 1)
            .returning(User.token_version)
        )
        return int(result.scalar_one())
