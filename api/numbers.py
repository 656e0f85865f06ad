"""The numbers every request takes, in one plain grammar wherever they come from.

A quantity, amount, rate or hours in a JSON body, and a limit, offset, job number or
notification id in a query or path, is either a JSON number (as JSON writes it: exponents
included, `1e2` is 100) or text in `domain.money.PLAIN_NUMBER`: `120.00`, `-3`, `0.13`.
Anything else pydantic would have read leniently (`"1_000"`, `"+5"`, `" 12 "`, `"1e2"`,
`"１２"`, `true` as 1) is refused as invalid input naming the field; the value is never echoed.
So is a zero with a minus, as a string (`"-0"`, `"-0.00"`) or as a JSON number (`-0`, `-0.0`)
alike: no amount, quantity or hours anyone means, and the string was refused from the start.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from api.json_bodies import NegativeZero
from domain.money import (
    PLAIN_NUMBER,
    PLAIN_NUMBER_RULE,
    plainly_written,
    written_negative_zero,
)

NEGATIVE_ZERO = "Must not be a negative zero: a zero has no sign (send 0, not -0)"


def negative_zero(value: Any) -> bool:
    """Whether `value` is a zero written with a minus: the string "-0" or "-0.00", the JSON
    number `-0`, `-0.0` or `-0e2` (api/json_bodies.py keeps its sign), a float -0.0."""
    if isinstance(value, str):
        return written_negative_zero(value)
    if isinstance(value, Decimal):
        return value.is_zero() and value.is_signed()
    if isinstance(value, float):
        return value == 0 and math.copysign(1.0, value) < 0
    return isinstance(value, NegativeZero)


def plain(value: Any) -> Any:
    """`value` if it is a JSON number or a plainly written one; otherwise a validation error
    of type `plain_number` (its message never quotes the value). A negative zero is refused
    as a number as it is as a string: a zero has no sign."""
    if isinstance(value, bool):
        raise PydanticCustomError("plain_number", "Must be a number, not true or false")
    if negative_zero(value):
        raise PydanticCustomError("plain_number", NEGATIVE_ZERO)
    if isinstance(value, str) and not plainly_written(value):
        raise PydanticCustomError("plain_number", "Must be " + PLAIN_NUMBER_RULE)
    return value


class _PlainText:
    """Says in the OpenAPI document which strings a decimal takes (its other bounds kept)."""

    @staticmethod
    def __get_pydantic_json_schema__(schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        found = handler(schema)
        for branch in found.get("anyOf", []):
            if branch.get("type") == "string":
                branch["pattern"] = f"^{PLAIN_NUMBER.pattern}$"
        return found


# The check, for a number whose bounds are given in the same `Annotated` (a query or path
# parameter, a field type of its own): it goes after them, `Annotated[int, Query(ge=1), Plain]`.
# Put first, the bounds could no longer be applied to the number itself: on an optional one
# they were checked against None too (a 500), and the OpenAPI document lost them.
Plain = BeforeValidator(plain)
# A body field's types, its bounds in its `Field(...)`: `hours: Number = Field(gt=0)`.
# A decimal (amount, quantity, rate, hours): a JSON number or a string in the grammar.
Number = Annotated[Decimal, Plain, _PlainText()]
NumberOrNone = Annotated[Decimal | None, Plain, _PlainText()]
# A whole number (mileage, a count, a line or job number): the same, whole.
Whole = Annotated[int, Plain]
WholeOrNone = Annotated[int | None, Plain]
