"""Pure ASGI middleware run before every request: request id, header hygiene, host tenant."""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.hosts import HostKind, TenantResolver, parse_host
from app.observability import end_access_line, expect_access_line
from app.responses import database_unavailable, error_response, unavailable_response

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# /metrics checks its own bearer token, and a scraper calls it by address, not by tenant host
UNAUTHENTICATED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
log = structlog.get_logger("tenantgraph.http")


class RequestContextMiddleware:
    """Assigns the request id (a sane inbound `X-Request-ID` is kept), drops every inbound
    `x-tenant-*` header, and resolves the Host's tenant; an unknown tenant is 404 here, before
    anything else runs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        resolver: TenantResolver,
        base_domain: str,
        trusted_proxies: list[str],
    ) -> None:
        self.app = app
        self.resolver = resolver
        self.base_domain = base_domain
        self.trusted_proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def _trusted(self, raw: str) -> bool:
        try:
            address = ipaddress.ip_address(raw.strip())
        except ValueError:
            return False
        return any(address in net for net in self.trusted_proxies)

    def _from_trusted_proxy(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client or not self.trusted_proxies:
            return False
        return self._trusted(client[0])

    def _client_address(self, scope: Scope, forwarded_for: bytes | None) -> str | None:
        """The caller's address: the peer, or behind trusted proxies the right-most
        `X-Forwarded-For` entry that is not itself a trusted proxy (the left part of that
        header is whatever the client chose to write)."""
        client = scope.get("client")
        peer = client[0] if client else None
        if peer is None or forwarded_for is None or not self._trusted(peer):
            return peer
        for hop in reversed(forwarded_for.decode("latin-1").split(",")):
            hop = hop.strip()
            if not hop:
                continue
            if not self._trusted(hop):
                return hop[:64]
        return peer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = [
            (k, v) for k, v in scope["headers"] if not k.lower().startswith(b"x-tenant-")
        ]
        values = {k.lower(): v for k, v in headers}
        inbound = values.get(b"x-request-id", b"").decode("latin-1")
        request_id = inbound if _REQUEST_ID.match(inbound) else uuid.uuid4().hex
        host = values.get(b"host", b"").decode("latin-1")
        if self._from_trusted_proxy(scope) and b"x-forwarded-host" in values:
            host = values[b"x-forwarded-host"].decode("latin-1").split(",")[0].strip()
        scope = {**scope, "headers": headers}
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["host"] = _hostname(host)
        state["client_address"] = self._client_address(scope, values.get(b"x-forwarded-for"))

        started = time.perf_counter()
        answered: list[int] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append(message["status"])
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"x-request-id", request_id.encode()),
                    ],
                }
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            line, token = expect_access_line()
            try:
                if sum(1 for k, _ in headers if k.lower() == b"host") > 1:
                    # RFC 9112: a request with more than one Host is answered 400
                    await error_response(400, "BAD_USER_INPUT", "More than one Host header")(
                        scope, receive, send_with_id
                    )
                else:
                    await self._dispatch(scope, receive, send_with_id, host, state)
            except Exception:
                # logged here, where the request's id is still bound (the server's own line
                # would carry none), and answered like any unexpected error
                log.exception("unexpected error", path=scope["path"][:200])
                if not answered:
                    await error_response(500, "INTERNAL", "Internal server error", request_id)(
                        scope, receive, send_with_id
                    )
            finally:
                end_access_line(token)
                if not line.written_by_endpoint:
                    # the one access line of a request the GraphQL endpoint did not answer
                    log.info(
                        "http request",
                        method=scope.get("method"),
                        path=scope["path"][:200],
                        status=answered[0] if answered else 500,
                        duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    )

    async def _dispatch(
        self, scope: Scope, receive: Receive, send_with_id: Send, host: str, state: dict[str, Any]
    ) -> None:
        """The Host's tenant (an unknown one is 404 here), then the app."""
        request_id = state["request_id"]
        if scope["path"] not in UNAUTHENTICATED_PATHS:
            target = parse_host(host, self.base_domain)
            try:
                tenant = await self.resolver.resolve(target)
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                await unavailable_response(request_id)(scope, receive, send_with_id)
                return
            if target.kind is HostKind.INVALID or (
                target.kind is not HostKind.BASE and tenant is None
            ):
                response = error_response(
                    404, "TENANT_NOT_FOUND", "No organization at this address", request_id
                )
                await response(scope, receive, send_with_id)
                return
            state["host_tenant"] = tenant
        await self.app(scope, receive, send_with_id)


def _hostname(host: str) -> str:
    """The host name alone: lower-case, without port and trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")
