"""Identifiers that are ASCII by nature, as a Chinese input method types them.

A front desk typing with a Chinese input method in full-width mode sends "ＬＳＶＡＵ２１８…" for a
VIN, "沪Ａ１２３４５" for a plate, "１３８００１３８０００" for a phone, and an ideographic space
(U+3000) where it meant a blank. Each is unambiguously the ASCII identifier: `ascii_width` reads
it so, before an identifier is validated and put in the form kept, so one car, one phone or one
part number is never kept, or looked for, as two.

Only full-width ASCII (U+FF01-U+FF5E) and the ideographic space are folded: NFKC (as a payer's
name is read, domain/payer_name.py) would also turn a Latin long s, a Kelvin sign or a ligature
into ASCII letters, and a letter of another script is no character of a VIN or a serial.
"""

from __future__ import annotations

_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_WIDENED = {ascii: wide for wide, ascii in _FULL_WIDTH.items() if wide != 0x3000}


def ascii_width(text: str) -> str:
    """`text` with full-width ASCII as ASCII and ideographic spaces as spaces; the rest as is."""
    return text.translate(_FULL_WIDTH)


def full_width(text: str) -> str:
    """`text` as an input method in full-width mode types it: the way back of `ascii_width`
    (spaces stay spaces), to find what was kept as typed before identifiers were read as ASCII."""
    return text.translate(_WIDENED)


def code_form(value: object) -> str:
    """A code as kept (a part number, an op code, a campaign number): full-width ASCII read as
    ASCII, without blanks, in upper case; a value that is not text is the empty code."""
    return "".join(ascii_width(value if isinstance(value, str) else "").split()).upper()
