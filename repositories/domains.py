"""Custom domains of the context tenant (a domain maps to one tenant, platform-wide).

The host resolver caches each host's tenant for `TENANTGRAPH_HOST_CACHE_SECONDS` (30 s by
default, misses for at most 2 s): a domain added here starts resolving within seconds, and a
removed one may keep resolving to this tenant in each API process until its entry expires.
Requests on it still need this tenant's token and cookie, so the delay grants nobody access.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from app.errors import Conflict, NotFound
from repositories.audit import AuditRepository
from repositories.base import TenantRepository
from repositories.models import TenantDomain


class DomainRepository(TenantRepository):
    async def list(self) -> list[TenantDomain]:
        """The context tenant's custom domains, alphabetically."""
        d = TenantDomain
        result = await self._execute(
            select(d).where(d.tenant_id == self.tenant_id).order_by(d.domain)
        )
        return list(result.scalars())

    async def add(self, *, domain: str) -> TenantDomain:
        """Map `domain` (already validated and lower-cased) to the context tenant; CONFLICT when
        any tenant has it, without saying which; audited."""
        d = TenantDomain
        # DO NOTHING on either unique key: another tenant's row is never read, only collided with
        created = await self._execute(
            insert(d)
            .values(tenant_id=self.tenant_id, domain=domain)
            .on_conflict_do_nothing()
            .returning(d.domain)
        )
        if created.scalar_one_or_none() is None:
            raise Conflict("This domain is already in use")
        row = (
            await self._execute(select(d).where(d.tenant_id == self.tenant_id, d.domain == domain))
        ).scalar_one()
        await AuditRepository(self.session, self.ctx).record(
            action="domain.add", target_type="domain", changes={"domain": domain}
        )
        return row

    async def remove(self, *, domain: str) -> None:
        """Unmap one of the context tenant's domains; NOT_FOUND for any other; audited."""
        d = TenantDomain
        removed = await self._execute(
            delete(d).where(d.tenant_id == self.tenant_id, d.domain == domain).returning(d.domain)
        )
        if removed.scalar_one_or_none() is None:
            raise NotFound("Domain not found")
        await AuditRepository(self.session, self.ctx).record(
            action="domain.remove", target_type="domain", changes={"domain": domain}
        )
