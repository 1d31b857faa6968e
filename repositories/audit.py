from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from repositories.base import TenantRepository
from repositories.models import AuditLog


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

    async def list_recent(self, *, limit: int = 50) -> list[AuditLog]:
        """The newest audit rows of the context tenant."""
        rows = await self._execute(
            select(AuditLog)
            .where(AuditLog.tenant_id == self.tenant_id)
            .order_by(AuditLog.created_at.desc())
            .limit(limit)
        )
        return list(rows.scalars())
