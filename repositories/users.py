from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from repositories.base import TenantRepository, one_of
from repositories.models import TenantMembership, User
from repositories.records import UserRecord


class UserRepository(TenantRepository):
    async def get_many(self, *, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, UserRecord]:
        """Users among `ids` who are members of the context tenant, with their display name
        there; anyone else is simply absent."""
        m = TenantMembership
        # from the memberships' key (tenant_id, user_id) to the users: under the policies the
        # planner otherwise looped over every member of the tenant with the whole id list
        rows = await self._execute(
            select(User.id, User.email, m.display_name)
            .select_from(m)
            .join(User, User.id == m.user_id)
            .where(m.tenant_id == self.tenant_id, one_of(m.user_id, ids))
        )
        return {r.id: UserRecord(r.id, r.email, r.display_name) for r in rows}

    async def is_active_member(self, *, user_id: uuid.UUID) -> bool:
        """Whether `user_id` has an active membership in the context tenant."""
        m = TenantMembership
        found = await self._execute(
            select(m.user_id).where(
                m.tenant_id == self.tenant_id, m.user_id == user_id, m.status == "active"
            )
        )
        return found.first() is not None
