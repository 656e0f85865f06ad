"""A yes-or-no field of a JSON body is a JSON `true` or `false`, nothing else.

A quality check's `passed`, a consent's `granted`, a manager's `approve`: a decision the audit
trail keeps as who decided what. Pydantic reads a bool leniently: `0` and `1`, `0.0` and `1.0`,
and the strings "true", "false", "yes", "no", "on", "off", "t", "f", "1" and "0". A check sent
as `"passed": "no"` or `"passed": 0` was taken as a guess at what the client meant; now it is
refused as invalid input naming the field (`plain_boolean`), the value never echoed. A field
that may be left out or null is `Boolean | None`: `null` is taken there, and only there.

Every body field that takes a boolean is a `Boolean`: `refuse_lax_booleans` (api/main.py)
stops the start of an app with a route whose body has a bool field of pydantic's lax kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, get_args, get_origin

from fastapi.routing import APIRoute
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from api.json_bodies import body_fields, takes_json

PLAIN_BOOLEAN_RULE = "true or false, as JSON writes them (not a number or a string)"


def boolean(value: Any) -> bool:
    """`value` if it is True or False; otherwise a validation error of type `plain_boolean`
    (its message never quotes the value)."""
    if not isinstance(value, bool):
        raise PydanticCustomError("plain_boolean", "Must be " + PLAIN_BOOLEAN_RULE)
    return value


_CHECK = BeforeValidator(boolean)
# A body field that takes a yes or no: `passed: Boolean`; `Boolean | None` takes null too.
# The OpenAPI document still says `boolean`.
Boolean = Annotated[bool, _CHECK]


def lax(annotation: Any, metadata: Iterable[Any] = ()) -> bool:
    """Whether a field of this type (with this metadata) takes a boolean somewhere as pydantic
    reads one, `"yes"` and `1` included: a `bool` not made a `Boolean`. A model it names is not
    looked into (`body_fields` visits its fields)."""
    if _CHECK in metadata:
        return False
    if annotation is bool:
        return True
    if get_origin(annotation) is Annotated:
        inner, *more = get_args(annotation)
        return lax(inner, more)
    return any(lax(arg) for arg in get_args(annotation) if not isinstance(arg, str | int))


def lax_boolean_fields(routes: Iterable[APIRoute]) -> list[str]:
    """The body fields of these routes that read a boolean leniently, as `Model.field`."""
    return sorted({f"{found.model.__name__}.{found.name}" for route in routes
                   if takes_json(route) for found in body_fields(route)
                   if lax(found.field.annotation, found.field.metadata)})
