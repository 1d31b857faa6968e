"""CORS with an allow-list derived from the tenant's own hosts.

An origin may call the API from a browser when its host names the same tenant as the request's
Host: `<slug>.<base domain>` or one of the tenant's custom domains (and, on the bare base domain,
the base domain itself). `TENANTGRAPH_CORS_EXTRA_ORIGINS` adds exact origins. Outside development
an origin must be `https`. Credentials are allowed, so the answer always names the one origin,
never `*`. A cross-origin POST from an origin outside the list is refused (403) before the
endpoint runs: with SameSite=Lax cookies and JSON-only mutations that is a third wall against
cross-site requests.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.hosts import HostKind, TenantResolver, parse_host
from app.responses import error_response

ALLOWED_METHODS = "GET, POST"
ALLOWED_HEADERS = "authorization, content-type, x-request-id"
MAX_AGE = "600"


class CorsMiddleware:
    """Runs inside `RequestContextMiddleware` (the Host's tenant is already resolved)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        resolver: TenantResolver,
        base_domain: str,
        require_https: bool,
        extra_origins: list[str],
    ) -> None:
        self.app = app
        self.resolver = resolver
        self.base_domain = base_domain
        self.require_https = require_https
        self.extra_origins = {o.rstrip("/").lower() for o in extra_origins}

    async def allowed(self, origin: str, scope: Scope) -> bool:
        if origin.lower() in self.extra_origins:
            return True
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or parts.path or not parts.hostname:
            return False
        if self.require_https and parts.scheme != "https":
            return False
        target = parse_host(parts.hostname, self.base_domain)
        host_tenant = scope.get("state", {}).get("host_tenant")
        if host_tenant is None:
            # the platform's own host: only the platform's own pages
            return target.kind is HostKind.BASE and parts.hostname == self.base_domain
        if target.kind not in (HostKind.SLUG, HostKind.DOMAIN):
            return False
        tenant = await self.resolver.resolve(target)
        return tenant is not None and tenant.id == host_tenant.id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        origin = headers.get(b"origin", b"").decode("latin-1").strip()
        if not origin:
            await self.app(scope, receive, send)
            return
        ok = await self.allowed(origin, scope)
        request_id = scope.get("state", {}).get("request_id")
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            if not ok:
                response = error_response(403, "FORBIDDEN", "Origin not allowed", request_id)
                response.headers["Vary"] = "Origin"
                await response(scope, receive, send)
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        *self._grant(origin),
                        (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
                        (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
                        (b"access-control-max-age", MAX_AGE.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if not ok:
            if scope["method"] == "POST":
                response = error_response(403, "FORBIDDEN", "Origin not allowed", request_id)
                response.headers["Vary"] = "Origin"
                await response(scope, receive, send)
                return
            await self.app(scope, receive, self._vary(send))
            return

        async def send_granted(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *self._grant(origin)],
                }
            await send(message)

        await self.app(scope, receive, send_granted)

    @staticmethod
    def _grant(origin: str) -> list[tuple[bytes, bytes]]:
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-expose-headers", b"x-request-id"),
            (b"vary", b"Origin"),
        ]

    @staticmethod
    def _vary(send: Send) -> Send:
        async def send_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"vary", b"Origin")],
                }
            await send(message)

        return send_vary
