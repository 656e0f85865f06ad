"""How a KPI's quotient is made, once for every place that reports it: from exact figures
(clocked time in whole seconds, hours sold and available as recorded, money in fen), divided
exactly and rounded once, half up — ratios to 4 places, money to the fen. Hours (sold,
available, clocked) are shown to 2 places, as flat-rate hours are recorded: never divided
further.

The workshop's `/technicians/kpi` and the analytics catalogue (`/analytics/kpis/{name}`, the
dashboard) both call these, so the same hours give the same figure wherever it is shown.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

RATIO = Decimal("0.0001")
FEN = Decimal("0.01")
HOURS = Decimal("0.01")
SECONDS_PER_HOUR = 3600


def quotient(top: Decimal | int | None, bottom: Decimal | int | None, places: Decimal = RATIO
             ) -> Decimal | None:
    """`top` ÷ `bottom` rounded half up to `places`; None where `bottom` is not positive."""
    if bottom is None or bottom <= 0:
        return None
    return (Decimal(top or 0) / Decimal(bottom)).quantize(places, ROUND_HALF_UP)


def efficiency(sold_hours: Decimal | None, clocked_seconds: int | None) -> Decimal | None:
    """Flat-rate hours sold ÷ hours clocked on jobs (may exceed 1)."""
    return quotient(Decimal(sold_hours or 0) * SECONDS_PER_HOUR, clocked_seconds)


def productivity(clocked_seconds: int | None, available_hours: Decimal | None) -> Decimal | None:
    """Hours clocked on jobs ÷ hours available (attendance)."""
    return quotient(clocked_seconds, Decimal(available_hours or 0) * SECONDS_PER_HOUR)


def unapplied(clocked_seconds: int | None, available_hours: Decimal | None) -> Decimal | None:
    """Unapplied time: (hours available − hours clocked) ÷ hours available, the complement of
    `productivity` as rounded, so that the two add up to 1 (at a tie in the fifth place
    productivity takes the half, as it is rounded half up, and unapplied the rest)."""
    share = productivity(clocked_seconds, available_hours)
    return None if share is None else 1 - share


def proficiency(sold_hours: Decimal | None, available_hours: Decimal | None) -> Decimal | None:
    """Flat-rate hours sold ÷ hours available."""
    return quotient(sold_hours, available_hours)


def labor_rate(sales_ex_vat: Decimal | None, hours_sold: Decimal | None) -> Decimal | None:
    """Effective labor rate: labor sales without VAT ÷ labor hours sold, to the fen."""
    return quotient(sales_ex_vat, hours_sold, FEN)


def labor_margin(sales_ex_vat: Decimal | None, cost: Decimal | None) -> Decimal | None:
    """Labor gross margin: (labor sales without VAT − labor cost) ÷ labor sales, from the two
    amounts as shown (to the fen)."""
    return quotient(Decimal(sales_ex_vat or 0) - Decimal(cost or 0), sales_ex_vat)


def hours(value: Decimal | int | None) -> Decimal:
    """Hours sold or available as shown: to 2 places, half up ("15.30", "3.00")."""
    return Decimal(value or 0).quantize(HOURS, ROUND_HALF_UP)


def clocked_hours(clocked_seconds: int | None) -> Decimal:
    """Seconds on the clock as hours, to 2 places, half up, for showing (never divided
    further)."""
    return hours(Decimal(clocked_seconds or 0) / SECONDS_PER_HOUR)


def fill_rate(demand: int | None, emergency_purchases: int | None,
              lost_sales: int | None) -> Decimal | None:
    """Parts fill rate (DOMAIN.md): (demand − emergency purchases − lost sales) ÷ demand, in
    lines; at least 0 (a period with more emergency lines than demand fills nothing), None
    without demand."""
    filled = max((demand or 0) - (emergency_purchases or 0) - (lost_sales or 0), 0)
    return quotient(filled, demand)
