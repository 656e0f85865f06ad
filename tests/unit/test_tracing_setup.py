"""Tracing is off unless asked for, and asked for without its extra it refuses to start."""

from __future__ import annotations

import sys

import pytest
from fastapi import FastAPI

from servicecore.tracing import TracingUnavailable, install_tracing, redacted_url_attributes


def test_off_installs_nothing() -> None:
    app = FastAPI()
    assert install_tracing(app, "off") is None
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)


def test_asked_for_without_the_extra_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.fastapi", None)
    with pytest.raises(TracingUnavailable, match=r"servicecore\[tracing\]"):
        install_tracing(FastAPI(), "otlp")


def test_span_urls_lose_the_link_token() -> None:
    token = "Q" * 70
    attributes = {"http.target": f"/progress/{token}?wait_for=3",
                  "http.url": f"https://service.example/progress/{token}/decisions",
                  "url.path": f"/progress/{token}.json", "url.query": "token=abc&limit=1",
                  "http.route": "/progress/{token}"}
    assert redacted_url_attributes(attributes) == {
        "http.target": "/progress/[redacted]?wait_for=3",
        "http.url": "https://service.example/progress/[redacted]/decisions",
        "url.path": "/progress/[redacted].json", "url.query": "token=[redacted]&limit=1"}
