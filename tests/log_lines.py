"""The JSON log lines a block of code writes, as the processes write them (servicecore/logs.py):
for tests that follow a line to what it is about."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from api.log_context import LogContextFilter
from servicecore.logs import JsonFormatter


@contextmanager
def json_lines(level: int = logging.INFO) -> Iterator[list[dict[str, Any]]]:
    """The lines logged (at `level` and up, any logger) inside the block, parsed, in the list
    yielded once the block ends."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter("test"))
    handler.setFormatter(JsonFormatter())
    handler.setLevel(level)
    root = logging.getLogger()
    was = root.level
    root.addHandler(handler)
    root.setLevel(min(was, level) if was else level)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(was)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def of(lines: list[dict[str, Any]], logger: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == logger]
