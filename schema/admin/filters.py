from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from app.context import Role
from app.errors import BadUserInput
from repositories.audit_log import AuditFilter
from repositories.members import MemberFilter as MemberFilterValues
from schema.admin.types import MemberStatus
from schema.auth.types import TenantRole
from schema.ids import decode_id

MAX_SEARCH_LENGTH = 200
MAX_NAME_LENGTH = 100


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _name(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not 1 <= len(value) <= MAX_NAME_LENGTH:
        raise BadUserInput(f"`{field}` must be 1 to {MAX_NAME_LENGTH} characters long")
    return value


@strawberry.input(description="Narrows a member list; all given conditions must hold.")
class MemberFilter:
    role: list[TenantRole] | None = None
    status: list[MemberStatus] | None = None
    search: str | None = strawberry.field(
        default=None, description="Part of the display name or email."
    )

    def to_values(self) -> MemberFilterValues:
        return MemberFilterValues(
            roles=tuple(Role(r.value).value for r in self.role or ()),
            statuses=tuple(s.value for s in self.status or ()),
            search=(self.search or "").strip()[:MAX_SEARCH_LENGTH] or None,
        )


@strawberry.input(description="Narrows the audit log; all given conditions must hold.")
class AuditLogFilter:
    action: str | None = strawberry.field(default=None, description="e.g. task.update")
    actor_id: strawberry.ID | None = None
    target_type: str | None = strawberry.field(default=None, description="e.g. task")
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Recorded at or after."
    )
    to: datetime | None = strawberry.field(default=None, description="Recorded before.")

    def to_values(self) -> AuditFilter:
        since, until = _aware(self.from_), _aware(self.to)
        if since is not None and until is not None and since > until:
            raise BadUserInput("`from` must not be after `to`")
        return AuditFilter(
            action=_name("action", self.action),
            actor_id=decode_id("User", self.actor_id) if self.actor_id else None,
            target_type=_name("targetType", self.target_type),
            since=since,
            until=until,
        )
