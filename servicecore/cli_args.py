"""Bounded numbers for the command line: what a size option may ask for, refused by argparse
(exit 2, `argument --months: …`) before anything is built, written or held in memory."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def whole(low: int, high: int) -> Callable[[str], int]:
    """An int from `low` to `high`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not within {low:,}-{high:,}")
        return value

    return parse


def share(high: float) -> Callable[[str], float]:
    """A finite float above 0 and at most `high`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (math.isfinite(value) and 0 < value <= high):
            raise argparse.ArgumentTypeError(f"{text} is not above 0 and at most {high:g}")
        return value

    return parse
