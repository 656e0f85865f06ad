"""An insurer, as the cashier types its name on an assessment or a settlement.

There is no list of insurers to pick from: the name is typed, and the same insurer comes as
"Ping An", "ping an ", "PING  AN" or, from a Chinese input method, full-width "ＰＩＮＧ ＡＮ".
A name is kept as `insurer_name` reads it — full-width letters and digits as ASCII (NFKC),
no whitespace at either end and one space where there were several — and what it owes is
grouped by `insurer_key`, the same with case folded, so the typed forms of one insurer are one
payer (names kept before, as typed, fall into the same group).
"""

from __future__ import annotations

import unicodedata


def insurer_name(value: str) -> str:
    """The name as kept: NFKC (full-width as ASCII), trimmed, runs of whitespace one space."""
    return " ".join(unicodedata.normalize("NFKC", value).split())


def insurer_key(value: str) -> str:
    """What tells insurers apart: the name as kept, case folded."""
    return insurer_name(value).casefold()
