"""What the GraphQL endpoint reports about each request: the span, the metrics, the security
events. The endpoint calls `begin` first and `finish` last; everything in between reads the
per-request statistics through a contextvar (no argument threading)."""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from app import metrics
from app.security_events import SecurityEvent, SecurityEventRecorder, classify_error

if TYPE_CHECKING:
    from graphql import GraphQLError

    from app.context import TenantContext

log = structlog.get_logger("tenantgraph.http")


class AccessLine:
    """Whether the GraphQL endpoint writes the access line of the running request; the
    middleware writes one for every request that it does not reach."""

    def __init__(self) -> None:
        self.written_by_endpoint = False


_access: ContextVar[AccessLine | None] = ContextVar("access_line", default=None)


def expect_access_line() -> tuple[AccessLine, Token[AccessLine | None]]:
    line = AccessLine()
    return line, _access.set(line)


def end_access_line(token: Token[AccessLine | None]) -> None:
    _access.reset(token)


@dataclass
class RequestHandle:
    stats: metrics.RequestStats
    stats_token: Any
    span: Span | None = None
    span_token: Any = None


def outcome_of(status: int, stats: metrics.RequestStats) -> str:
    if status == 200:
        return stats.outcome  # "ok", or "error" when the answer carries errors
    if status in (401, 403):
        return "refused"
    if status == 503:
        return "unavailable"
    if status >= 500:
        return "internal"
    return "bad_request"


class RequestObserver:
    def __init__(self, recorder: SecurityEventRecorder, tracer: Tracer | None = None) -> None:
        self.recorder = recorder
        self.tracer = tracer

    def begin(self, request_id: str) -> RequestHandle:
        line = _access.get()
        if line is not None:
            line.written_by_endpoint = True  # its `graphql request` line is the access line
        stats, token = metrics.start_request(request_id)
        handle = RequestHandle(stats, token)
        if self.tracer is not None:
            handle.span = self.tracer.start_span(
                "graphql", kind=trace.SpanKind.SERVER, attributes={"request.id": request_id}
            )
            handle.span_token = otel_context.attach(trace.set_span_in_context(handle.span))
        return handle

    @staticmethod
    def operation(name: str | None, query: str | None = None) -> None:
        stats = metrics.current_stats()
        if stats is not None:
            stats.operation = metrics.operation_name(name, query)

    @staticmethod
    def refused(
        *,
        request_id: str,
        status: int,
        code: str,
        reason: str,
        isolation: str | None,
        tenant_id: uuid.UUID | None,
        user_id: uuid.UUID | None,
    ) -> None:
        """A refusal before execution: counted, and queued as a security event when it is one
        of the credential checks."""
        stats = metrics.current_stats()
        if isolation is None or stats is None:
            return
        metrics.isolation_refused(isolation, tenant_id)
        stats.security_events.append(
            SecurityEvent(
                kind=code,
                reason=reason,
                request_id=request_id,
                tenant_id=tenant_id,
                user_id=user_id,
                status=status,
            )
        )

    @staticmethod
    def execution_errors(errors: list[GraphQLError], ctx: TenantContext) -> None:
        """The answer carries errors: refused writes become security events, NOT_FOUND answers
        are counted (a foreign id and a missing one are the same answer, by design)."""
        from app.errors import NotFound

        stats = metrics.current_stats()
        if stats is None:
            return
        stats.outcome = "error"
        for error in errors:
            original = error.original_error
            if isinstance(original, NotFound):
                metrics.isolation_refused("not_found", ctx.tenant_id)
            noted = classify_error(original)
            if noted is not None:
                RequestObserver.unexpected_isolation(noted, ctx, stats)

    @staticmethod
    def unexpected(error: BaseException, ctx: TenantContext | None = None) -> None:
        """An exception outside execution (a write refused while committing)."""
        stats = metrics.current_stats()
        noted = classify_error(error)
        if stats is not None and noted is not None:
            RequestObserver.unexpected_isolation(noted, ctx, stats)

    @staticmethod
    def unexpected_isolation(
        noted: tuple[str, str], ctx: TenantContext | None, stats: metrics.RequestStats
    ) -> None:
        kind, reason = noted
        bound = structlog.contextvars.get_contextvars()
        tenant_id = ctx.tenant_id if ctx is not None else _uuid(bound.get("tenant_id"))
        user_id = ctx.user_id if ctx is not None else _uuid(bound.get("user_id"))
        metrics.isolation_refused(kind.lower(), tenant_id)
        stats.security_events.append(
            SecurityEvent(
                kind=kind,
                reason=reason,
                request_id=stats.request_id,
                tenant_id=tenant_id,
                user_id=user_id,
            )
        )

    async def finish(self, handle: RequestHandle, status: int) -> None:
        """Record the request's metrics and span, then write its security events (each in a
        transaction of its own: the request's has ended)."""
        stats = handle.stats
        outcome = outcome_of(status, stats)
        tenant = structlog.contextvars.get_contextvars().get("tenant_id")
        try:
            operation = metrics.operation_label(stats.operation)
            metrics.REQUESTS.labels(
                operation=operation, outcome=outcome, tenant=metrics.tenant_label(tenant)
            ).inc()
            metrics.REQUEST_SECONDS.labels(operation=operation, outcome=outcome).observe(
                stats.seconds
            )
            metrics.REQUEST_STATEMENTS.labels(operation=operation).observe(stats.statements)
            if handle.span is not None:
                span = handle.span
                # the name is bounded like the metrics' label (backends keep a series per span
                # name); the client's own name is an attribute
                span.update_name(f"graphql {operation}")
                span.set_attribute("graphql.operation.name", stats.operation)
                span.set_attribute("http.response.status_code", status)
                span.set_attribute("tenantgraph.outcome", outcome)
                span.set_attribute("db.statements", stats.statements)
                if tenant:
                    span.set_attribute("tenant.id", str(tenant))
                user = structlog.contextvars.get_contextvars().get("user_id")
                if user:
                    span.set_attribute("user.id", str(user))
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                span.end()
                otel_context.detach(handle.span_token)
            for event in stats.security_events:
                await self.recorder.record(event)
        finally:
            metrics.end_request(handle.stats_token)


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
