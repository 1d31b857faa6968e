"""Who may call what. Each permission raises the API error its failure means."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from app.context import Role
from app.errors import Forbidden, Unauthenticated
from schema.context import Info


class IsSignedIn(BasePermission):
    """Any session: an organization's, or a super-admin's platform session."""

    message = "Authentication required"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if not info.context.tenant.is_authenticated:
            raise Unauthenticated()
        return True


class IsAuthenticated(BasePermission):
    """A session in an organization (a platform session has none to act in)."""

    message = "Authentication required"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ctx = info.context.tenant
        if not ctx.is_authenticated:
            raise Unauthenticated()
        if ctx.tenant_id is None:
            raise Forbidden("Sign in to an organization to do this")
        return True


class IsSuperAdmin(BasePermission):
    """A super-admin's platform session; everyone else, signed in or not, is FORBIDDEN."""

    message = "Only a platform super-admin may do this"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if not info.context.tenant.is_platform_session:
            raise Forbidden(self.message)
        return True


class _HasRole(BasePermission):
    roles: frozenset[Role] = frozenset()
    message = "You do not have permission to do this"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ctx = info.context.tenant
        if not ctx.is_authenticated:
            raise Unauthenticated()
        if ctx.role not in self.roles:
            raise Forbidden()
        return True


class IsTenantStaff(_HasRole):
    """STAFF or ADMIN of the active tenant."""

    roles = frozenset({Role.STAFF, Role.ADMIN})


class IsTenantAdmin(_HasRole):
    roles = frozenset({Role.ADMIN})
