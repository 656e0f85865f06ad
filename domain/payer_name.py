"""A payer named by typing: an insurer on an assessment or a draft, the OEM as the vehicle's
brand, a department paying for internal work.

There is no list to pick from, so one payer comes as "Ping An", "ping an ", "PING  AN" or, from
a Chinese input method, full-width "ＰＩＮＧ ＡＮ" (and "Volkswagen", "VOLKSWAGEN",
"ＶＯＬＫＳＷＡＧＥＮ" for an OEM). `payer_name` is the form a name is kept and shown in —
full-width letters and digits as ASCII (NFKC), no whitespace at either end and one space where
there were several — and `payer_name_key`, the same with case folded, is what tells payers
apart: the typed forms of one payer are one group of what it owes.
"""

from __future__ import annotations

import unicodedata


def payer_name(value: str) -> str:
    """The name as kept: NFKC (full-width as ASCII), trimmed, runs of whitespace one space."""
    return " ".join(unicodedata.normalize("NFKC", value).split())


def payer_name_key(value: str) -> str:
    """What tells payers apart: the name as kept, case folded."""
    return payer_name(value).casefold()
