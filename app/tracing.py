"""OpenTelemetry spans, when an exporter is configured (`TENANTGRAPH_OTEL_EXPORTER`).

The provider belongs to the app, not to the process-wide global: two apps in one process (tests)
do not share spans, and nothing is recorded while no exporter is configured."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Tracer

from app.settings import ConfigurationError

EXPORTERS = ("none", "console", "otlp")


def create_tracer_provider(
    exporter: str, *, service_name: str = "tenantgraph", span_exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """A provider exporting to `span_exporter` (tests), the console, or OTLP over HTTP (the
    `otlp` extra; the endpoint comes from the standard OTEL_EXPORTER_OTLP_* variables)."""
    if span_exporter is None and exporter == "none":
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if span_exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    elif exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        check_exporter(exporter)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        raise ConfigurationError(f"TENANTGRAPH_OTEL_EXPORTER must be one of {', '.join(EXPORTERS)}")
    return provider


def check_exporter(exporter: str) -> None:
    """A ConfigurationError unless `exporter` is known and, for OTLP, installed."""
    if exporter not in EXPORTERS:
        raise ConfigurationError(f"TENANTGRAPH_OTEL_EXPORTER must be one of {', '.join(EXPORTERS)}")
    if exporter == "otlp":
        try:
            import opentelemetry.exporter.otlp.proto.http.trace_exporter  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "TENANTGRAPH_OTEL_EXPORTER=otlp needs the OTLP exporter: "
                "pip install 'tenantgraph[otlp]'"
            ) from None


def tracer_of(provider: TracerProvider | None) -> Tracer | None:
    return provider.get_tracer("tenantgraph") if provider is not None else None


def shutdown(provider: Any) -> None:
    if provider is not None:
        provider.shutdown()
