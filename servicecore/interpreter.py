"""Mends for the interpreter this service runs on, installed once per process on import.

CPython before 3.11.8 keeps the AST builder's recursion counter in state shared by all threads
(python/cpython#106905, fixed by #113035). When the cyclic collector runs a finalizer in the
middle of `ast.parse`, another thread can parse in between and the first one fails with
"SystemError: AST constructor recursion depth mismatch". Tracebacks call `ast.parse` (3.11 marks
the failing expression), so two threads logging errors at once could lose a log line, and a
library describing a function from its source could fail a request. Here every parse runs alone
and with the collector paused, so no Python code (and no other parse) can run inside one.
"""

from __future__ import annotations

import ast
import functools
import gc
import sys
import threading
from typing import Any

AFFECTED = sys.version_info < (3, 11, 8)
_parse_lock = threading.Lock()


def _serialized(parse: Any) -> Any:
    @functools.wraps(parse)
    def parse_alone(*args: Any, **kwargs: Any) -> Any:
        with _parse_lock:
            collecting = gc.isenabled()
            gc.disable()
            try:
                return parse(*args, **kwargs)
            finally:
                if collecting:
                    gc.enable()

    parse_alone.__servicecore_serialized__ = True  # type: ignore[attr-defined]
    return parse_alone


def mend_ast_parse() -> bool:
    """Serialize `ast.parse` where the interpreter needs it; True if it is (now) mended."""
    if not AFFECTED:
        return False
    if not getattr(ast.parse, "__servicecore_serialized__", False):
        ast.parse = _serialized(ast.parse)
    return True
