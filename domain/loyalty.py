"""Loyalty points: earned on paid customer amounts, spent first-in first-out, expiring.

Points are whole numbers: paid CNY × rate, rounded down. Each earning is a lot with its own
expiry day; a redemption takes the oldest lots that have not expired.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from domain.days import add_months
from domain.money import CENT


@dataclass(frozen=True)
class LoyaltyRules:
    rate: Decimal = Decimal("0.1")  # points per CNY paid: 1 point per 10 CNY
    expiry_months: int = 24
    point_value: Decimal = Decimal("0.10")  # CNY a point is worth when redeemed

    def points_for(self, paid: Decimal) -> int:
        return int((paid * self.rate).to_integral_value(rounding=ROUND_FLOOR))

    def expires_on(self, earned_on: date) -> date:
        return add_months(earned_on, self.expiry_months)

    def value_of(self, points: int) -> Decimal:
        return (self.point_value * points).quantize(CENT)


def live(lot: Mapping[str, Any], today: date) -> bool:
    """A lot counts until the day before its expiry day."""
    return int(lot["remaining"]) > 0 and date.fromisoformat(lot["expires_on"]) > today


def balance(lots: Iterable[Mapping[str, Any]], today: date) -> int:
    return sum(int(lot["remaining"]) for lot in lots if live(lot, today))


def expired_takes(lots: Iterable[Mapping[str, Any]], today: date) -> list[dict[str, Any]]:
    """What expires by `today`: each lapsed lot's remaining points."""
    return [{"reference": lot["reference"], "points": int(lot["remaining"])} for lot in lots
            if int(lot["remaining"]) > 0 and not live(lot, today)]


def fifo_takes(lots: Iterable[Mapping[str, Any]], points: int,
               today: date) -> list[dict[str, Any]]:
    """The live lots a redemption of `points` uses, oldest earning first."""
    takes, left = [], points
    for lot in lots:
        if left == 0:
            break
        if live(lot, today):
            take = min(left, int(lot["remaining"]))
            takes.append({"reference": lot["reference"], "points": take})
            left -= take
    return takes
