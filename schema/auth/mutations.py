from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import strawberry
import structlog

from app import metrics
from app.auth.passwords import verify_password
from app.context import TenantContext
from app.errors import BadUserInput, NotFound, TooManyRequests, Unauthenticated
from repositories.audit import AuditRepository
from repositories.auth import AuthRepository
from repositories.records import LoginRecord, MembershipRecord
from schema.auth.types import AuthPayload, load_viewer
from schema.context import Info
from schema.ids import decode_id
from schema.permissions import IsSignedIn

LOGIN_FAILED = "Invalid email, password or organization"
log = structlog.get_logger("tenantgraph.auth")


def login_outcome(
    outcome: str, tenant_id: uuid.UUID | None, *, user_id: uuid.UUID | None = None
) -> None:
    """Count and log a sign-in attempt: the outcome, the tenant, the user once it is verified;
    never the email or the password."""
    metrics.login(outcome, tenant_id)
    log.info(
        "login",
        outcome=outcome,
        tenant_id=str(tenant_id) if tenant_id else None,
        user_id=str(user_id) if user_id else None,
    )


MAX_EMAIL_LENGTH = 320


async def _start_session(
    info: Info, auth: AuthRepository, membership: MembershipRecord, action: str
) -> AuthPayload:
    """Issue a token and tenant cookie for `membership`, audit it there, and answer the viewer.

    The transaction is bound to the new identity only while this runs; the request's own context
    is restored afterwards, so later fields of the same document act as the original caller."""
    request_ctx = info.context.tenant
    ctx = replace(
        auth.ctx,
        tenant_id=membership.tenant.id,
        tenant_slug=membership.tenant.slug,
        role=membership.role,
    )
    await auth.bind(ctx)
    try:
        token, claims = info.context.tokens.issue(
            user_id=ctx.user_id,  # type: ignore[arg-type]
            tenant_id=membership.tenant.id,
            role=membership.role,
            token_version=ctx.token_version,  # type: ignore[arg-type]
        )
        await AuditRepository(info.context.session, ctx).record(
            action=action, target_type="user", target_id=ctx.user_id
        )
        viewer = await load_viewer(info, ctx)
    finally:
        await auth.bind(request_ctx)
    info.context.response.set_cookie = (info.context.tokens.sign_cookie(claims), claims.expires_at)
    return AuthPayload(
        token=token, expires_at=datetime.fromtimestamp(claims.expires_at, UTC), viewer=viewer
    )


async def check_password(
    info: Info,
    auth: AuthRepository,
    email: str,
    password: str,
    *,
    tenant_id: uuid.UUID | None = None,
) -> tuple[LoginRecord, str]:
    """The account whose password this is, and its rate-limit key; UNAUTHENTICATED otherwise,
    TOO_MANY_REQUESTS over a limit."""
    record = await auth.login_lookup(email=email) if 0 < len(email) <= MAX_EMAIL_LENGTH else None
    # The account budget is the account's, whatever spelling of its email or tenant names it
    # (the database's lower() and Python's differ on some letters); an unknown email has its
    # own. Over either limit the answer is the same whether the account exists or not.
    account = str(record.user_id) if record else email.casefold()
    limiter = info.context.login_limiter
    if limiter is not None and not await limiter.attempt(
        account=account, address=info.context.client_address
    ):
        login_outcome("rate_limited", tenant_id)
        raise TooManyRequests("Too many sign-in attempts. Try again later")
    # argon2 releases the GIL: verifying in a thread keeps the event loop serving.
    ok = await asyncio.to_thread(
        verify_password, record.password_hash if record else None, password
    )
    if record is None or not ok:
        login_outcome("failed", tenant_id)
        raise Unauthenticated(LOGIN_FAILED)
    return record, account


async def login_succeeded(info: Info, account: str) -> None:
    if info.context.login_limiter is not None:
        await info.context.login_limiter.succeeded(account=account)


@strawberry.type
class AuthMutations:
    @strawberry.mutation(
        description="Sign in. `tenant` is an organization slug; it defaults to the Host's "
        "organization, else the user's default membership. Sets the tenant_sig cookie."
    )
    async def login(
        self, info: Info, email: str, password: str, tenant: str | None = None
    ) -> AuthPayload:
        email = email.strip()
        host = info.context.host_tenant
        slug = tenant.strip().lower() if tenant else (host.slug if host else None)
        if host is not None and slug != host.slug:
            # the session would be refused on this very host: sign in at the tenant's address
            login_outcome("refused", host.id)
            raise BadUserInput("Sign in to an organization at its own address")
        auth = info.context.repo(AuthRepository)
        record, account = await check_password(
            info, auth, email, password, tenant_id=host.id if host else None
        )
        user_ctx = TenantContext(
            request_id=info.context.tenant.request_id,
            user_id=record.user_id,
            token_version=record.token_version,
        )
        auth = await auth.bind(user_ctx)
        try:
            memberships = await auth.memberships()
        finally:
            await auth.bind(info.context.tenant)
        if slug is not None:
            chosen = next((m for m in memberships if m.tenant.slug == slug), None)
        else:
            chosen = next((m for m in memberships if m.is_default), None) or next(
                iter(memberships), None
            )
        if chosen is None:
            login_outcome("failed", host.id if host else None, user_id=record.user_id)
            raise Unauthenticated(LOGIN_FAILED)
        await login_succeeded(info, account)
        login_outcome("success", chosen.tenant.id, user_id=record.user_id)
        return await _start_session(info, auth, chosen, "auth.login")

    @strawberry.mutation(
        description="Move the session to another organization the user belongs to: a new token "
        "and a new tenant_sig cookie.",
        permission_classes=[IsSignedIn],
    )
    async def switch_tenant(self, info: Info, tenant_id: strawberry.ID) -> AuthPayload:
        target = decode_id("Tenant", tenant_id)
        auth = info.context.repo(AuthRepository)
        membership = next((m for m in await auth.memberships() if m.tenant.id == target), None)
        if membership is None:
            raise NotFound("Organization not found")
        metrics.tenant_switch(membership.tenant.id)
        log.info(
            "tenant switch",
            to_tenant_id=str(membership.tenant.id),
            user_id=str(info.context.tenant.user_id),
        )
        return await _start_session(info, auth, membership, "auth.switch_tenant")

    @strawberry.mutation(description="End the session in this browser: clears the cookie.")
    async def logout(self, info: Info) -> bool:
        if info.context.tenant.is_platform_session:
            await info.context.platform_gateway().audit(
                info.context.tenant, action="platform.logout"
            )
        elif info.context.tenant.is_authenticated:
            await info.context.repo(AuditRepository).record(
                action="auth.logout", target_type="user", target_id=info.context.tenant.user_id
            )
        info.context.response.clear_cookie = True
        return True

    @strawberry.mutation(
        description="Invalidate every token issued to the signed-in user so far.",
        permission_classes=[IsSignedIn],
    )
    async def revoke_all_sessions(self, info: Info) -> bool:
        await info.context.repo(AuthRepository).bump_token_version()
        if info.context.tenant.is_platform_session:
            await info.context.platform_gateway().audit(
                info.context.tenant, action="platform.revoke_all_sessions"
            )
        else:
            await info.context.repo(AuditRepository).record(
                action="auth.revoke_all_sessions",
                target_type="user",
                target_id=info.context.tenant.user_id,
            )
        info.context.response.clear_cookie = True
        return True
