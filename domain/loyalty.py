"""Loyalty points: earned on paid customer amounts, spent first-in first-out, expiring, and
taken back when the money they were earned on is refunded.

Points are whole numbers: paid CNY × rate, rounded down. Each earning is a lot with its own
expiry day; a redemption takes the oldest lots that have not expired. A refund of a settled
visit takes back what its earning gave beyond what the amount still paid earns; what the live
balance can no longer give (redeemed or lapsed) is a shortfall, recorded and not owed: the
balance never goes below zero. Refunded money paid again gives back what the earning's net
paid amount earns again: first by forgiving the shortfall, then as points in the earning's lot.
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
        return points_at(paid, self.rate)

    def expires_on(self, earned_on: date) -> date:
        return add_months(earned_on, self.expiry_months)

    def value_of(self, points: int) -> Decimal:
        return (self.point_value * points).quantize(CENT)


def points_at(paid: Decimal, rate: Decimal) -> int:
    return int((paid * rate).to_integral_value(rounding=ROUND_FLOOR))


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


def take_back(lots: list[dict[str, Any]], reference: str, refunded: Decimal, today: date,
              rules: LoyaltyRules) -> tuple[int, list[dict[str, Any]]]:
    """The points a refund of `refunded` on the earning `reference` takes back, and the lots
    they come from: (points due, takes); the takes may give less than is due (the shortfall).

    Due is what the earning gave less what its paid amount, net of every refund of it, earns
    at the earning's rate (rounded down as then), less what earlier refunds took back or fell
    short of: refunds in parts take back what one refund of their sum would. They come from
    the earning's own lot while it is live, then from the other live lots, oldest first.
    """
    lot = next((lot for lot in lots if lot["reference"] == reference), None)
    if lot is None:
        return 0, []
    rate = Decimal(str(lot.get("rate", rules.rate)))
    paid = Decimal(str(lot["paid"])) if "paid" in lot else Decimal(int(lot["points"])) / rate
    left = paid - Decimal(str(lot.get("refunded", 0))) - refunded
    due = max(0, int(lot["points"]) - int(lot.get("taken_back", 0))
              - points_at(max(left, Decimal(0)), rate))
    own = [lot] if live(lot, today) else []
    takes, wanted = [], due
    for source in [*own, *(other for other in lots if other is not lot and live(other, today))]:
        if wanted == 0:
            break
        take = min(wanted, int(source["remaining"]))
        takes.append({"reference": source["reference"], "points": take})
        wanted -= take
    return due, takes


def give_back(lots: list[dict[str, Any]], reference: str, paid_again: Decimal,
              rules: LoyaltyRules) -> tuple[Decimal, int, int]:
    """What refunded money of the earning `reference` paid again restores: (the amount that
    counts, at most what was refunded; points given back into the earning's lot; shortfall
    forgiven). Together they make the earning hold what its paid amount net of refunds earns
    (rounded down as then), as if the refund had been of the smaller sum alone."""
    lot = next((lot for lot in lots if lot["reference"] == reference), None)
    if lot is None:
        return paid_again, 0, 0
    refunded = Decimal(str(lot.get("refunded", 0)))
    counted = min(paid_again, refunded)
    rate = Decimal(str(lot.get("rate", rules.rate)))
    paid = Decimal(str(lot["paid"])) if "paid" in lot else Decimal(int(lot["points"])) / rate
    holds = int(lot["points"]) - int(lot.get("taken_back", 0))
    restored = max(0, points_at(paid - refunded + counted, rate) - holds)
    forgiven = min(restored, int(lot.get("short", 0)))
    return counted, restored - forgiven, forgiven
