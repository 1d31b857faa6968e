"""Binding a verified context to a database session: the settings RLS reads, and the flush
guard that refuses to write a tenant-owned row outside the context tenant."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.context import TenantContext
from app.errors import TenantMismatch
from app.security_events import superadmin_bound
from repositories.models import TenantOwned

SET_CONTEXT = text(
    "SELECT set_config('app.current_tenant_id', :tenant_id, true),"
    " set_config('app.current_user_id', :user_id, true),"
    " set_config('app.is_superadmin', :is_superadmin, true),"
    " set_config('app.public_tenant_id', :public_tenant_id, true),"
    " set_config('statement_timeout', :statement_timeout, true)"
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


async def apply_context(session: AsyncSession, ctx: TenantContext) -> None:
    """Bind `ctx` to the session's transaction with transaction-local settings (`set_config(...,
    true)`; never plain SET, which would outlive the transaction on a pooled connection)."""
    # the tenant rows may be written in: the context's (a signed-in member's, or a background
    # job's, which names a tenant and no user), or for an anonymous visitor the public tenant of
    # the host (RLS then allows only the public submissions)
    session.info["tenant_id"] = (
        ctx.tenant_id if ctx.user_id or ctx.tenant_id else ctx.public_tenant_id
    )
    await session.execute(SET_CONTEXT, context_parameters(ctx))
    if ctx.is_superadmin:
        superadmin_bound(ctx)


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
