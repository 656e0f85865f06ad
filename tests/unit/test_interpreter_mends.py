"""The AST builder's thread race on CPython < 3.11.8 (python/cpython#106905) cannot hit us.

Four threads parse source while leaving cycles whose finalizers run Python code, so the collector
hands the GIL over in the middle of a parse. Unmended, 3.11.7 fails within a quarter second with
"SystemError: AST constructor recursion depth mismatch"; a traceback formatted in one thread while
another parses is the same race (3.11's traceback module parses the failing line).
"""

from __future__ import annotations

import ast
import threading
import time
import traceback

import pytest

from servicecore.interpreter import AFFECTED, mend_ast_parse

SOURCE = "\n".join(f"def f{i}(a, b):\n    return [a + b * {i} for _ in range(3)] or {{'k': (a, b)}}"
                   for i in range(300))


class Litter:
    """A cycle member whose finalizer runs Python code (and lets another thread in)."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0)


def index_past_the_end(items: list[int]) -> int:
    """Raises IndexError from a subscript: formatting its traceback parses that line."""
    return items[len(items)]


def parse_in_threads(seconds: float) -> list[BaseException]:
    errors: list[BaseException] = []
    stop = time.monotonic() + seconds

    def work(index: int) -> None:
        while time.monotonic() < stop and not errors:
            litter = [Litter() for _ in range(50)]
            del litter
            try:
                if index % 2:
                    ast.parse(SOURCE)
                else:
                    try:
                        index_past_the_end([1])
                    except IndexError as error:
                        traceback.format_exception(error)
            except SystemError as error:
                errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.skipif(not AFFECTED, reason="this interpreter builds ASTs per call")
def test_parsing_in_many_threads_never_trips_the_recursion_counter() -> None:
    assert mend_ast_parse(), "importing servicecore mends ast.parse"
    assert getattr(ast.parse, "__servicecore_serialized__", False)
    assert parse_in_threads(1.5) == []


def test_the_mend_keeps_what_ast_parse_answers() -> None:
    mend_ast_parse()
    tree = ast.parse("x = 1 + 2", mode="exec")
    assert ast.dump(tree) == ast.dump(compile("x = 1 + 2", "<unknown>", "exec", ast.PyCF_ONLY_AST))
    with pytest.raises(SyntaxError):
        ast.parse("x = (")
    before = ast.parse
    assert mend_ast_parse() is AFFECTED
    assert ast.parse is before, "mending twice does not wrap twice"
