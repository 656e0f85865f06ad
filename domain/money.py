"""Money and quantities: Decimal only, VAT-inclusive prices, half-up rounding to the fen."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from domain.common import InvalidInput

CENT = Decimal("0.01")
DEFAULT_VAT_RATE = Decimal("0.13")
CURRENCY = "CNY"
# No amount or quantity of the business comes near this. Refusing larger numbers keeps every
# quantize and every product of two of them within Decimal's 28 digits: 1e30 hours or 1e308
# units would otherwise overflow the quantize (InvalidOperation) and answer 500.
TOO_LARGE = Decimal("1e15")


def to_decimal(value: object, what: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"{what} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise InvalidInput(f"{what} must be finite")
    if abs(number) >= TOO_LARGE:
        raise InvalidInput(f"{what} is too large (at most {TOO_LARGE - 1:f})")
    # "-0" passes every "not negative" check and would be stored, billed and shown as -0.00.
    return abs(number) if number.is_zero() else number


def money(value: object, what: str = "amount") -> Decimal:
    """A non-negative amount in CNY with at most 2 decimals."""
    amount = to_decimal(value, what)
    if amount < 0:
        raise InvalidInput(f"{what} must not be negative")
    if amount != amount.quantize(CENT):
        raise InvalidInput(f"{what} has more than 2 decimals: {amount}")
    return amount.quantize(CENT)


def quantity(value: object, what: str = "quantity", places: int = 2, *,
             allow_zero: bool = False) -> Decimal:
    """A positive (or, with `allow_zero`, non-negative) quantity with at most `places` decimals."""
    number = to_decimal(value, what)
    step = Decimal(1).scaleb(-places)
    if number < 0 or (number == 0 and not allow_zero):
        raise InvalidInput(f"{what} must be {'zero or more' if allow_zero else 'positive'}")
    if number != number.quantize(step):
        raise InvalidInput(f"{what} has more than {places} decimals: {number}")
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
