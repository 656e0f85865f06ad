"""An insurer, as the cashier types its name on an assessment or a settlement.

There is no list of insurers to pick from: the name is typed, and the same insurer comes as
"Ping An", "ping an ", "PING  AN" or, from a Chinese input method, full-width "ＰＩＮＧ ＡＮ".
A name is kept as `insurer_name` reads it and what it owes is grouped by `insurer_key`: a typed
payer name's form and key (`domain/payer_name.py`), so the typed forms of one insurer are one
payer (names kept before, as typed, fall into the same group).
"""

from __future__ import annotations

from domain.payer_name import payer_name, payer_name_key


def insurer_name(value: str) -> str:
    """The name as kept: NFKC (full-width as ASCII), trimmed, runs of whitespace one space."""
    return payer_name(value)


def insurer_key(value: str) -> str:
    """What tells insurers apart: the name as kept, case folded."""
    return payer_name_key(value)
