"""The typed, frozen per-request GraphQL context, built by the HTTP endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.cache import Cache, MemoryCache
from app.context import TenantContext
from app.errors import AppError
from repositories.base import Repository
from repositories.platform_analytics import PlatformGateway
from repositories.records import TenantRecord
from schema.services.dataloaders import ServiceByIdLoader
from schema.tasks.dataloaders import TaskByIdLoader
from schema.users.dataloaders import UserByIdLoader

if TYPE_CHECKING:
    from app.auth.ratelimit import LoginRateLimiter
    from app.auth.tokens import TokenService

R = TypeVar("R", bound=Repository)


@dataclass
class ResponseActions:
    """What the HTTP response must do beyond the body (set or clear the tenant cookie)."""

    set_cookie: tuple[str, int] | None = None
    clear_cookie: bool = False


@dataclass(frozen=True, slots=True)
class Loaders:
    users: UserByIdLoader
    services: ServiceByIdLoader
    tasks: TaskByIdLoader

    @classmethod
    def create(cls, session: AsyncSession, ctx: TenantContext) -> Loaders:
        return cls(
            users=UserByIdLoader(session, ctx),
            services=ServiceByIdLoader(session, ctx),
            tasks=TaskByIdLoader(session, ctx),
        )


@dataclass(frozen=True, slots=True)
class Context:
    tenant: TenantContext
    host_tenant: TenantRecord | None
    session: AsyncSession
    tokens: TokenService
    loaders: Loaders
    response: ResponseActions = field(default_factory=ResponseActions)
    # `<slug>.<base domain>` names a tenant: no custom domain may sit under it
    base_domain: str = "localhost"
    # sign-in attempts are counted per (tenant, email) and per client address
    login_limiter: LoginRateLimiter | None = None
    client_address: str | None = None
    # per-tenant results shared across requests (analytics); keys always carry the tenant
    cache: Cache = field(default_factory=MemoryCache)
    # the platform role's connections (super-admin analytics); None where none is configured
    platform: PlatformGateway | None = None

    def platform_gateway(self) -> PlatformGateway:
        if self.platform is None:
            raise AppError("no platform connection is configured")
        return self.platform

    def repo(self, cls: type[R]) -> R:
        """A repository of `cls` bound to this request's session and verified context."""
        return cls(self.session, self.tenant, cache=self.cache)


Info = strawberry.Info[Context, None]
