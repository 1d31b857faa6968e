"""The process's telemetry wiring from the settings: metric labels, `/metrics`, tracing, Sentry."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import metrics
from app.errortracking import check_dsn, init_sentry
from app.hosts import HostKind, HostTarget, TenantResolver
from app.settings import ConfigurationError, Settings
from app.tracing import check_exporter, create_tracer_provider, shutdown

log = structlog.get_logger("tenantgraph.telemetry")
MIN_METRICS_TOKEN = 16


@dataclass
class Telemetry:
    settings: Settings
    tracer_provider: Any = None
    _server: Any = None

    @staticmethod
    def check(settings: Settings) -> None:
        """Refuse telemetry settings that cannot work (a ConfigurationError naming the setting):
        `serve` checks them before it starts anything."""
        token = settings.metrics_token
        if token is not None and len(token.get_secret_value()) < MIN_METRICS_TOKEN:
            raise ConfigurationError(
                f"TENANTGRAPH_METRICS_TOKEN must be at least {MIN_METRICS_TOKEN} characters long"
            )
        if settings.sentry_dsn is not None:
            check_dsn(settings.sentry_dsn.get_secret_value())
        check_exporter(settings.otel_exporter)

    @classmethod
    def from_settings(cls, settings: Settings) -> Telemetry:
        cls.check(settings)
        metrics.configure(
            tenants=settings.metrics_tenants, tenant_limit=settings.metrics_tenant_limit
        )
        if settings.sentry_dsn is not None:
            init_sentry(settings.sentry_dsn.get_secret_value(), environment=settings.env.value)
        provider = create_tracer_provider(
            settings.otel_exporter, service_name=settings.otel_service_name
        )
        return cls(settings, provider)

    def routes(self) -> list[Route]:
        """`/metrics` on the API itself, only when a bearer token protects it."""
        if self.settings.metrics_token is None:
            return []
        expected = f"Bearer {self.settings.metrics_token.get_secret_value()}".encode()

        async def metrics_endpoint(request: Request) -> Response:
            given = request.headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(given, expected):
                return Response(
                    "unauthorized\n",
                    status_code=401,
                    media_type="text/plain",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            body, content_type = metrics.exposition()
            return Response(body, media_type=content_type)

        return [Route("/metrics", metrics_endpoint, methods=["GET"])]

    async def learn_tenant_slugs(self, resolver: TenantResolver) -> None:
        """The ids of the tenants the metrics allow-list names by slug, so that they get their
        label from the first request, wherever it comes from (a request on the bare base domain
        names its tenant by id alone). A tenant created later is learned when its host is first
        called; a database that cannot answer now only delays that."""
        for entry in self.settings.metrics_tenants:
            try:
                uuid.UUID(entry)
                continue  # an id: allowed as it is
            except ValueError:
                pass
            try:
                found = await resolver.resolve(HostTarget(HostKind.SLUG, entry.lower()))
            except Exception as exc:
                log.warning("metrics tenant not resolved", slug=entry, error=type(exc).__name__)
                continue
            if found is None:
                log.warning("metrics tenant not found", slug=entry)

    def start(self) -> None:
        """The metrics port, when one is configured (every worker process has its own
        counters: with several workers, give each its own port or use one worker)."""
        if self.settings.metrics_port is None or self._server is not None:
            return
        from prometheus_client import start_http_server

        try:
            self._server, _thread = start_http_server(
                self.settings.metrics_port,
                addr=self.settings.metrics_host,
                registry=metrics.REGISTRY,
            )
        except OSError as exc:
            log.warning("metrics port unavailable", port=self.settings.metrics_port, error=str(exc))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        shutdown(self.tracer_provider)
