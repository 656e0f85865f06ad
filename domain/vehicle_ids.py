"""VIN (ISO 3779 with the North-American check digit used by PRC GB 16735) and plates.

Both are read as a Chinese input method types them (domain/ascii_width.py): a full-width VIN,
or a plate's letters and digits in full width ("沪Ａ１２３４５"), is kept in its ASCII form, so
one car is never registered, or looked for, under two numbers."""

from __future__ import annotations

import re

from domain.ascii_width import ascii_width
from domain.common import InvalidInput

_TRANSLITERATION = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_SHAPE = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
# Mainland plates: province character, letter, then 5 (fuel) or 6 (new-energy) characters.
_PLATE_SHAPE = re.compile(r"^[\u4e00-\u9fff][A-Z][A-Z0-9]{4,5}[A-Z0-9\u4e00-\u9fff]$")
_PLATE_REST_SHAPE = re.compile(r"^[A-Z][A-Z0-9]{4,5}[A-Z0-9\u4e00-\u9fff]$")


def vin_check_digit(vin: str) -> str:
    total = sum(_TRANSLITERATION[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def normalise_vin(raw: str, field: str = "vin") -> str:
    """Upper-case, validated VIN (full-width read as ASCII); raises InvalidInput with the reason,
    naming the request's `field` that carried it (`vehicle.vin` in a body's vehicle)."""
    vin = ascii_width(raw).strip().upper()
    if not _VIN_SHAPE.match(vin):
        raise InvalidInput("VIN must be 17 characters of A-Z (no I, O, Q) and 0-9", vin=raw,
                           field=field)
    expected = vin_check_digit(vin)
    if vin[8] != expected:
        raise InvalidInput(f"VIN check digit is {vin[8]}, expected {expected}", vin=raw,
                           field=field)
    return vin


def plate_without_province(raw: str) -> str | None:
    """A plate typed without its province character, as the desk types it when the input
    method is off (`A12345` of 沪A12345): the rest of the plate as kept, or None for what is
    no such rest (it has a digit, as every plate's rest has, so a name is never one)."""
    rest = re.sub(r"[\s·.-]", "", ascii_width(raw).strip().upper())
    if not _PLATE_REST_SHAPE.match(rest) or not any(c.isdigit() for c in rest):
        return None
    return rest


def normalise_plate(raw: str, field: str = "plate") -> str:
    """The plate as kept: full-width letters and digits as ASCII, upper case, no separators;
    refused naming the request's `field` that carried it."""
    plate = re.sub(r"[\s·.-]", "", ascii_width(raw).strip().upper())
    if not _PLATE_SHAPE.match(plate):
        raise InvalidInput("plate is not a mainland China plate (e.g. 沪A12345)", plate=raw,
                           field=field)
    return plate
