"""How every process logs: one JSON object per line (default for `serve` and the workers), or
text for reading by eye (`SERVICECORE_LOG_FORMAT`).

Each line carries the request's correlation id, user, role and store while a request is being
handled (api/log_context.py; null outside one), the process's `service` (api,
worker-projections, …) and any fields the call passed in `extra` (the access line's method,
route, status, duration_ms, …).
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any, Literal

import orjson

from api import log_context
from api.log_context import LogContextFilter, RequestLog


def _otel_trace() -> Any:
    """opentelemetry's trace API when installed (the tracing extra): lines inside a span
    name it."""
    try:
        return importlib.import_module("opentelemetry.trace")
    except ImportError:
        return None


otel_trace = _otel_trace()

LogFormat = Literal["auto", "json", "text"]
CONTEXT = ("correlation_id", "user", "role", "store", "service")
# Attributes every LogRecord has: what is left over came in through `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "color_message", *CONTEXT}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, built cheaply: it is written for every request (the
    access line), so the time stamp's seconds are formatted once per second and orjson
    encodes (json only for what orjson refuses, e.g. an integer past 64 bits)."""

    _second: tuple[int, str] = (-1, "")  # the last second seen, formatted

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT:
            line[key] = getattr(record, key, None)
        line["thread"] = record.threadName
        if otel_trace is not None:
            span = otel_trace.get_current_span().get_span_context()
            if span.is_valid:
                line["trace_id"] = format(span.trace_id, "032x")
                line["span_id"] = format(span.span_id, "016x")
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:
            return json.dumps(line, ensure_ascii=False, default=str)

    def _timestamp(self, created: float) -> str:
        """`2026-03-01T08:15:02.123Z` (UTC, milliseconds)."""
        second = int(created)
        cached, text = self._second
        if second != cached:
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, text)
        return f"{text}.{min(999, round((created - second) * 1e6) // 1000):03d}Z"


class TextFormatter(logging.Formatter):
    """The classic line, with `[correlation id user store]` while a request is handled."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id is None:
            return text
        who = " ".join(str(v) for v in (correlation_id, getattr(record, "user", None),
                                        getattr(record, "store", None)) if v)
        return f"{text} [{who}]"


@contextmanager
def system_run(user: str, role: str = "system") -> Iterator[RequestLog]:
    """The log context of a run no request started (a retention round, a backfill, a
    migration, an import): one correlation id for the whole run, which the events it records
    carry as well (`GET /audit/events?correlation_id=`), on every line logged meanwhile, with
    `user` (the run's actor), `role` and store `*`. Inside a run already open (a timer's round
    around the run it calls) it is that one's, so a round's lines and events share one id."""
    entry = log_context.current()
    if entry is not None:
        yield entry
        return
    entry, token = log_context.begin(log_context.correlation_id_from(None))
    entry.user, entry.role, entry.stores = user, role, ("*",)
    try:
        yield entry
    finally:
        log_context.end(token)


def resolve(log_format: LogFormat, long_running: bool) -> Literal["json", "text"]:
    """`auto`: JSON for the long-running processes (serve, workers), text for commands."""
    if log_format == "auto":
        return "json" if long_running else "text"
    return log_format


def configure(log_format: Literal["json", "text"], service: str | None = None,
              level: str = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """One handler on the root logger (replacing any), to stderr unless `stream` is given.

    Python's warnings go through it too (logger `py.warnings`), so that a JSON log holds
    nothing but JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(LogContextFilter(service))
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    return handler
