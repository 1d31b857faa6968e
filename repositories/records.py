"""Plain, immutable rows handed to the layers above (they never hold ORM objects they could
lazy-load from)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.context import Role


@dataclass(frozen=True, slots=True)
class TenantRecord:
    id: uuid.UUID
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    email: str
    display_name: str | None


@dataclass(frozen=True, slots=True)
class MembershipRecord:
    tenant: TenantRecord
    role: Role
    is_default: bool


@dataclass(frozen=True, slots=True)
class LoginRecord:
    user_id: uuid.UUID
    password_hash: str | None
    token_version: int


@dataclass(frozen=True, slots=True)
class SessionState:
    """What must still hold for a token to be honoured."""

    token_version: int
    role: Role | None
    membership_active: bool
    tenant_active: bool
