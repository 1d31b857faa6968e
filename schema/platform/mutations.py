from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import strawberry

from app.context import TenantContext
from app.errors import BadUserInput, Unauthenticated
from repositories.auth import AuthRepository
from schema.auth.mutations import LOGIN_FAILED, check_password, login_outcome, login_succeeded
from schema.context import Info
from schema.platform.types import PlatformAuthPayload
from schema.users.types import User


@strawberry.type
class PlatformMutations:
    @strawberry.mutation(
        description="Sign a super-admin in to the platform (on the bare base domain only): a "
        "platform token and tenant_sig cookie that name no organization and open only the "
        "platform operations. Anyone else gets the same error as a wrong password."
    )
    async def platform_login(self, info: Info, email: str, password: str) -> PlatformAuthPayload:
        if info.context.host_tenant is not None:
            raise BadUserInput("Sign in to the platform at its base address, not an organization's")
        auth = info.context.repo(AuthRepository)
        record, account = await check_password(info, auth, email.strip(), password)
        request_ctx = info.context.tenant
        user_ctx = TenantContext(
            request_id=request_ctx.request_id,
            user_id=record.user_id,
            token_version=record.token_version,
        )
        auth = await auth.bind(user_ctx)
        try:
            state = await auth.platform_state()
            if state is None or not state[1]:
                login_outcome("failed", None, user_id=record.user_id)
                raise Unauthenticated(LOGIN_FAILED)
            account_record = await auth.own_account()
        finally:
            await auth.bind(request_ctx)
        # audited on the platform role's own connection, committed whatever follows
        platform_ctx = replace(user_ctx, is_superadmin=True)
        await info.context.platform_gateway().audit(platform_ctx, action="platform.login")
        assert account_record is not None
        await login_succeeded(info, account)
        login_outcome("platform_success", None, user_id=record.user_id)
        token, claims = info.context.tokens.issue_platform(
            user_id=record.user_id, token_version=record.token_version
        )
        info.context.response.set_cookie = (
            info.context.tokens.sign_cookie(claims),
            claims.expires_at,
        )
        return PlatformAuthPayload(
            token=token,
            expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
            user=User.from_record(account_record),
        )
