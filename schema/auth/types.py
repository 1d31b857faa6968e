from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from app.context import Role, TenantContext
from repositories.auth import AuthRepository
from repositories.users import UserRepository
from schema.context import Info
from schema.users.types import Tenant, User


@strawberry.enum
class TenantRole(Enum):
    ADMIN = "ADMIN"
    STAFF = "STAFF"
    CLIENT = "CLIENT"

    @classmethod
    def of(cls, role: Role) -> TenantRole:
        return cls(role.value)


@strawberry.type
class Membership:
    tenant: Tenant
    role: TenantRole
    is_default: bool


@strawberry.type(description="The signed-in user in its active organization.")
class Viewer:
    user: User
    active_tenant: Tenant
    role: TenantRole
    memberships: list[Membership]


@strawberry.type
class AuthPayload:
    token: str
    expires_at: datetime
    viewer: Viewer


async def load_viewer(info: Info, ctx: TenantContext) -> Viewer:
    """The viewer of `ctx`, read under that context (which may differ from the request's, right
    after a login or a tenant switch)."""
    assert ctx.user_id is not None
    assert ctx.role is not None
    session = info.context.session
    memberships = await AuthRepository(session, ctx).memberships()
    user = (await UserRepository(session, ctx).get_many(ids=[ctx.user_id]))[ctx.user_id]
    active = next(m.tenant for m in memberships if m.tenant.id == ctx.tenant_id)
    return Viewer(
        user=User.from_record(user),
        active_tenant=Tenant.from_record(active),
        role=TenantRole.of(ctx.role),
        memberships=[
            Membership(
                tenant=Tenant.from_record(m.tenant),
                role=TenantRole.of(m.role),
                is_default=m.is_default,
            )
            for m in memberships
        ],
    )
