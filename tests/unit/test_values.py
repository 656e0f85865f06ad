"""Value objects validated once at the edge: VIN, plate, money and sealed personal data."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID, uuid4

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from domain.common import InvalidInput
from domain.money import gross, money, quantity, total, vat_included
from domain.pii import ERASED, MemoryKeyStore, PersonalData
from domain.vehicle_ids import (
    normalise_plate,
    normalise_vin,
    plate_without_province,
    vin_check_digit,
)

VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
CHECK_CHARACTERS = "0123456789X"

# -- VIN ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("vin", [
    "1M8GDM9AXKP042788", "LSVAU218XN2183294", "1HGCM82633A004352", "JH4KA7561PC008269",
    "11111111111111111",
])
def test_known_vins_are_valid(vin: str) -> None:
    assert vin_check_digit(vin) == vin[8]
    assert normalise_vin(vin) == vin


def test_vin_is_trimmed_and_upper_cased() -> None:
    assert normalise_vin("  lsvau218xn2183294 ") == "LSVAU218XN2183294"


@pytest.mark.parametrize("vin", ["LSVAU2180N2183294", "1M8GDM9A1KP042788", "1HGCM82643A004352"])
def test_wrong_check_digit_is_refused(vin: str) -> None:
    with pytest.raises(InvalidInput, match="check digit"):
        normalise_vin(vin)


@pytest.mark.parametrize("letter", ["I", "O", "Q"])
def test_letters_i_o_q_are_refused(letter: str) -> None:
    vin = "LSVAU218XN2183294"
    with pytest.raises(InvalidInput, match="no I, O, Q"):
        normalise_vin(vin[:11] + letter + vin[12:])


@pytest.mark.parametrize("vin", ["", "LSVAU218XN218329", "LSVAU218XN21832940", "LSVAU218XN2183-94"])
def test_wrong_length_or_characters_are_refused(vin: str) -> None:
    with pytest.raises(InvalidInput, match="17 characters"):
        normalise_vin(vin)


@given(st.text(alphabet=VIN_ALPHABET, min_size=17, max_size=17))
def test_only_the_computed_check_digit_makes_a_vin_valid(raw: str) -> None:
    digit = vin_check_digit(raw)
    assert digit in CHECK_CHARACTERS
    valid = raw[:8] + digit + raw[9:]
    assert normalise_vin(valid) == valid
    for other in CHECK_CHARACTERS.replace(digit, ""):
        with pytest.raises(InvalidInput, match="check digit"):
            normalise_vin(raw[:8] + other + raw[9:])


# -- plates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "plate"), [
    ("沪A12345", "沪A12345"),
    ("沪a12345", "沪A12345"),
    (" 沪A 12345 ", "沪A12345"),
    ("沪A·12345", "沪A12345"),
    ("沪A-12345", "沪A12345"),
    ("京AD12345", "京AD12345"),  # new-energy: six characters after the letter
    ("粤B1234学", "粤B1234学"),  # driving-school plate ends in a character
])
def test_plates_are_normalised(raw: str, plate: str) -> None:
    assert normalise_plate(raw) == plate


@pytest.mark.parametrize("raw", ["", "A12345", "沪123456", "沪A1234", "沪A1234567", "沪A12_45"])
def test_non_mainland_plates_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="plate"):
        normalise_plate(raw)


@pytest.mark.parametrize(("raw", "rest"), [
    ("A12345", "A12345"), ("a12345", "A12345"), ("A·12345", "A12345"), (" A 12345 ", "A12345"),
    ("Ａ１２３４５", "A12345"), ("AD12345", "AD12345"), ("B1234学", "B1234学"),
    # no rest of a plate: a whole plate, a name, a phone's digits, a VIN prefix, too short
    ("沪A12345", None), ("WANGLI", None), ("123456", None), ("LSVAU218", None),
    ("A1234", None), ("", None),
])
def test_a_plate_typed_without_its_province_is_its_rest(raw: str, rest: str | None) -> None:
    assert plate_without_province(raw) == rest


# -- money -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "amount"), [
    ("12.5", "12.50"), (0, "0.00"), ("450", "450.00"), (Decimal("1.000"), "1.00"), (7.25, "7.25"),
])
def test_money_is_quantized_to_the_fen(raw: object, amount: str) -> None:
    value = money(raw)
    assert value == Decimal(amount)
    assert value.as_tuple().exponent == -2


@pytest.mark.parametrize("raw", ["-0.01", "1.005", "NaN", "Infinity", "-Infinity", float("nan"),
                                 float("inf"), "abc", None, "1,00"])
def test_money_refuses_negative_fractional_fen_and_non_finite(raw: object) -> None:
    with pytest.raises(InvalidInput):
        money(raw, "unit price")


@pytest.mark.parametrize("raw", ["0", "-1", "1.005", "NaN"])
def test_quantity_must_be_positive_with_at_most_two_decimals(raw: str) -> None:
    with pytest.raises(InvalidInput):
        quantity(raw, "flat-rate hours")


@pytest.mark.parametrize("raw", ["-0", "-0.0", "-0.00", Decimal("-0E+3"), -0.0])
def test_a_negative_zero_is_zero(raw: object) -> None:
    """"-0" is not negative, so it passed as an amount and was stored, billed and shown as
    -0.00 (a labor line at an hourly rate of -0 billed gross -0.00, VAT -0.00)."""
    assert str(money(raw, "hourly rate")) == "0.00"
    counted = quantity(raw, "counted", allow_zero=True)
    assert counted == 0 and not counted.is_signed()


def test_quantity_allows_more_places_when_asked() -> None:
    assert quantity("0.125", "quantity", places=3) == Decimal("0.125")


@pytest.mark.parametrize(("amount", "rate", "vat"), [
    ("100.00", "0.13", "11.50"),
    ("113.00", "0.13", "13.00"),
    ("900.00", "0.13", "103.54"),
    ("106.00", "0.06", "6.00"),
    ("0.125", "0.25", "0.03"),  # exactly 0.025: half-up, where banker's rounding gives 0.02
    ("0.00", "0.13", "0.00"),
])
def test_vat_included_is_rounded_half_up(amount: str, rate: str, vat: str) -> None:
    assert vat_included(Decimal(amount), Decimal(rate)) == Decimal(vat)


@pytest.mark.parametrize(("qty", "price", "amount"), [
    ("1.5", "300.00", "450.00"),
    ("0.5", "0.25", "0.13"),  # 0.125 rounds half-up
    ("0.333", "10.00", "3.33"),
    ("2", "0.01", "0.02"),
])
def test_gross_is_rounded_half_up_to_the_fen(qty: str, price: str, amount: str) -> None:
    assert gross(Decimal(qty), Decimal(price)) == Decimal(amount)


@given(st.decimals(min_value=0, max_value=10_000_000, places=2),
       st.sampled_from([Decimal(0), Decimal("0.06"), Decimal("0.09"), Decimal("0.13")]))
def test_vat_is_within_half_a_fen_of_the_exact_share(amount: Decimal, rate: Decimal) -> None:
    vat = vat_included(amount, rate)
    exact = amount * rate / (1 + rate)
    assert vat == exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert abs(vat - exact) <= Decimal("0.005")
    assert Decimal(0) <= vat <= amount


def test_total_of_nothing_is_zero_in_fen() -> None:
    assert total([]) == Decimal("0.00")
    assert total([Decimal("1.10"), Decimal("2.25")]) == Decimal("3.35")


# -- personal data -----------------------------------------------------------------------------


class SameKeyForEveryone:
    """A key store that hands every customer one key: only the customer id binds a token."""

    def __init__(self) -> None:
        self.key = AESGCM.generate_key(bit_length=256)

    def get_key(self, customer_id: UUID) -> bytes | None:
        return self.key

    def get_keys(self, customer_ids: Iterable[UUID]) -> dict[UUID, bytes]:
        return {customer_id: self.key for customer_id in customer_ids}

    def create_key(self, customer_id: UUID) -> bytes:
        return self.key

    def delete_key(self, customer_id: UUID) -> bool:
        return False


@pytest.fixture
def pii() -> PersonalData:
    return PersonalData(MemoryKeyStore())


@given(st.text(max_size=200))
def test_sealed_text_opens_to_the_same_text(text: str) -> None:
    pii = PersonalData(MemoryKeyStore())
    customer_id = uuid4()
    token = pii.seal(customer_id, text)
    assert token is not None and token.startswith("pii1:")
    assert pii.open(customer_id, token) == text


def test_tokens_hide_the_plaintext_and_never_repeat(pii: PersonalData) -> None:
    customer_id = uuid4()
    first, second = pii.seal(customer_id, "13912345678"), pii.seal(customer_id, "13912345678")
    assert first != second
    assert "13912345678" not in (first or "") and "13912345678" not in (second or "")
    assert pii.seal(customer_id, None) is None
    assert pii.open(customer_id, None) is None


def test_deleting_the_key_erases_every_token_of_that_customer(pii: PersonalData) -> None:
    chen, wang = uuid4(), uuid4()
    name, phone = pii.seal(chen, "陈静"), pii.seal(chen, "13912345678")
    other = pii.seal(wang, "王伟")
    assert pii.keys.delete_key(chen) is True
    assert pii.keys.delete_key(chen) is False
    assert pii.open_fields(chen, {"name": name, "phone": phone}) == {"name": ERASED,
                                                                     "phone": ERASED}
    assert pii.open(wang, other) == "王伟"


def test_a_token_does_not_open_with_another_customers_id(pii: PersonalData) -> None:
    chen, wang = uuid4(), uuid4()
    token = pii.seal(chen, "陈静")
    pii.seal(wang, "王伟")
    with pytest.raises(InvalidTag):
        pii.open(wang, token)


def test_the_customer_id_binds_the_token_even_under_one_key() -> None:
    pii = PersonalData(SameKeyForEveryone())
    token = pii.seal(uuid4(), "陈静")
    with pytest.raises(InvalidTag):
        pii.open(uuid4(), token)


def test_a_tampered_or_foreign_token_is_refused(pii: PersonalData) -> None:
    customer_id = uuid4()
    token = pii.seal(customer_id, "陈静") or ""
    flipped = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(InvalidTag):
        pii.open(customer_id, flipped)
    with pytest.raises(ValueError, match="not a sealed"):
        pii.open(customer_id, "陈静")
