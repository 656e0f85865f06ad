"""What each payer owes for a visit, as every read of the work order shows it.

One rule for the work-order view's `totals` (the detail, the list, the customer's progress
page and `as_of` read them from the doc): once the settlement has drafted bills, the bills'
totals — their discounts, a warranty line's deductible, the insurer's deductible and excess
included — to the fen, as the cashier prints them (`totals_basis` "bills"); before that, the
estimate of the approved lines, split as the bills will split them (a warranty line's
deductible on the customer's; under the insurer's assessment the deductible and the excess
of the insurance lines, `insurance_share`), `totals_basis` "estimate". A reversed settlement
has no bills: the estimate again until the next draft.

A credit a manager approved on a settled bill (a goodwill allowance) is the bill's
`allowances`; `due` is what the bill still asks of its payer, its total less them, as
`GET /settlements/{id}` counts it. A credit asked for and not yet approved, or rejected, and a
payment returned (the bill still asks for that money) change neither.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.settlement_bills import bill_totals, build_bills, insurance_shares
from domain.work_order_lines import PAY_TYPES, totals

ZERO = Decimal("0.00")
# what a doc keeps of a drafted bill line: enough to apply a discount and to total it again
_LINE_KEYS = ("line_id", "kind", "gross", "discount", "vat_rate", "deductible_of")
_NUMBERS = ("hours", "qty", "issued_qty", "unit_price", "gross", "vat_rate")


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def drafted(bills: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A settlement's drafted bills (decoded, as `Settlement.Drafted` holds them) as the doc
    keeps them: per pay type its lines (what each bills, its discount and VAT rate) and the
    bill's deductible, excess and the customer's insurance share (text)."""
    kept: dict[str, dict[str, Any]] = {}
    for kind, bill in bills.items():
        share = bill.get("insurance_share")
        kept[kind] = {
            "lines": [{k: _text(ln.get(k)) for k in _LINE_KEYS} for ln in bill["lines"]],
            **{k: _text(bill[k]) for k in ("deductible", "excess") if bill.get(k) is not None},
            **({"insurance_share": str(share["deductible"] + share["excess"])} if share else {})}
    return kept


def discounted(bills: dict[str, dict[str, Any]], bill: str,
               allocation: dict[str, Decimal]) -> None:
    """A discount given on a drafted bill (`Settlement.DiscountGiven`'s allocation per line),
    as the settlement applies it."""
    for line in bills[bill]["lines"]:
        given = allocation.get(line["line_id"])
        if given:
            line["discount"] = str(Decimal(line["discount"]) + given)


def credited(bills: dict[str, dict[str, Any]], bill: str, amount: Decimal) -> None:
    """An approved credit on a drafted bill: its `allowances` grow by the amount."""
    if bill in bills:
        bills[bill]["allowances"] = str(Decimal(bills[bill].get("allowances", "0.00")) + amount)


def _decimal_lines(bill: dict[str, Any]) -> dict[str, Any]:
    return {"lines": [{**ln, "gross": Decimal(ln["gross"]), "discount": Decimal(ln["discount"]),
                       "vat_rate": Decimal(ln["vat_rate"]), "cost": ZERO}
                      for ln in bill["lines"]]}


def billed_totals(bills: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The totals of drafted bills, per pay type: labor, parts, VAT, total, discount (net of
    discounts), the approved credits (`allowances`) and what the bill still asks (`due`: the
    total less them), and the bill's own figures (warranty `deductible`; insurance
    `deductible` and `excess`; the customer's `insurance_share`)."""
    found: dict[str, dict[str, str]] = {}
    for kind in PAY_TYPES:
        if kind not in bills:
            continue
        bill = bill_totals(_decimal_lines(bills[kind]))
        allowances = Decimal(bills[kind].get("allowances", "0.00"))
        found[kind] = {**{k: str(bill[k]) for k in ("labor", "parts", "vat", "total",
                                                     "discount")},
                       "allowances": str(allowances), "due": str(bill["total"] - allowances),
                       **{k: bills[kind][k] for k in ("deductible", "excess", "insurance_share")
                          if k in bills[kind]}}
    return found


def billed_shares(doc: dict[str, Any]) -> dict[str, tuple[Decimal, Decimal]] | None:
    """Per work-order line, what the drafted bills charge for it, net of discounts: (the
    customer's — their own line, a warranty line's deductible, an insurance line's deductible
    and excess —, the OEM's or insurer's); None before a draft."""
    bills = doc.get("bills")
    if not bills:
        return None
    shares: dict[str, tuple[Decimal, Decimal]] = {}
    for kind in ("customer", "warranty", "insurance"):
        for line in (bills.get(kind) or {}).get("lines", []):
            net = Decimal(line["gross"]) - Decimal(line["discount"])
            own, covered = shares.get(line["line_id"], (ZERO, ZERO))
            shares[line["line_id"]] = (own + net, covered) if kind == "customer" \
                else (own, covered + net)
    return shares


def billed_discounts(doc: dict[str, Any]) -> dict[str, Decimal] | None:
    """Per work-order line, the discounts the drafted bills give it, summed over the bills (a
    covered line's share on the customer's bill included); None before a draft."""
    bills = doc.get("bills")
    if not bills:
        return None
    given: dict[str, Decimal] = {}
    for bill in bills.values():
        for line in bill.get("lines", []):
            given[line["line_id"]] = given.get(line["line_id"], ZERO) + Decimal(
                line["discount"])
    return given


def _as_billed(line: dict[str, Any]) -> dict[str, Any]:
    """A doc line with the numbers the bills compute with (Decimal, not text)."""
    return {**line, **{k: Decimal(str(line[k])) for k in _NUMBERS if line.get(k) is not None}}


def insurance_share(doc: dict[str, Any]) -> dict[str, Any] | None:
    """What the customer owes of the approved insurance lines under the insurer's assessment:
    the deductible and the excess, per line (`lines`) as the bills split them — the drafted
    bills', once there are any; before, as they would once every approved insurance line
    bills (labor; a part once issued), else as a total of the approved estimate (`lines`
    None). None without an assessment or insurance lines."""
    found = doc.get("insurance_assessment")
    insured = [ln for ln in doc["lines"]
               if ln["pay_type"] == "insurance" and ln["status"] == "approved"]
    if not found or not insured:
        return None
    assessment = {**found, "approved_amount": Decimal(found["approved_amount"]),
                  "deductible": Decimal(found["deductible"])}
    lines: dict[str, Decimal] | None = None
    bills = doc.get("bills")
    if bills and "insurance" in bills:
        deductible = Decimal(bills["insurance"].get("deductible", "0.00"))
        excess = Decimal(bills["insurance"].get("excess", "0.00"))
        lines = {ln["line_id"]: Decimal(ln["gross"]) - Decimal(ln["discount"])
                 for ln in (bills.get("customer") or {}).get("lines", [])
                 if ln.get("deductible_of") == "insurance"}
    elif all(ln["kind"] == "labor" or Decimal(str(ln["issued_qty"])) > 0 for ln in insured):
        built = build_bills([_as_billed(ln) for ln in insured], {}, assessment)
        deductible, excess = built["insurance"]["deductible"], built["insurance"]["excess"]
        lines = {ln["line_id"]: ln["gross"] for ln in built.get("customer", {}).get("lines", [])}
    else:
        deductible, excess = insurance_shares(
            sum((Decimal(str(ln["gross"])) for ln in insured), ZERO), assessment)
    return {"insurer": found["insurer"], "claim_number": found["claim_number"],
            "approved_amount": assessment["approved_amount"], "deductible": deductible,
            "excess": excess, "lines": lines}


def _estimate(doc: dict[str, Any]) -> dict[str, Any]:
    """The approved lines' totals with the insurer's assessment applied: the deductible and
    the excess move from the insurance total to the customer's (`insurance_share` on the
    customer's, `deductible` and `excess` on the insurance's); labor, parts and VAT stay the
    lines' split."""
    found = {pay_type: {name: str(amount) for name, amount in figures.items()}
             for pay_type, figures in totals(doc["lines"]).items()}
    insured = insurance_share(doc)
    if insured is None or "insurance" not in found:
        return found
    theirs = insured["deductible"] + insured["excess"]
    customer = dict(found.get("customer") or {"total": "0.00"})
    insurance = dict(found["insurance"])
    customer["total"] = str(Decimal(customer["total"]) + theirs)
    customer["insurance_share"] = str(theirs)
    insurance["total"] = str(Decimal(insurance["total"]) - theirs)
    insurance["deductible"], insurance["excess"] = (str(insured["deductible"]),
                                                    str(insured["excess"]))
    found["customer"] = customer
    found["insurance"] = insurance
    return {pay_type: found[pay_type] for pay_type in PAY_TYPES if pay_type in found}


def pending_totals(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What the lines still waiting for the customer's answer would add, per payer, split as
    the estimate splits the approved ones (a warranty line's deductible on the customer's;
    the insurer's assessment is not applied): `{}` when no line waits."""
    return {pay_type: {name: str(amount) for name, amount in figures.items()}
            for pay_type, figures in totals(doc["lines"], "pending").items()}


def visit_totals(doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(basis, totals per payer): the drafted bills' ("bills") or the estimate's
    ("estimate"), see the module's docstring."""
    bills = doc.get("bills")
    if bills:
        return "bills", billed_totals(bills)
    return "estimate", _estimate(doc)
