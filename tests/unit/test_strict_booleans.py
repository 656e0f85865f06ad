"""A yes-or-no of a body (api/booleans.py) is a JSON true or false: pydantic's lax forms (`0`,
`1`, `1.0`, "yes", "off", …) are refused naming the field, and an app whose route takes a
body with a bool field of pydantic's kind does not start."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field, ValidationError

from api.booleans import Boolean, lax
from api.json_bodies import JsonBodyRoute, parse
from api.main import refuse_lax_booleans

LAX = [0, 1, 0.0, 1.0, Decimal("1.0"), "true", "false", "yes", "no", "on", "off", "t", "f",
       "1", "0", "True", [], {}]


class _Decided(BaseModel):
    approve: Boolean
    checked: Boolean | None = None


def _errors(document: Any) -> list[tuple[str, tuple[str | int, ...]]]:
    try:
        _Decided.model_validate(document)
    except ValidationError as exc:
        return [(e["type"], e["loc"]) for e in exc.errors()]
    return []


@pytest.mark.parametrize("value", LAX, ids=repr)
def test_anything_but_true_or_false_is_refused_naming_the_field(value: Any) -> None:
    assert _errors({"approve": value}) == [("plain_boolean", ("approve",))]
    assert _errors({"approve": True, "checked": value}) == [("plain_boolean", ("checked",))]


@pytest.mark.parametrize("text", ["0", "1", "1.0", "0e0", "-0"])
def test_a_number_as_the_body_parser_reads_it_is_refused(text: str) -> None:
    """The exact parser's numbers (a Decimal, the int-like `NegativeZero`) are no booleans."""
    assert _errors(parse(f'{{"approve": {text}}}').document) == \
        [("plain_boolean", ("approve",))]


def test_true_false_and_null_where_optional_are_taken() -> None:
    for value in (True, False):
        assert _Decided.model_validate({"approve": value, "checked": value}).approve is value
    assert _Decided.model_validate({"approve": False, "checked": None}).checked is None
    assert _errors({"approve": None}) == [("plain_boolean", ("approve",))]


def test_the_message_says_what_to_send_and_never_quotes_the_value() -> None:
    with pytest.raises(ValidationError) as found:
        _Decided.model_validate({"approve": "nope"})
    message = found.value.errors()[0]["msg"]
    assert message.startswith("Must be true or false") and "nope" not in message


def test_the_schema_still_says_boolean() -> None:
    properties = _Decided.model_json_schema()["properties"]
    assert properties["approve"]["type"] == "boolean"
    assert properties["checked"]["anyOf"] == [{"type": "boolean"}, {"type": "null"}]


@pytest.mark.parametrize(("annotation", "lenient"), [
    (bool, True), (bool | None, True), (list[bool], True), (dict[str, bool | None], True),
    (Annotated[bool, Field(description="x")], True), (Boolean, False),
    (Boolean | None, False), (list[Boolean], False), (dict[str, Boolean], False),
    (int, False), (str | None, False),
])
def test_a_lax_bool_is_found_wherever_it_stands(annotation: Any, lenient: bool) -> None:
    assert lax(annotation) is lenient


class _Flag(BaseModel):
    on: bool


class _Item(BaseModel):
    flags: list[bool]
    strict: Boolean


class _Order(BaseModel):
    items: list[_Item]
    urgent: Boolean | None = None


def _take_strict(decided: _Decided) -> None:
    """A route taking a body whose booleans are strict."""


def _take_flag(flag: _Flag) -> None:
    """A route taking a body with a lax bool."""


def _take_order(order: _Order) -> None:
    """A route taking a body with a lax bool nested in a list of items."""


def test_an_app_with_a_lax_bool_in_a_body_does_not_start() -> None:
    """A new body model cannot bring pydantic's lax bool back unseen."""
    app = FastAPI()
    strict = APIRouter(prefix="/strict", route_class=JsonBodyRoute)
    strict.add_api_route("/decisions", _take_strict, methods=["POST"])
    app.include_router(strict)
    refuse_lax_booleans(app)  # every bool of every body is a Boolean: no complaint
    lenient = APIRouter(prefix="/lenient", route_class=JsonBodyRoute)
    lenient.add_api_route("/flags", _take_flag, methods=["POST"])
    lenient.add_api_route("/orders", _take_order, methods=["POST"])
    app.include_router(lenient)
    with pytest.raises(RuntimeError, match=r"false only\): _Flag\.on, _Item\.flags$"):
        refuse_lax_booleans(app)
