"""Binding a verified context to a database session: the settings RLS reads, and the flush
guard that refuses to write a tenant-owned row outside the context tenant."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.context import Role, TenantContext
from app.errors import TenantMismatch
from app.security_events import superadmin_bound
from repositories.models import TenantOwned
from repositories.records import SessionState

# session.info key: (tenant id, user id, state) read by the statement that bound the context
BOUND_STATE = "tenantgraph.bound_session_state"

# The first statement of every unit of work: the transaction-local settings RLS reads, then (in
# the same round trip, strictly after them) the state a signed-in user's token depends on. See
# migration 0008 for why this is a plpgsql function and not one plain SELECT.
SET_CONTEXT = text(
    "SELECT token_version, role, membership_status, tenant_status FROM tenantgraph_begin("
    ":tenant_id, :user_id, :is_superadmin, :public_tenant_id, :statement_timeout)"
)
# A backstop for any statement of a request or job: one runaway query cannot hold a pooled
# connection (and a CPU) for long. Transaction-local, so it also works behind PgBouncer.
STATEMENT_TIMEOUT = "30s"


def context_parameters(ctx: TenantContext) -> dict[str, str]:
    return {
        "tenant_id": str(ctx.tenant_id) if ctx.tenant_id else "",
        "user_id": str(ctx.user_id) if ctx.user_id else "",
        "is_superadmin": "true" if ctx.is_superadmin else "false",
        "public_tenant_id": str(ctx.public_tenant_id) if ctx.public_tenant_id else "",
        "statement_timeout": STATEMENT_TIMEOUT,
    }


async def apply_context(session: AsyncSession, ctx: TenantContext) -> SessionState | None:
    """Bind `ctx` to the session's transaction with transaction-local settings (`set_config(...,
    true)`; never plain SET, which would outlive the transaction on a pooled connection).

    With a user, the same statement reads the user's session state under the new settings; it
    is returned and kept for `AuthRepository.session_state` (None: no user, or the user is gone).
    """
    # the tenant rows may be written in: the context's (a signed-in member's, or a background
    # job's, which names a tenant and no user), or for an anonymous visitor the public tenant of
    # the host (RLS then allows only the public submissions)
    session.info["tenant_id"] = (
        ctx.tenant_id if ctx.user_id or ctx.tenant_id else ctx.public_tenant_id
    )
    row = (await session.execute(SET_CONTEXT, context_parameters(ctx))).first()
    if ctx.is_superadmin:
        superadmin_bound(ctx)
    state = None
    if row is not None:
        state = SessionState(
            token_version=row.token_version,
            role=Role(row.role) if row.role else None,
            membership_active=row.membership_status == "active",
            tenant_active=row.tenant_status == "active",
        )
    session.info[BOUND_STATE] = (ctx.tenant_id, ctx.user_id, state) if ctx.user_id else None
    return state


@event.listens_for(Session, "before_flush")
def _refuse_cross_tenant_writes(session: Session, _flush_context: Any, _instances: Any) -> None:
    """In a session bound to a context, every tenant-owned row inserted, changed or deleted must
    belong to the context tenant; new rows without a tenant are stamped with it."""
    if "tenant_id" not in session.info:
        return
    tenant_id: uuid.UUID | None = session.info["tenant_id"]
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, TenantOwned):
            continue
        if obj.tenant_id is None and obj in session.new and tenant_id is not None:
            obj.tenant_id = tenant_id
        if tenant_id is None or obj.tenant_id != tenant_id:
            raise TenantMismatch(
                f"refused a write to {type(obj).__tablename__} outside the context tenant"
            )
