"""How a log line looks in each format, inside and outside a request; what the logs may show
of a request's target."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator

import pytest

from api import log_context
from api.log_context import LogContextFilter
from domain.request_target import redacted_target
from servicecore import logs
from servicecore.logs import JsonFormatter, TextFormatter, resolve


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter("worker-relay"))
    log = logging.getLogger("servicecore.test.format")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield log, stream, handler
    finally:
        log.removeHandler(handler)
        log.propagate = True


def test_text_lines_name_the_request_only_inside_one(
        logger: tuple[logging.Logger, io.StringIO, logging.Handler]) -> None:
    log, stream, handler = logger
    handler.setFormatter(TextFormatter())
    log.info("outside")
    entry, token = log_context.begin("cid-7")
    log_context.identify("adv-li", "advisor", ("S01", "S02"))
    log.info("inside")
    log_context.name_store("S02")
    log.info("store named")
    log_context.end(token)
    outside, inside, named = stream.getvalue().splitlines()
    assert outside.endswith("INFO servicecore.test.format outside")
    assert inside.endswith("inside [cid-7 adv-li S01,S02]")
    assert named.endswith("store named [cid-7 adv-li S02]")
    assert entry.store == "S02" and log_context.current() is None


def test_json_lines_carry_extra_fields_and_tracebacks(
        logger: tuple[logging.Logger, io.StringIO, logging.Handler]) -> None:
    log, stream, handler = logger
    handler.setFormatter(JsonFormatter())
    try:
        raise ValueError("bad batch")
    except ValueError:
        log.exception("batch failed", extra={"position": 42})
    line = json.loads(stream.getvalue())
    assert line["message"] == "batch failed" and line["level"] == "ERROR"
    assert line["position"] == 42 and line["service"] == "worker-relay"
    assert line["correlation_id"] is None and line["user"] is None
    assert "ValueError: bad batch" in line["exc"]
    assert line["ts"].endswith("Z")


def test_json_for_the_long_running_processes_text_for_commands() -> None:
    assert resolve("auto", long_running=True) == "json"
    assert resolve("auto", long_running=False) == "text"
    assert resolve("text", long_running=True) == "text"
    assert resolve("json", long_running=False) == "json"


@pytest.mark.parametrize(("path", "query", "logged"), [
    ("/progress/AbC-_9", "", "/progress/[redacted]"),
    ("/progress/AbC-_9.json", "wait_for=7", "/progress/[redacted].json?wait_for=7"),
    ("/progress/AbC-_9/decisions", "", "/progress/[redacted]/decisions"),
    ("/analytics/dashboard", "lang=en&token=eyJx.y.z",
     "/analytics/dashboard?lang=en&token=[redacted]"),
    ("/x", "access_token=1&form_token=2&tokens=3",
     "/x?access_token=[redacted]&form_token=[redacted]&tokens=[redacted]"),
    ("/work-orders/5f0c", "store_id=S01", "/work-orders/5f0c?store_id=S01"),
    ("/work-orders", "customer_phone=13712345678&limit=5",
     "/work-orders?customer_phone=[redacted]&limit=5"),
])
def test_what_the_logs_show_of_a_target(path: str, query: str, logged: str) -> None:
    assert redacted_target(path, query) == logged


def test_a_correlation_id_is_kept_only_when_it_is_printable_and_short() -> None:
    assert log_context.correlation_id_from("desk 42/A") == "desk 42/A"
    for bad in ("", "a\nb", "x" * 201, "中文", None):
        assert log_context.correlation_id_from(bad) != bad


def test_python_warnings_are_log_lines_too() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    logging.captureWarnings(False)  # undo an earlier configure() in this process, if any
    logs.configure("json", "worker-projections", stream=stream)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a library's deprecation", UserWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["logger"] == "py.warnings" and "a library's deprecation" in entry["message"]


def test_a_system_run_names_its_correlation_id_and_actor_on_every_line_and_nests(
        logger: tuple[logging.Logger, io.StringIO, logging.Handler]) -> None:
    log, stream, handler = logger
    handler.setFormatter(JsonFormatter())
    with logs.system_run("invoice-backfill") as run:
        log.info("started")
        with logs.system_run("inner") as inner:  # a run inside a round: the round's id
            log.info("inner")
    log.info("after")
    started, nested, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inner is run and len(run.correlation_id) == 36
    assert (started["correlation_id"], started["user"], started["role"], started["store"]) == (
        run.correlation_id, "invoice-backfill", "system", "*")
    assert nested["correlation_id"] == run.correlation_id and nested["user"] == "invoice-backfill"
    assert after["correlation_id"] is None and log_context.current() is None
    with logs.system_run("invoice-backfill") as second:
        pass
    assert second.correlation_id != run.correlation_id  # one id per run
