"""Bounded numbers for the command line: what a size option may ask for, refused by argparse
(exit 2, `argument --months: …`) before anything is built, written or held in memory. They are
written as the API takes them (domain.money.PLAIN_NUMBER): int() and float() also took
"1_000", "+5", " 5", "1e9" and non-ASCII digits."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from domain.money import plainly_written

LAST_ID = 2**63 - 1  # bigint's largest notification id


def whole(low: int, high: int) -> Callable[[str], int]:
    """An int from `low` to `high`."""

    def parse(text: str) -> int:
        if not plainly_written(text) or "." in text:
            raise argparse.ArgumentTypeError(f"not a whole number in ASCII digits: {text!r}")
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not within {low:,}-{high:,}")
        return value

    return parse


def share(high: float) -> Callable[[str], float]:
    """A finite float above 0 and at most `high`."""

    def parse(text: str) -> float:
        if not plainly_written(text):
            raise argparse.ArgumentTypeError(f"not a number in ASCII digits: {text!r}")
        value = float(text)
        if not (math.isfinite(value) and 0 < value <= high):
            raise argparse.ArgumentTypeError(f"{text} is not above 0 and at most {high:g}")
        return value

    return parse
