"""Estimate lines (labor and parts) and the totals a customer and a settlement see."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from domain.common import InvalidInput
from domain.money import DEFAULT_VAT_RATE, gross, money, quantity, to_decimal, total, vat_included

PAY_TYPES = ("customer", "warranty", "insurance", "internal")
LINE_STATUSES = ("pending", "approved", "declined")
AUTH_CHANNELS = ("in_person", "phone", "link", "customer_page")
CUSTOMER_CHANNEL = "customer_page"  # the customer's own decision on their progress page
WARRANTY_FIELDS = ("coverage_code", "campaign_no", "authorization_ref", "causal_part", "sublet",
                   "deductible")


def _pay_type(value: str) -> str:
    if value not in PAY_TYPES:
        raise InvalidInput(f"pay type must be one of {', '.join(PAY_TYPES)}", pay_type=value)
    return value


def _warranty(pay_type: str, warranty: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if pay_type != "warranty":
        if warranty:
            raise InvalidInput("warranty details belong to warranty lines only")
        return None
    details = {k: (warranty or {}).get(k) for k in WARRANTY_FIELDS}
    if not details["coverage_code"]:
        raise InvalidInput("a warranty line needs a coverage code")
    if details["deductible"] is not None:
        details["deductible"] = money(details["deductible"], "deductible") or None
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
    return {"supplier": _text(value.get("supplier"), "sublet supplier"),
            "invoice_ref": _text(value.get("invoice_ref"), "sublet invoice reference"),
            "cost": money(value.get("cost"), "sublet cost")}


def _text(value: str | None, what: str, *, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(f"{what} is required")
    return text


def vat_rate(value: object | None) -> Decimal:
    rate = DEFAULT_VAT_RATE if value is None else to_decimal(value, "VAT rate")
    if not Decimal(0) <= rate < 1:
        raise InvalidInput("VAT rate must be between 0 and 1")
    return rate


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
        "op_code": _text(data.get("op_code"), "op code"),
        "description": _text(data.get("description"), "description"),
        "hours": quantity(data.get("hours"), "flat-rate hours"),
        "vat_rate": vat_rate(data.get("vat_rate")),
        "warranty": _warranty(pay_type, data.get("warranty")),
        "sublet": _sublet(data.get("sublet")),
        "status": "pending",
    }
    return _within_deductible(priced(line, money(data.get("hourly_rate"), "hourly rate")))


def part_line(line_id: str, job_no: int, data: Mapping[str, Any]) -> dict[str, Any]:
    pay_type = _pay_type(data.get("pay_type", "customer"))
    line = {
        "line_id": line_id, "job_no": job_no, "kind": "part", "pay_type": pay_type,
        "part_number": _text(data.get("part_number"), "part number").upper(),
        "description": _text(data.get("description"), "description"),
        "qty": quantity(data.get("qty"), "quantity", places=3),
        "unit": _text(data.get("unit") or "pc", "unit"),
        "vat_rate": vat_rate(data.get("vat_rate")),
        "warranty": _warranty(pay_type, data.get("warranty")),
        "issued_qty": Decimal(0),
        "status": "pending",
    }
    return _within_deductible(priced(line, money(data.get("unit_price"), "unit price")))


def totals(lines: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Decimal]]:
    """Approved lines only, per pay type: labor and parts separately, the VAT inside, the total."""
    result: dict[str, dict[str, Decimal]] = {}
    approved = [line for line in lines if line["status"] == "approved"]
    for pay_type in PAY_TYPES:
        mine = [line for line in approved if line["pay_type"] == pay_type]
        if not mine:
            continue
        labor = total(line["gross"] for line in mine if line["kind"] == "labor")
        parts = total(line["gross"] for line in mine if line["kind"] == "part")
        result[pay_type] = {
            "labor": labor,
            "parts": parts,
            "vat": total(line["vat"] for line in mine),
            "total": labor + parts,
        }
    return result
