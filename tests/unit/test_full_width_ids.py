"""Identifiers that are ASCII by nature, typed with a Chinese input method in full-width mode:
a full-width VIN, plate, phone or part number (with ideographic spaces around) is the ASCII one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ascii_width import ascii_width
from domain.common import InvalidInput
from domain.counter import parse_number
from domain.customers import normalise_phone
from domain.part import normalise_part_number, part_details
from domain.vehicle_ids import normalise_plate, normalise_vin, vin_check_digit
from domain.work_order_evidence import serial_number

VIN_CHARACTERS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
IDEOGRAPHIC_SPACE = "\u3000"


def full_width(text: str) -> str:
    """`text` as a Chinese input method in full-width mode types it (a space stays a space)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@st.composite
def vins(draw: st.DrawFn) -> str:
    raw = draw(st.text(VIN_CHARACTERS, min_size=17, max_size=17))
    return raw[:8] + vin_check_digit(raw) + raw[9:]


plates = st.builds(
    lambda province, letter, rest, last: province + letter + rest + last,
    st.sampled_from("京沪粤苏浙川鲁豫"), st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ"),
    st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=4, max_size=5),
    st.sampled_from("0123456789ABCD学警"))
phones = st.one_of(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
                   st.from_regex(r"\+86 1[3-9][0-9]{9}", fullmatch=True),
                   st.from_regex(r"0[1-9][0-9]{1,2}-[0-9]{7,8}", fullmatch=True))
part_numbers = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", fullmatch=True)
spaced = st.tuples(st.integers(0, 2), st.integers(0, 2))


def typed(text: str, around: tuple[int, int], lower: bool = False) -> str:
    wide = full_width(text.lower() if lower else text)
    return IDEOGRAPHIC_SPACE * around[0] + wide + IDEOGRAPHIC_SPACE * around[1]


@given(vins(), spaced, st.booleans())
def test_a_full_width_vin_is_the_ascii_vin(vin: str, around: tuple[int, int],
                                           lower: bool) -> None:
    assert normalise_vin(typed(vin, around, lower)) == normalise_vin(vin) == vin


@given(plates, spaced, st.booleans())
def test_a_plate_typed_in_full_width_is_the_ascii_plate(plate: str, around: tuple[int, int],
                                                        lower: bool) -> None:
    kept = normalise_plate(typed(plate, around, lower))
    assert kept == normalise_plate(plate) == plate
    assert kept[0] == plate[0]  # the province stays a character


@given(phones, spaced)
def test_a_full_width_phone_is_the_ascii_phone(phone: str, around: tuple[int, int]) -> None:
    kept = normalise_phone(typed(phone, around))
    assert kept == normalise_phone(phone) and kept.isascii() and kept.isdigit()


@given(part_numbers, spaced)
def test_a_full_width_part_number_is_the_ascii_one(number: str,
                                                   around: tuple[int, int]) -> None:
    assert normalise_part_number(typed(number, around)) == normalise_part_number(number)


@pytest.mark.parametrize(("typed_as", "kept"), [
    ("沪Ａ１２３４５", "沪A12345"),
    ("沪ａ\u3000１２３４５", "沪A12345"),
    ("粤Ｂ１２３４学", "粤B1234学"),
])
def test_plates_as_an_input_method_types_them(typed_as: str, kept: str) -> None:
    assert normalise_plate(typed_as) == kept


@pytest.mark.parametrize("raw", ["١٣٨٠٠١٣٨٠٠٠", "１３８００１３８０００x", "１２３"])
def test_a_phone_of_other_digits_is_refused(raw: str) -> None:
    """Digits of another script are no phone a front desk dials: refused, never kept as typed."""
    with pytest.raises(InvalidInput, match="phone"):
        normalise_phone(raw)


@pytest.mark.parametrize("typed_as", ["ＷＯ－Ｓ０１－２０２６－０００１２３",
                                      "\u3000wo-S01-２０２６-000123\u3000"])
def test_a_document_number_typed_in_full_width_is_the_ascii_one(typed_as: str) -> None:
    assert str(parse_number(typed_as)) == "WO-S01-2026-000123"


def test_a_full_width_barcode_is_kept_in_ascii() -> None:
    details = part_details({"name": "oil filter", "unit": "pc", "category": "maintenance",
                            "barcode": "\u3000６９２０１２３４５６７８９\u3000"})
    assert details["barcode"] == "6920123456789"


def test_only_full_width_ascii_and_the_ideographic_space_are_folded() -> None:
    assert ascii_width("ＬＳＶ\u3000！～") == "LSV !~"
    # a Latin long s, a Kelvin sign, a ligature, a half-width katakana: left as they are
    assert ascii_width("ſK\ufb01ｱ沪") == "ſK\ufb01ｱ沪"
    with pytest.raises(InvalidInput):
        serial_number("ſN-1234")
    assert serial_number("ｓｎ－１２３４") == "SN-1234"
