"""VIN (ISO 3779 with the North-American check digit used by PRC GB 16735) and plates."""

from __future__ import annotations

import re

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


def vin_check_digit(vin: str) -> str:
    total = sum(_TRANSLITERATION[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def normalise_vin(raw: str) -> str:
    """Upper-case, validated VIN; raises InvalidInput with the reason."""
    vin = raw.strip().upper()
    if not _VIN_SHAPE.match(vin):
        raise InvalidInput("VIN must be 17 characters of A-Z (no I, O, Q) and 0-9", vin=raw)
    expected = vin_check_digit(vin)
    if vin[8] != expected:
        raise InvalidInput(f"VIN check digit is {vin[8]}, expected {expected}", vin=raw)
    return vin


def normalise_plate(raw: str) -> str:
    plate = re.sub(r"[\s·.-]", "", raw.strip().upper())
    if not _PLATE_SHAPE.match(plate):
        raise InvalidInput("plate is not a mainland China plate (e.g. 沪A12345)", plate=raw)
    return plate
