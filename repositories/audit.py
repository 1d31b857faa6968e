from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import TenantMismatch
from repositories.base import TenantRepository
from repositories.models import AuditLog

_CHANGED = "changed_tenants"
log = structlog.get_logger("tenantgraph.audit")


def changed_tenants(session: AsyncSession) -> set[uuid.UUID]:
    """The tenants whose data this session changed: every mutation writes an audit row, so
    the audit rows are what marks them (cached results of these tenants are stale once the
    transaction commits)."""
    return set(session.info.get(_CHANGED, ()))


def _mark_changed(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    session.info.setdefault(_CHANGED, set()).add(tenant_id)


class AuditRepository(TenantRepository):
    async def record(
        self,
        *,
        action: str,
        target_type: str | None = None,
        target_id: uuid.UUID | None = None,
        changes: dict[str, Any] | None = None,
    ) -> None:
        """Append one audit row in the context tenant, naming the actor and the request."""
        self.session.add(
            AuditLog(
                tenant_id=self.tenant_id,
                actor_id=self.ctx.user_id,
                action=action,
                target_type=target_type,
                target_id=target_id,
                request_id=self.ctx.request_id,
                changes=changes,
            )
        )
        await self._flush()
        _mark_changed(self.session, self.tenant_id)
        # request, tenant and user come from the bound log context, not from arguments
        log.info("audit row", action=action, target_type=target_type)

    async def record_public_submission(self, *, service_request_id: uuid.UUID) -> None:
        """The audit row of an anonymous submission, in the host's tenant: no actor, one action
        (the only audit row the public path may write)."""
        if self.ctx.public_tenant_id is None or self.ctx.user_id is not None:
            raise TenantMismatch("a public submission needs an anonymous visitor of a tenant host")
        # a plain INSERT: the ORM's RETURNING would need a read policy this path does not have
        await self._execute(
            insert(AuditLog).values(
                tenant_id=self.ctx.public_tenant_id,
                id=uuid.uuid4(),
                actor_id=None,
                action="service_request.submit_public",
                target_type="service_request",
                target_id=service_request_id,
                request_id=self.ctx.request_id,
            )
        )
        _mark_changed(self.session, self.ctx.public_tenant_id)

    async def list_recent(self, *, limit: int = 50) -> list[AuditLog]:
        """The newest audit rows of the context tenant."""
        rows = await self._execute(
            select(AuditLog)
            .where(AuditLog.tenant_id == self.tenant_id)
            .order_by(AuditLog.created_at.desc())
            .limit(limit)
        )
        return list(rows.scalars())
