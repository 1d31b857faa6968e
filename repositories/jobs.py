"""What the job runner itself asks of the database inside a tenant's transaction."""

from __future__ import annotations

from sqlalchemy import text

from repositories.base import TenantRepository


class JobRepository(TenantRepository):
    async def lock(self, *, job: str) -> None:
        """Hold, until the transaction ends, the lock of this job in the context tenant: two
        overlapping runs of one job for one tenant take turns, so the second sees what the first
        committed (and its idempotent writes do nothing)."""
        await self._execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"tenantgraph-job/{job}/{self.tenant_id}"},
        )

    async def tenant_status(self) -> str | None:
        """The context tenant's status now (None: it is gone)."""
        result = await self._execute(
            text("SELECT status FROM tenants WHERE id = :t"), {"t": self.tenant_id}
        )
        return result.scalar()  # type: ignore[no-any-return]
