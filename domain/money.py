"""Money and quantities: Decimal only, VAT-inclusive prices, half-up rounding to the fen."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from domain.common import InvalidInput

CENT = Decimal("0.01")
DEFAULT_VAT_RATE = Decimal("0.13")
CURRENCY = "CNY"
# No amount or quantity of the business comes near this. Refusing larger numbers keeps every
# quantize and every product of two of them within Decimal's 28 digits: 1e30 hours or 1e308
# units would otherwise overflow the quantize (InvalidOperation) and answer 500.
TOO_LARGE = Decimal("1e15")
# Nor does any have more decimals than this. Past it only trailing zeros are taken (and dropped):
# PostgreSQL's numeric holds at most 16,383 decimals, and "0E-1000000" (a zero) or "1.5" with
# 20,000 zeros after it, stored in an event, stopped every view that writes the value.
MAX_DECIMALS = 12
# How a number may be written as text (a JSON string, a query or path value, a command-line
# argument): an optional minus, ASCII digits, and optionally a point and more ASCII digits.
# Python's int() and Decimal() also take "1_000", "+5", " 12 ", "1e2" and non-ASCII digits
# ("１２", "١٢"): forms no client means and that an auditor cannot read back as stored.
PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
PLAIN_NUMBER_RULE = ("a number written as ASCII digits, optionally with a leading '-' and a "
                     "decimal point (e.g. 120.00); no '+', spaces, underscores, exponents or "
                     "other digits")


def plainly_written(text: str) -> bool:
    """Whether `text` is a number in the plain grammar (`PLAIN_NUMBER`), and not a negative
    zero ("-0", "-0.00": a zero has no sign)."""
    return PLAIN_NUMBER.fullmatch(text) is not None and not _minus_zero(text)


def written_negative_zero(text: str) -> bool:
    """Whether `text` is a zero of the plain grammar written with a minus ("-0", "-0.00"): no
    amount, quantity or hours a cashier or a parts clerk means."""
    return PLAIN_NUMBER.fullmatch(text) is not None and _minus_zero(text)


def _minus_zero(text: str) -> bool:
    return text.startswith("-") and text.strip("-0.") == ""


def to_decimal(value: object, what: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"{what} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise InvalidInput(f"{what} must be finite")
    if number.copy_abs() >= TOO_LARGE:  # abs() rounds in the context: "1e999999999" overflows
        raise InvalidInput(f"{what} is too large (at most {TOO_LARGE - 1:f})")
    number = decimals_at_most(number, MAX_DECIMALS, what)
    # "-0" passes every "not negative" check and would be stored, billed and shown as -0.00.
    return abs(number) if number.is_zero() else number


def decimals_at_most(number: Decimal, places: int, what: str) -> Decimal:
    """`number` with at most `places` decimals: trailing zeros past them dropped ("1.500" as a
    quantity of 2 decimals is 1.50), any other digit there refused."""
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= -places:
        return number
    reduced = number.quantize(Decimal(1).scaleb(-places))  # |number| < TOO_LARGE: fits
    if reduced != number:
        raise InvalidInput(f"{what} has more than {places} decimals")
    return reduced


@contextmanager
def naming(field: str | None) -> Iterator[None]:
    """A refusal of invalid input inside names the body `field` that carried the value, when
    one is given (a nested one as `warranty.deductible` or `lines[0].qty`)."""
    if field is None:
        yield
        return
    try:
        yield
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, **{**exc.extra, "field": field}) from None


def money(value: object, what: str = "amount", field: str | None = None) -> Decimal:
    """A non-negative amount in CNY with at most 2 decimals; a refusal names the body `field`
    that carried it, when one is given."""
    with naming(field):
        return _money(value, what)


def _money(value: object, what: str) -> Decimal:
    amount = to_decimal(value, what)
    if amount < 0:
        raise InvalidInput(f"{what} must not be negative")
    if amount != amount.quantize(CENT):
        raise InvalidInput(f"{what} has more than 2 decimals: {amount}")
    return amount.quantize(CENT)


def quantity(value: object, what: str = "quantity", places: int = 2, *,
             allow_zero: bool = False, field: str | None = None) -> Decimal:
    """A positive (or, with `allow_zero`, non-negative) quantity with at most `places` decimals;
    a refusal names the body `field` that carried it, when one is given."""
    with naming(field):
        return _quantity(value, what, places, allow_zero)


def _quantity(value: object, what: str, places: int, allow_zero: bool) -> Decimal:
    number = to_decimal(value, what)
    if number < 0 or (number == 0 and not allow_zero):
        raise InvalidInput(f"{what} must be {'zero or more' if allow_zero else 'positive'}")
    number = decimals_at_most(number, places, what)
    # In plain notation: "1e2" hours were stored, shown and printed as "1E+2".
    exponent = number.as_tuple().exponent
    return number.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else number


def round_money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def gross(qty: Decimal, unit_price: Decimal) -> Decimal:
    """VAT-inclusive line amount."""
    return round_money(qty * unit_price)


def vat_included(gross_amount: Decimal, rate: Decimal = DEFAULT_VAT_RATE) -> Decimal:
    """The VAT inside a VAT-inclusive amount: gross × r / (1 + r), half-up to 0.01."""
    return round_money(gross_amount * rate / (1 + rate))


def total(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal("0.00"))


def shown_quantity(value: Decimal) -> Decimal:
    """`value` without trailing zeros after its point (8.0 → 8, 2.50 → 2.5, -0.0 → 0): how
    the stock reads and the stock commands' answers show a quantity."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1)) + 0  # + 0: a zero has no sign
    return value.normalize()
