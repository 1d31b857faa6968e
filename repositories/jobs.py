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
