"""Repair quality-guarantee periods (维修质量保证期), counted from completion: the class of a
visit's repair, and how long (days or km, whichever ends first) a return of the vehicle for the
same complaint counts as a comeback.

The class comes from the labor operation codes, the way the skill does (`domain.skills`): a
prefix of the normalised code (letters and digits only, upper case) names it; the longest
matching prefix wins; a code no prefix names is a minor repair. A visit takes the class of its
approved labor operation with the longest guarantee (an engine overhaul with an oil change is
an assembly repair); a visit without approved labor is a minor repair.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Guarantee:
    repair_class: str
    days: int
    km: int
    about: str


# longest guarantee last: the order is the rank a visit's class is chosen by
GUARANTEES: tuple[Guarantee, ...] = (
    Guarantee("minor", 10, 2_000, "first-level maintenance, minor and special repairs"),
    Guarantee("second_level", 30, 5_000, "second-level maintenance (二级维护)"),
    Guarantee("assembly", 100, 20_000, "whole-vehicle or assembly repair (overhaul)"),
)
DEFAULT_CLASS = "minor"
# op-code prefix (normalised) -> repair class; codes no prefix names are DEFAULT_CLASS
OP_CODE_CLASSES: dict[str, str] = {
    "ENGOH": "assembly", "TRNOH": "assembly", "GBXOH": "assembly", "ASSY": "assembly",
    "MNTL2": "second_level",
}
RANK = {g.repair_class: rank for rank, g in enumerate(GUARANTEES)}


def normalised(op_code: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", op_code.upper())


def class_of_op_code(op_code: str) -> str:
    code = normalised(op_code)
    matches = [prefix for prefix in OP_CODE_CLASSES if code.startswith(prefix)]
    return OP_CODE_CLASSES[max(matches, key=len)] if matches else DEFAULT_CLASS


def class_of_visit(op_codes: Iterable[str]) -> str:
    """The class of a visit from its approved labor operations: the longest guarantee."""
    return max((class_of_op_code(c) for c in op_codes), key=RANK.__getitem__,
               default=DEFAULT_CLASS)
