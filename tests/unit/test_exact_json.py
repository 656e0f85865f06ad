"""A JSON body read exactly (api/json_bodies.py): a number with a fraction or an exponent is
the decimal it writes, digit for digit, and reads as its string would; an exponent cannot
make a number longer than 4300 digits, nor may it have more than 8600 significant ones; NaN
and Infinity are found where they stand. And the
idempotency fingerprint (domain/idempotency.py) of a body whose numbers a float held exactly
is the one it had when they were read as floats."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from api.errors import NumberTooLong
from api.json_bodies import parse
from api.numbers import Number, Whole
from api.schemas import LaborLineIn, WorkOrderOpen
from api.schemas_stock import PartIn
from domain.common import InvalidInput
from domain.idempotency import request_hash
from domain.money import money, quantity


@st.composite
def json_decimals(draw: st.DrawFn, max_digits: int = 30) -> str:
    """A number as JSON writes it without an exponent: up to `max_digits` digits, no
    leading zero, a minus only before a number that is not zero."""
    digits = draw(st.text("0123456789", min_size=1, max_size=max_digits))
    point = draw(st.integers(1, len(digits)))
    whole, fraction = digits[:point].lstrip("0") or "0", digits[point:]
    text = whole + (f".{fraction}" if fraction else "")
    return "-" + text if draw(st.booleans()) and Decimal(text) != 0 else text


# A number a float cannot hold, though its first digits fit any field: the float dropped
# the last digit (10.0000000000000000001 was 10.0), where the same string is refused.
past_a_float = st.builds(lambda whole, zeros, last: f"{whole}.{'0' * zeros}{last}",
                         st.integers(0, 10**6), st.integers(14, 22), st.integers(1, 9))
decimal_texts = json_decimals() | past_a_float
# A zero as JSON and the plain grammar both write it, with or without a minus and decimals.
zero_texts = st.builds(lambda minus, places: f"{minus}0" + (f".{'0' * places}" if places else ""),
                       st.sampled_from(["", "-"]), st.integers(0, 3))


def number_in(text: str) -> Any:
    return parse(f'{{"n": {text}}}'.encode()).document["n"]


@given(decimal_texts)
def test_a_json_number_is_read_digit_for_digit(text: str) -> None:
    read = number_in(text)
    if "." in text:
        assert isinstance(read, Decimal) and format(read, "f") == text
    else:
        assert type(read) is int and str(read) == text


def _outcome(adapter: TypeAdapter[Any], value: Any, stored: Any) -> tuple[str, Any]:
    try:
        read = adapter.validate_python(value)
    except ValidationError:
        return "refused by the schema", None
    try:
        kept = stored(read)
    except InvalidInput as exc:
        return "refused by the domain", exc.detail
    return "kept", (type(kept), kept.as_tuple() if isinstance(kept, Decimal) else kept)


FIELDS = [  # a body field, and what the domain keeps of it
    (LaborLineIn, "hours", lambda v: quantity(v, "hours")),
    (LaborLineIn, "hourly_rate", lambda v: money(v, "hourly rate")),
    (PartIn, "list_price", lambda v: money(v, "list price")),
    (PartIn, "min_stock", lambda v: quantity(v, "min stock", 12, allow_zero=True)),
    (WorkOrderOpen, "mileage", lambda v: v),
]

def _adapter(model: Any, name: str) -> TypeAdapter[Any]:
    field = model.model_fields[name]
    return TypeAdapter(field.rebuild_annotation())


@given(zero_texts | decimal_texts, st.sampled_from(FIELDS))
def test_a_json_number_reads_as_its_string_would(text: str, field: Any) -> None:
    """Accepted or refused alike, and kept as the same decimal, digit for digit: the float
    read `0.1000000000000000001` as 0.1 and took it where the string was refused; `-0` and
    `-0.0` were taken as 0 where "-0" and "-0.0" were refused (a zero has no sign)."""
    model, name, stored = field
    adapter = _adapter(model, name)
    assert _outcome(adapter, number_in(text), stored) == _outcome(adapter, text, stored)


@pytest.mark.parametrize(("text", "today"), [("12", 12), ("12.0", 12), ("1e2", 100),
                                             ("3E4", 30000), ("0.0", 0)])
def test_a_whole_number_takes_what_it_took_as_a_float(text: str, today: int) -> None:
    whole = TypeAdapter(Whole)
    assert whole.validate_python(number_in(text)) == whole.validate_python(float(text)) == today


@pytest.mark.parametrize("text", ["12.5", "12.00000000000000000001", "0.1"])
def test_a_whole_number_with_a_fraction_is_refused(text: str) -> None:
    """`12.00000000000000000001` was the float 12.0, and taken."""
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(Whole).validate_python(number_in(text))
    assert refused.value.errors()[0]["type"] == "int_from_float"


@pytest.mark.parametrize(("text", "read"), [
    ("1e2", "100"), ("1E+2", "100"), ("1.5e1", "15"), ("1.50e1", "15.0"), ("15e-1", "1.5"),
    ("0e5", "0"), ("1e100", "1" + "0" * 100)])
def test_an_exponent_is_read_in_plain_notation(text: str, read: str) -> None:
    """Exactly, and as it is written out: 1e2 is 100 (the float made it 100.0), never 1E+2."""
    number = number_in(text)
    assert str(number) == read and number.as_tuple() == Decimal(read).as_tuple()
    assert TypeAdapter(Number).validate_python(number) == Decimal(read)


@pytest.mark.parametrize("text", ["1e4300", "-1e4300", "1e999999999", "1e99999999999999999999",
                                  "1e-5000", "123e-4400", "0e-999999"])
def test_an_exponent_past_4300_digits_is_refused(text: str) -> None:
    """Read exactly, 1e999999999 was a whole number int() takes minutes to build (the float
    was infinite), and 1e99999999999999999999 no Decimal holds."""
    with pytest.raises(NumberTooLong):
        number_in(text)


@pytest.mark.parametrize("text", ["1e4299", "1e-4300", "0." + "0" * 20_000,
                                  "0." + "0" * 5_000 + "1", "1" * 4300 + ".5"])
def test_digits_written_out_are_read_as_a_string_of_them_would_be(text: str) -> None:
    """The body limit bounds them, as it bounds a string of the same digits."""
    assert number_in(text) == Decimal(text)


@pytest.mark.parametrize(("over", "at"), [
    ("0." + "1" * 8601, "0." + "1" * 8600), ("1.5" + "0" * 8599, "1.5" + "0" * 8598),
    ("1" * 4300 + "." + "1" * 4301, "1" * 4300 + "." + "1" * 4300),
    ("1" * 8601 + "e-8600", "1" * 8600 + "e-8600"),
    ("-0.000" + "7" * 8601, "-0." + "0" * 20_000 + "7" * 8600)])
def test_more_than_8600_significant_digits_are_refused(over: str, at: str) -> None:
    """pydantic's check that a number is whole took time growing with the square of its
    digits: 0.111… with 200,000 ones, sent to an int field, took 2 s to refuse. 8,600 (zeros
    before the first other digit not counted) are read."""
    with pytest.raises(NumberTooLong) as refused:
        number_in(over)
    assert refused.value.detail == "a number in the body has more than 8600 significant digits"
    assert number_in(at) == Decimal(at)


def test_nan_and_infinity_are_found_where_they_stand() -> None:
    parsed = parse(b'{"a": [1, {"b": NaN}], "c": Infinity, "d": -Infinity, "e": 1.5}')
    assert parsed.not_finite == [("a", 1, "b"), ("c",), ("d",)]
    assert parse(b"NaN").not_finite == [()]
    assert parse(b'{"a": 1.5, "b": "NaN"}').not_finite == []


def test_a_name_given_twice_is_found_where_it_stands() -> None:
    parsed = parse(b'{"a": 1, "a": 2, "b": [{"c": 1, "c": 1.5}], "d": {"e": 1}}')
    assert parsed.repeated == [("a",), ("b", 0, "c")]
    assert parsed.document["a"] == 2  # the last, as Python's parser keeps


# --- the idempotency fingerprint ---------------------------------------------------------

def legacy_hash(path: str, body: str) -> str:
    """The fingerprint as it was computed before: the body's numbers read as floats."""
    document = json.loads(body) if body else None
    canonical = json.dumps({"path": path, "body": document}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Written:
    """A number as a client may write it."""

    def __init__(self, text: str) -> None:
        self.text = text


def notations(value: float) -> list[Written]:
    """Ways of writing the number Python writes as repr(value), each with a fraction or an
    exponent (so each was read as that float): its repr, trailing zeros, an exponent."""
    shortest = Decimal(repr(value))
    sign, digits, exponent = shortest.as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    minus = "-" if sign else ""
    fixed = format(shortest, "f")
    fixed += "00" if "." in fixed else ".0"
    scientific = f"{minus}{mantissa[0]}.{mantissa[1:] or '0'}e{exponent + len(mantissa) - 1}"
    upper = f"{minus}{mantissa}0E{exponent - 1:+04d}" if shortest else f"{minus}0E-3"
    return [Written(text) for text in (repr(value), fixed, scientific, upper)]


def as_json(value: Any) -> str:
    if isinstance(value, Written):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {as_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(as_json(v) for v in value) + "]"
    return json.dumps(value)


numbers = st.floats(allow_nan=False, allow_infinity=False).flatmap(
    lambda value: st.sampled_from(notations(value)))
leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | numbers
documents = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                         max_leaves=20)


@given(st.text(max_size=30), documents)
def test_a_body_whose_numbers_floats_held_keeps_its_fingerprint(path: str, body: Any) -> None:
    """A retry with the same Idempotency-Key across the change matches the first request."""
    text = as_json(body)
    assert request_hash(path, parse(text).document) == legacy_hash(path, text)


@given(st.integers(10**17, 10**25), st.integers(-30, 5), st.integers(1, 9))
def test_numbers_past_the_17th_digit_are_told_apart(coefficient: int, exponent: int,
                                                    step: int) -> None:
    """Two bodies the float read as one number were one request; now they are two, and
    neither shares the fingerprint of the float they were rounded to."""
    first, second = (Decimal(f"{c}e{exponent}") for c in (coefficient, coefficient + step))
    assume(float(first) == float(second))
    assume(Decimal(repr(float(first))) not in (first, second))  # neither is the float
    bodies = [f'{{"qty": {format(n, "f")}{"" if "." in format(n, "f") else ".0"}}}'
              for n in (first, second)]
    rounded = f'{{"qty": {float(first)!r}}}'
    assert legacy_hash("/p", bodies[0]) == legacy_hash("/p", bodies[1])
    new = {request_hash("/p", parse(body).document) for body in (*bodies, rounded)}
    assert len(new) == 3
