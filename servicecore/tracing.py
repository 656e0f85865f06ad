"""OpenTelemetry tracing of the API, optional: `pip install 'servicecore[tracing]'` and
`SERVICECORE_TRACING=otlp` (or `console`).

Each request becomes a server span named by its route template, exported in batches over
OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; the
standard OTEL_* variables apply), as `OTEL_SERVICE_NAME` (default `servicecore-api`). Log
lines written inside a span carry its `trace_id` and `span_id` (servicecore/logs.py). A
progress link's token is taken out of the span's URL attributes as it is out of the access
log. Without the extra installed nothing here is imported.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from domain.request_target import redacted_target

Tracing = Literal["off", "otlp", "console"]
EXCLUDED_URLS = "/health,/metrics"  # probes and scrapes would drown the traces
_URL_ATTRIBUTES = ("http.target", "url.path", "url.query", "http.url", "url.full")
log = logging.getLogger(__name__)


class TracingUnavailable(RuntimeError):
    """Tracing was asked for but the `tracing` extra is not installed."""


def redacted_url_attributes(attributes: Any) -> dict[str, str]:
    """The URL attributes of a span with the progress-link token and query tokens taken out."""
    changed: dict[str, str] = {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key) if attributes else None
        if not isinstance(value, str):
            continue
        if key in ("http.url", "url.full"):
            parts = urlsplit(value)
            target = redacted_target(parts.path, parts.query)
            path, _, query = target.partition("?")
            redacted = urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))
        elif key == "url.query":
            redacted = redacted_target("", value).lstrip("?")
        else:
            path, _, query = value.partition("?")
            redacted = redacted_target(path, query)
        if redacted != value:
            changed[key] = redacted
    return changed


def install_tracing(app: Any, mode: Tracing, exporter: Any = None) -> Any:
    """Instrument the FastAPI app; the tracer provider, or None when `mode` is off.

    `exporter` replaces the configured one (tests pass an in-memory exporter, exported at
    once instead of in batches)."""
    if mode == "off" and exporter is None:
        return None
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError as exc:
        raise TracingUnavailable(
            f"SERVICECORE_TRACING={mode} needs the tracing extra: "
            f"pip install 'servicecore[tracing]' ({exc})") from None

    provider = TracerProvider(resource=Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME", "servicecore-api")}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif mode == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))

    def server_request_hook(span: Any, scope: dict[str, Any]) -> None:
        if span is not None and span.is_recording():
            for key, value in redacted_url_attributes(getattr(span, "attributes", None)).items():
                span.set_attribute(key, value)

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider,
                                       excluded_urls=EXCLUDED_URLS,
                                       server_request_hook=server_request_hook)
    log.info("tracing on (%s)", "test exporter" if exporter is not None else mode)
    return provider
