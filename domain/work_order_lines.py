"""Estimate lines (labor and parts) and the totals a customer and a settlement see."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from domain.common import InvalidInput
from domain.money import (
    DEFAULT_VAT_RATE,
    decimals_at_most,
    gross,
    money,
    naming,
    quantity,
    to_decimal,
    vat_included,
)

PAY_TYPES = ("customer", "warranty", "insurance", "internal")
LINE_STATUSES = ("pending", "approved", "declined")
AUTH_CHANNELS = ("in_person", "phone", "link", "customer_page")
CUSTOMER_CHANNEL = "customer_page"  # the customer's own decision on their progress page
WARRANTY_FIELDS = ("coverage_code", "campaign_no", "authorization_ref", "causal_part", "sublet",
                   "deductible")


def _pay_type(value: str) -> str:
    if value not in PAY_TYPES:
        raise InvalidInput(f"pay type must be one of {', '.join(PAY_TYPES)}", pay_type=value,
                           field="pay_type")
    return value


def _warranty(pay_type: str, warranty: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if pay_type != "warranty":
        if warranty:
            raise InvalidInput("warranty details belong to warranty lines only", field="warranty")
        return None
    details = {k: (warranty or {}).get(k) for k in WARRANTY_FIELDS}
    if not details["coverage_code"]:
        raise InvalidInput("a warranty line needs a coverage code",
                           field="warranty.coverage_code")
    if details["deductible"] is not None:
        details["deductible"] = money(details["deductible"], "deductible",
                                      field="warranty.deductible") or None
    return details


def _within_deductible(line: dict[str, Any]) -> dict[str, Any]:
    """The coverage's deductible (what the customer pays of a warranty line) is at most the
    line's price."""
    deductible = (line["warranty"] or {}).get("deductible")
    if deductible is not None and deductible > line["gross"]:
        raise InvalidInput(f"the deductible {deductible} exceeds the line's {line['gross']}",
                           field="warranty.deductible")
    return line


def _sublet(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Work sent to an outside shop: the shop, its invoice and what it cost."""
    if not value:
        return None
    return {"supplier": _text(value.get("supplier"), "sublet supplier", "sublet.supplier"),
            "invoice_ref": _text(value.get("invoice_ref"), "sublet invoice reference",
                                 "sublet.invoice_ref"),
            "cost": money(value.get("cost"), "sublet cost", field="sublet.cost")}


def _text(value: str | None, what: str, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{what} is required", field=field)
    return text


def vat_rate(value: object | None) -> Decimal:
    with naming("vat_rate"):
        rate = DEFAULT_VAT_RATE if value is None else to_decimal(value, "VAT rate")
        if not Decimal(0) <= rate < 1:
            raise InvalidInput("VAT rate must be between 0 and 1")
        return decimals_at_most(rate, 4, "VAT rate")  # 0.13, 0.09, 0.06, 0.03, 0.005


def priced(line: dict[str, Any], unit_price: Decimal) -> dict[str, Any]:
    """The line with its VAT-inclusive gross and the VAT inside it recomputed."""
    qty = line["hours"] if line["kind"] == "labor" else line["qty"]
    amount = gross(qty, unit_price)
    return {**line, "unit_price": unit_price, "gross": amount,
            "vat": vat_included(amount, line["vat_rate"])}


def labor_line(line_id: str, job_no: int, data: Mapping[str, Any]) -> dict[str, Any]:
    pay_type = _pay_type(data.get("pay_type", "customer"))
    line = {
        "line_id": line_id, "job_no": job_no, "kind": "labor", "pay_type": pay_type,
        "op_code": _text(data.get("op_code"), "op code", "op_code"),
        "description": _text(data.get("description"), "description", "description"),
        "hours": quantity(data.get("hours"), "flat-rate hours", field="hours"),
        "vat_rate": vat_rate(data.get("vat_rate")),
        "warranty": _warranty(pay_type, data.get("warranty")),
        "sublet": _sublet(data.get("sublet")),
        "status": "pending",
    }
    return _within_deductible(priced(line, money(data.get("hourly_rate"), "hourly rate",
                                                        field="hourly_rate")))


def part_line(line_id: str, job_no: int, data: Mapping[str, Any]) -> dict[str, Any]:
    pay_type = _pay_type(data.get("pay_type", "customer"))
    line = {
        "line_id": line_id, "job_no": job_no, "kind": "part", "pay_type": pay_type,
        "part_number": _text(data.get("part_number"), "part number", "part_number").upper(),
        "description": _text(data.get("description"), "description", "description"),
        "qty": quantity(data.get("qty"), "quantity", places=3, field="qty"),
        "unit": _text(data.get("unit") or "pc", "unit", "unit"),
        "vat_rate": vat_rate(data.get("vat_rate")),
        "warranty": _warranty(pay_type, data.get("warranty")),
        "issued_qty": Decimal(0),
        "status": "pending",
    }
    return _within_deductible(priced(line, money(data.get("unit_price"), "unit price",
                                                        field="unit_price")))


def deductible_share(line: Mapping[str, Any], amount: Decimal) -> Decimal:
    """What the customer pays of a warranty line that bills `amount`: its coverage's
    deductible, at most the amount (the estimate and the bills split a line alike)."""
    asked = (line.get("warranty") or {}).get("deductible")
    return min(Decimal(str(asked)), amount) if asked else Decimal("0.00")


def customer_share(line: Mapping[str, Any]) -> Decimal:
    """What the customer pays of a line's price: all of their own line, a warranty line's
    deductible, nothing of an insurer's or the store's own line."""
    amount = Decimal(str(line["gross"]))
    if line["pay_type"] == "customer":
        return amount
    if line["pay_type"] == "warranty":
        return deductible_share(line, amount)
    return Decimal("0.00")


def shares(line: Mapping[str, Any]) -> list[tuple[str, Decimal, Decimal]]:
    """Who pays an estimate line: (pay type, amount, the VAT inside it) per payer. A warranty
    line's deductible is the customer's share, the rest the OEM's, each with its own VAT, as
    the bills will charge them (domain/settlement_bills.py); any other line is its pay type's.
    Values as stored or as a read model's JSON gives them back (Decimal or text)."""
    amount = Decimal(str(line["gross"]))
    own = deductible_share(line, amount) if line["pay_type"] == "warranty" else Decimal(0)
    if not own:
        return [(line["pay_type"], amount, Decimal(str(line["vat"])))]
    rate = Decimal(str(line["vat_rate"]))
    return [("warranty", amount - own, vat_included(amount - own, rate)),
            ("customer", own, vat_included(own, rate))]


def totals(lines: Iterable[Mapping[str, Any]], status: str = "approved"
           ) -> dict[str, dict[str, Decimal]]:
    """The lines of one `status` only (approved ones: the estimate the customer agreed to;
    pending ones: what still waits for their answer), per payer: labor and parts separately,
    the VAT inside, the total.

    The estimate as the bills will split it: a warranty line's deductible counts on the
    customer's total (the OEM's is the line less it, and says how much in `deductible`)."""
    zero = Decimal("0.00")
    found: dict[str, dict[str, Decimal]] = {}
    deductibles = zero
    for line in lines:
        if line["status"] != status:
            continue
        for payer, amount, vat in shares(line):
            figures = found.setdefault(payer, {"labor": zero, "parts": zero, "vat": zero,
                                               "total": zero})
            figures["labor" if line["kind"] == "labor" else "parts"] += amount
            figures["vat"] += vat
            figures["total"] += amount
            if payer != line["pay_type"]:
                deductibles += amount
    if "warranty" in found:
        found["warranty"]["deductible"] = deductibles
    return {pay_type: found[pay_type] for pay_type in PAY_TYPES if pay_type in found}
