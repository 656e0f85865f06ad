"""The plain grammar of numbers written as text (domain.money.PLAIN_NUMBER), as the API's
`Number` and `Whole` and the command line read it: what it accepts reads back as the same
value, digit for digit; every lenient form Python's int(), float() or Decimal() would also
read as that value is refused."""

from __future__ import annotations

import argparse
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from api.deps import _expected_version
from api.numbers import Number, Whole
from domain.common import InvalidInput
from domain.money import plainly_written
from servicecore.cli_args import share, whole

NUMBER, WHOLE = TypeAdapter(Number), TypeAdapter(Whole)
# Blanks str.strip() (and so int() and Decimal()) takes off; digits of other scripts that
# int() and Decimal() read: Arabic-Indic, Extended Arabic-Indic, Devanagari, Bengali, Thai,
# full-width.
BLANKS = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\u00a0", "\u2003", "\u3000"]
ZEROS = ["\u0660", "\u06f0", "\u0966", "\u09e6", "\u0e50", "\uff10"]

decimals = st.decimals(min_value=Decimal(-10) ** 14, max_value=Decimal(10) ** 14,
                       allow_nan=False, allow_infinity=False, places=3) | st.decimals(
    min_value=-1, max_value=1, allow_nan=False, allow_infinity=False, places=12)
plain_decimals = decimals.map(lambda d: format(d, "f")).filter(
    lambda text: not (text.startswith("-") and Decimal(text) == 0))
plain_wholes = st.integers(min_value=-(10**15), max_value=10**15).map(str)


@given(plain_decimals)
def test_a_plain_decimal_reads_back_digit_for_digit(text: str) -> None:
    assert plainly_written(text)
    value = NUMBER.validate_python(text)
    assert format(value, "f") == text  # the same digits, the same decimals


@given(plain_wholes)
def test_a_plain_whole_number_reads_back_the_same(text: str) -> None:
    assert plainly_written(text)
    assert str(WHOLE.validate_python(text)) == text
    assert whole(-(10**15), 10**15)(text) == int(text)


@st.composite
def lenient(draw: st.DrawFn, plain: st.SearchStrategy[str]) -> tuple[str, str]:
    """A plain number and a lenient way of writing the same value, which Decimal() reads."""
    text = draw(plain)
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    ways = ["plus", "blank", "digit", "exponent", "point"]
    pairs = [i for i in digits if i + 1 in digits]
    if pairs:
        ways.append("underscore")
    way = draw(st.sampled_from(ways))
    if way == "plus":
        text = text.removeprefix("-")
        written = "+" + text
    elif way == "blank":
        before = draw(st.lists(st.sampled_from(BLANKS), max_size=2))
        after = draw(st.lists(st.sampled_from(BLANKS), min_size=0 if before else 1, max_size=2))
        written = "".join(before) + text + "".join(after)
    elif way == "digit":
        at = draw(st.sampled_from(digits))
        written = text[:at] + chr(ord(draw(st.sampled_from(ZEROS))) + int(text[at])) + \
            text[at + 1:]
    elif way == "exponent":
        written = text + draw(st.sampled_from(["e0", "E0", "e+0", "E-0", "e00"]))
    elif way == "point":  # "12." or ".5"
        whole_part, point, fraction = text.partition(".")
        if not point:
            written = text + "."
        elif whole_part.lstrip("-") == "0":
            written = whole_part.removesuffix("0") + "." + fraction
        else:
            written = text + "e0"  # "1.5" has no such form
    else:
        at = draw(st.sampled_from(pairs))
        written = text[:at + 1] + "_" + text[at + 1:]
    return text, written


@given(lenient(plain_decimals))
def test_a_leniently_written_decimal_is_refused(pair: tuple[str, str]) -> None:
    text, written = pair
    assert Decimal(written) == Decimal(text)  # Python reads it as that number
    assert not plainly_written(written)
    with pytest.raises(ValidationError) as refused:
        NUMBER.validate_python(written)
    assert refused.value.errors()[0]["type"] == "plain_number"
    with pytest.raises(argparse.ArgumentTypeError):
        share(10.0**16)(written)


@given(lenient(plain_wholes))
def test_a_leniently_written_whole_number_is_refused(pair: tuple[str, str]) -> None:
    text, written = pair
    assert Decimal(written) == int(text)
    with pytest.raises(ValidationError) as refused:
        WHOLE.validate_python(written)
    assert refused.value.errors()[0]["type"] == "plain_number"
    with pytest.raises(argparse.ArgumentTypeError):
        whole(-(10**16), 10**16)(written)


@pytest.mark.parametrize("text", ["-0", "-0.0", "-00.000", "", "-", ".", "1.2.3", "0x10",
                                  "Infinity", "NaN", "١٢"])
def test_what_is_no_plain_number(text: str) -> None:
    assert not plainly_written(text)


@pytest.mark.parametrize("value", [True, False])
def test_true_and_false_are_not_numbers(value: bool) -> None:
    for adapter in (NUMBER, WHOLE):
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_json_numbers_are_taken_as_before() -> None:
    assert NUMBER.validate_python(100.0) == 100
    assert NUMBER.validate_json("1e2") == 100
    assert WHOLE.validate_python(42000.0) == 42000
    assert WHOLE.validate_json("4.2e4") == 42000


@pytest.mark.parametrize(("if_match", "version"), [
    ('"7"', 7), ('W/"7"', 7), ("7", 7), (' "7"\t', 7), ('"007"', 7), ('"7-masked"', 7),
    ('W/"7-masked"', 7)])
def test_an_if_match_as_an_etag_is_a_version(if_match: str, version: int) -> None:
    assert _expected_version(if_match) == version


@pytest.mark.parametrize("if_match", ['"7', '7"', "W/7", '"\u00a07"', '\u00a0"7"', '"７"',
                                     '"+7"', '"7_0"', '"7.0"', '"7"\n', "", '"7-"',
                                     "7-masked", '"7-other"'])
def test_an_if_match_otherwise_written_is_refused(if_match: str) -> None:
    with pytest.raises(InvalidInput):
        _expected_version(if_match)
