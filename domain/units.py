"""Units of measure: which are counted in whole pieces, and which may be split.

A part's unit is free text in the part master (`pc`, `set`, `L`, …). Pads come in sets and
bulbs in pieces: half a set is no stock a clerk can hold or issue. Oil, coolant, cable or
grease come in litres, kilograms or metres and are measured, so they stay fractional; so does
any unit not named here, as every unit was before.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from domain.common import InvalidInput

WHOLE_UNITS = frozenset({
    "pc", "pcs", "piece", "pieces", "ea", "each", "unit", "units", "set", "sets", "pair",
    "pairs", "kit", "kits", "box", "boxes", "roll", "rolls", "个", "件", "只", "套", "对",
    "副", "盒", "条", "把",
})


def counted_in_pieces(unit: str) -> bool:
    return unit.strip().lower() in WHOLE_UNITS


def require_whole(qty: Decimal, unit: str, field: str) -> Decimal:
    """The quantity, refused (422 naming `field`) when the unit is counted in whole pieces and
    the quantity is not a whole number of them."""
    if counted_in_pieces(unit) and qty != qty.to_integral_value():
        raise InvalidInput(f"{qty} {unit}: a {unit} is counted in whole pieces", field=field,
                           unit=unit)
    return qty


def pieces_up(qty: Decimal, unit: str) -> Decimal:
    """A computed quantity (a reorder suggestion) in whole pieces where the unit is counted in
    them, a fraction of one rounded up; as it is otherwise."""
    if counted_in_pieces(unit) and qty != qty.to_integral_value():
        return qty.to_integral_value(rounding=ROUND_CEILING)
    return qty
