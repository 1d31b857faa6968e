"""The verified identity of one request or job, held in a contextvar for its lifetime."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "ADMIN"
    STAFF = "STAFF"
    CLIENT = "CLIENT"


@dataclass(frozen=True, slots=True)
class TenantContext:
    """Who is acting, and in which tenant. Built only from verified credentials."""

    request_id: str
    tenant_id: uuid.UUID | None = None
    tenant_slug: str | None = None
    user_id: uuid.UUID | None = None
    role: Role | None = None
    is_superadmin: bool = False
    token_version: int | None = None
    # The tenant whose host was called: anonymous visitors may see its public catalogue.
    public_tenant_id: uuid.UUID | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_platform_session(self) -> bool:
        """A super-admin signed in to the platform: a user, no organization."""
        return self.is_superadmin and self.user_id is not None and self.tenant_id is None


_current: ContextVar[TenantContext | None] = ContextVar("tenant_context", default=None)


def current_context() -> TenantContext | None:
    """The context of the running request or job, if any."""
    return _current.get()


@contextmanager
def bind_context(ctx: TenantContext) -> Iterator[TenantContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
