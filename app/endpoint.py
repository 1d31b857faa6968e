"""`/graphql` over HTTP: transport, credential checks before execution, the unit of work."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import orjson
import structlog
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from app.auth.ratelimit import LoginRateLimiter
from app.auth.tokens import COOKIE_NAME, InvalidToken, TokenClaims, TokenService
from app.cache import Cache, MemoryCache
from app.context import TenantContext, bind_context
from app.database import Database
from app.errors import AppError
from app.observability import RequestObserver
from app.responses import (
    JSONResponse,
    database_unavailable,
    error_response,
    unavailable_response,
)
from app.security_events import SecurityEventRecorder
from app.settings import Settings
from repositories.audit import changed_tenants
from repositories.auth import AuthRepository
from repositories.platform_analytics import PlatformGateway, answered_audited_read
from repositories.records import TenantRecord
from schema.context import Context, Loaders
from schema.limits import MAX_QUERY_CHARS

log = structlog.get_logger("tenantgraph.http")

MAX_BODY_BYTES = 1_000_000
QUERY_ONLY = (OperationType.QUERY,)
ALL_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)


class Refused(Exception):
    """Answer with this status and code before any resolver runs. `isolation` names a refusal
    of the credential checks (a security event, audited in `tenant_id` when a verified token
    names one)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        reason: str,
        *,
        isolation: str | None = None,
        claims: TokenClaims | None = None,
    ) -> None:
        super().__init__(reason)
        self.status, self.code, self.message, self.reason = status, code, message, reason
        self.isolation = isolation
        self.tenant_id = claims.tenant_id if claims else None
        self.user_id = claims.user_id if claims else None


def _unauthenticated(
    reason: str, isolation: str = "token_invalid", claims: TokenClaims | None = None
) -> Refused:
    return Refused(
        401,
        "UNAUTHENTICATED",
        "Invalid or expired credentials",
        reason,
        isolation=isolation,
        claims=claims,
    )


def _mismatch(reason: str, isolation: str, claims: TokenClaims) -> Refused:
    return Refused(
        403,
        "TENANT_MISMATCH",
        "The credentials do not belong to this organization",
        reason,
        isolation=isolation,
        claims=claims,
    )


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    allowed: tuple[OperationType, ...]


async def parse_request(request: Request) -> GraphQLRequest:
    if request.method == "GET":
        params = request.query_params
        raw_variables: Any = params.get("variables")
        if raw_variables:
            try:
                raw_variables = orjson.loads(raw_variables)
            except orjson.JSONDecodeError:
                raise Refused(
                    400, "BAD_USER_INPUT", "`variables` is not JSON", "bad variables"
                ) from None
        body: dict[str, Any] = {
            "query": params.get("query"),
            "variables": raw_variables or None,
            "operationName": params.get("operationName"),
        }
        allowed = QUERY_ONLY
    elif request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            # Also what keeps cross-site "simple" form posts from reaching a mutation.
            raise Refused(
                415, "BAD_USER_INPUT", "Send the request as application/json", content_type
            )
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            raise Refused(413, "BAD_USER_INPUT", "The request is too large", "body too large")
        raw = await _read_limited(request)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Refused(400, "BAD_USER_INPUT", "The body is not valid JSON", "bad json") from None
        if not isinstance(body, dict):
            raise Refused(400, "BAD_USER_INPUT", "The body must be a JSON object", "not an object")
        allowed = ALL_OPERATIONS
    else:
        raise Refused(405, "BAD_USER_INPUT", "Use GET or POST", request.method)
    query, variables, name = body.get("query"), body.get("variables"), body.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise Refused(400, "BAD_USER_INPUT", "A `query` string is required", "no query")
    if len(query) > MAX_QUERY_CHARS:
        raise Refused(413, "BAD_USER_INPUT", "The query document is too large", "query too large")
    if variables is not None and not isinstance(variables, dict):
        raise Refused(400, "BAD_USER_INPUT", "`variables` must be an object", "bad variables")
    if name is not None and not isinstance(name, str):
        raise Refused(400, "BAD_USER_INPUT", "`operationName` must be a string", "bad name")
    return GraphQLRequest(query, variables, name, allowed)


async def _read_limited(request: Request) -> bytes:
    """The body, refused as soon as it grows past the limit (a chunked upload declares no
    length, so the declared one is not enough)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Refused(413, "BAD_USER_INPUT", "The request is too large", "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def verify_credentials(
    request: Request, tokens: TokenService, host_tenant: TenantRecord | None
) -> TokenClaims | None:
    """Token, cookie and host must name the same tenant (and the cookie the same user)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("malformed authorization header", "malformed_header")
    try:
        claims = tokens.verify(token.strip())
    except InvalidToken as exc:
        raise _unauthenticated(f"token refused ({exc})") from None
    cookie = request.cookies.get(COOKIE_NAME)
    if not cookie:
        raise _mismatch("tenant cookie missing", "cookie_missing", claims)
    try:
        tokens.verify_cookie(cookie, claims)
    except InvalidToken as exc:
        raise _mismatch(f"tenant cookie refused ({exc})", "cookie_mismatch", claims) from None
    if host_tenant is not None and host_tenant.id != claims.tenant_id:
        raise _mismatch("host and token disagree", "host_mismatch", claims)
    return claims


def format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    """API codes for expected errors; everything unexpected is masked as INTERNAL."""
    original = error.original_error
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path:
        formatted["path"] = error.path
    if isinstance(original, AppError) and original.code != "INTERNAL":
        formatted["message"] = original.message
        formatted["extensions"] = {"code": original.code}
    elif original is not None and _is_bad_value(original):
        formatted["message"] = (
            "A value is out of range or contains characters that cannot be stored"
        )
        formatted["extensions"] = {"code": "BAD_USER_INPUT"}
    elif original is None or error.path is None:
        # Parse, validation and variable errors: about the document, before execution.
        formatted["extensions"] = {"code": "BAD_USER_INPUT"}
    else:
        log.error(
            "unexpected error in resolver",
            path=error.path,
            exc_info=(type(original), original, original.__traceback__),
        )
        formatted["message"] = "Internal server error"
        formatted["extensions"] = {"code": "INTERNAL", "requestId": request_id}
    return formatted


def _is_bad_value(error: BaseException) -> bool:
    """PostgreSQL's data exceptions (SQLSTATE class 22: NUL bytes, dates out of range, ...) and
    values the driver cannot encode are the caller's input, not a server fault."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, OverflowError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    cause = getattr(error.orig, "__cause__", None)
    return sqlstate.startswith("22") or type(cause).__name__ in {"DataError", "OverflowError"}


def _database_lost(errors: list[GraphQLError]) -> BaseException | None:
    """The first error that says the database went away while resolvers ran, if any."""
    for error in errors:
        if error.original_error is not None and database_unavailable(error.original_error):
            return error.original_error
    return None


class GraphQLEndpoint:
    def __init__(
        self,
        *,
        schema: Any,
        database: Database,
        tokens: TokenService,
        settings: Settings,
        login_limiter: LoginRateLimiter | None = None,
        cache: Cache | None = None,
        observer: RequestObserver | None = None,
        platform: PlatformGateway | None = None,
    ) -> None:
        self.observer = observer or RequestObserver(SecurityEventRecorder(database))
        self.login_limiter = login_limiter
        self.platform = platform
        self.schema = schema
        self.database = database
        self.tokens = tokens
        self.settings = settings
        self.cache = cache if cache is not None else MemoryCache()

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id: str = request.state.request_id
        host_tenant: TenantRecord | None = getattr(request.state, "host_tenant", None)
        # Every line of this request, the access line included, carries tenant and user once
        # they are verified; reset afterwards so nothing leaks into the next request.
        bound = structlog.contextvars.bind_contextvars(tenant_id=None, user_id=None)
        observed = self.observer.begin(request_id)
        try:
            response = await self._handle(request, request_id, host_tenant)
        except Refused as refused:
            log.info(
                "request refused", status=refused.status, code=refused.code, reason=refused.reason
            )
            self.observer.refused(
                request_id=request_id,
                status=refused.status,
                code=refused.code,
                reason=refused.reason,
                isolation=refused.isolation,
                tenant_id=refused.tenant_id,
                user_id=refused.user_id,
            )
            response = error_response(refused.status, refused.code, refused.message, request_id)
        except Exception as exc:
            if database_unavailable(exc):
                log.warning("database unavailable", error=type(exc).__name__)
                response = unavailable_response(request_id)
            else:
                log.exception("unexpected error outside execution")
                self.observer.unexpected(exc)
                response = error_response(500, "INTERNAL", "Internal server error", request_id)
        log.info(
            "graphql request",
            operation=observed.stats.operation,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            statements=observed.stats.statements,
        )
        await self.observer.finish(observed, response.status_code)
        structlog.contextvars.reset_contextvars(**bound)
        return response

    async def _handle(
        self, request: Request, request_id: str, host_tenant: TenantRecord | None
    ) -> Response:
        gql = await parse_request(request)
        self.observer.operation(gql.operation_name, gql.query)
        claims = verify_credentials(request, self.tokens, host_tenant)
        public = host_tenant.id if host_tenant else None
        ctx = TenantContext(request_id=request_id, public_tenant_id=public)
        if claims is not None:
            ctx = TenantContext(
                request_id=request_id,
                tenant_id=claims.tenant_id,
                tenant_slug=host_tenant.slug if host_tenant else None,
                user_id=claims.user_id,
                role=claims.role,
                is_superadmin=claims.platform,
                token_version=claims.token_version,
                public_tenant_id=public,
            )
        async with self.database.unit_of_work(ctx) as uow:
            if claims is not None and claims.platform:
                await self._check_platform_session(uow, ctx, claims)
            elif claims is not None:
                state = await AuthRepository(uow.session, ctx).session_state()
                if state is None or state.token_version != claims.token_version:
                    uow.mark_rollback_only()
                    raise _unauthenticated("token revoked", "token_revoked", claims)
                if not (state.membership_active and state.tenant_active and state.role):
                    uow.mark_rollback_only()
                    raise Refused(
                        403,
                        "FORBIDDEN",
                        "Your access to this organization has ended",
                        "membership inactive",
                        isolation="membership_inactive",
                        claims=claims,
                    )
                # The role is the current one, not the one the token was issued with.
                ctx = replace(ctx, role=state.role)
                structlog.contextvars.bind_contextvars(
                    tenant_id=str(ctx.tenant_id), user_id=str(ctx.user_id)
                )
            context = Context(
                tenant=ctx,
                host_tenant=host_tenant,
                session=uow.session,
                tokens=self.tokens,
                loaders=Loaders.create(uow.session, ctx),
                base_domain=self.settings.base_domain,
                login_limiter=self.login_limiter,
                client_address=getattr(request.state, "client_address", None),
                cache=self.cache,
                platform=self.platform,
            )
            with bind_context(ctx):
                try:
                    result = await self.schema.execute(
                        gql.query,
                        variable_values=gql.variables,
                        context_value=context,
                        operation_name=gql.operation_name,
                        allowed_operation_types=gql.allowed,
                    )
                except InvalidOperationTypeError:
                    uow.mark_rollback_only()
                    raise Refused(
                        405,
                        "BAD_USER_INPUT",
                        "Mutations are only accepted over POST",
                        "GET mutation",
                    ) from None
                except (MissingQueryError, CannotGetOperationTypeError):
                    uow.mark_rollback_only()
                    raise Refused(
                        400, "BAD_USER_INPUT", "Name the operation to run", "no operation"
                    ) from None
            if result.errors:
                # All or nothing: an answer with errors writes nothing.
                uow.mark_rollback_only()
                self.observer.execution_errors(result.errors, ctx)
                lost = _database_lost(result.errors)
                if lost is not None:
                    raise lost  # answered 503, like a database that was down from the start
        if not uow.rollback_only:
            # committed: cached results of the tenants it changed must not be served again
            changed = changed_tenants(uow.session)
            if changed:
                await self.cache.invalidate(changed)
        data = result.data
        if uow.rollback_only and answered_audited_read(uow.session):
            # the audit row of a cross-tenant read went with the rollback: so does its answer
            data = None
        body: dict[str, Any] = {"data": data}
        if result.errors:
            body["errors"] = [format_error(e, request_id) for e in result.errors]
        response = JSONResponse(body)
        if not result.errors:
            # a rolled-back answer changes nothing, cookies included
            self._apply_cookie(context, response, request)
        return response

    async def _check_platform_session(
        self, uow: Any, ctx: TenantContext, claims: TokenClaims
    ) -> None:
        """A platform token holds while its user exists, keeps its token version and is still a
        super-admin (re-read on every request, like a membership)."""
        state = await AuthRepository(uow.session, ctx).platform_state()
        if state is None or state[0] != claims.token_version:
            uow.mark_rollback_only()
            raise _unauthenticated("token revoked", "token_revoked", claims)
        if not state[1]:
            uow.mark_rollback_only()
            raise Refused(
                403,
                "FORBIDDEN",
                "Your platform access has ended",
                "no longer a super-admin",
                isolation="superadmin_revoked",
                claims=claims,
            )
        structlog.contextvars.bind_contextvars(tenant_id=None, user_id=str(ctx.user_id))

    def _cookie_domain(self, request: Request) -> str | None:
        """Share the cookie across `<slug>.<base domain>` so that a tenant switch carries over
        to the next tenant's host; `localhost` cannot carry a Domain attribute, and a custom
        domain keeps a host-only cookie."""
        base = self.settings.base_domain
        host = getattr(request.state, "host", "")
        if "." in base and (host == base or host.endswith("." + base)):
            return base
        return None

    def _apply_cookie(self, context: Context, response: Response, request: Request) -> None:
        actions = context.response
        domain = self._cookie_domain(request)
        if actions.set_cookie is not None and not actions.clear_cookie:
            value, expires_at = actions.set_cookie
            response.set_cookie(
                COOKIE_NAME,
                value,
                max_age=max(0, expires_at - int(time.time())),
                path="/",
                domain=domain,
                secure=self.settings.secure_cookies,
                httponly=True,
                samesite="lax",
            )
        elif actions.clear_cookie:
            response.delete_cookie(
                COOKIE_NAME,
                path="/",
                domain=domain,
                secure=self.settings.secure_cookies,
                httponly=True,
                samesite="lax",
            )
