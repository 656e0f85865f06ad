"""How a work order's lines become bills: lines, deductibles, totals, discounts to the fen."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from domain.common import InvalidInput
from domain.money import CENT, gross, vat_included
from domain.settlement_state import ZERO
from domain.work_order_lines import deductible_share


def _bill_line(line: dict[str, Any]) -> dict[str, Any]:
    """A work-order line as billed: labor hours as approved, parts as issued."""
    if line["kind"] == "labor":
        qty, cost = line["hours"], ZERO
        ref = {"op_code": line["op_code"]}
    else:
        qty, cost = line["issued_qty"], line.get("issued_cost", ZERO)
        ref = {"part_number": line["part_number"], "unit": line.get("unit")}
    amount = gross(qty, line["unit_price"])
    return {"line_id": line["line_id"], "job_no": line["job_no"], "kind": line["kind"],
            "description": line["description"], **ref, "qty": qty,
            "unit_price": line["unit_price"], "gross": amount, "discount": ZERO,
            "net": amount, "vat_rate": line["vat_rate"],
            "vat": vat_included(amount, line["vat_rate"]), "cost": cost,
            "warranty": line.get("warranty")}


def _deductible_split(billed: dict[str, Any]) -> dict[str, Any] | None:
    """A warranty line's coverage deductible, to the customer: the warranty bill line is billed
    that much less (`deductible` says how much), and the customer bill gets a line of that
    amount (`deductible_of`: the warranty line, no quantity of its own; the quantity is claimed
    on the warranty line). At most what the line bills (a part issued short bills less)."""
    amount = deductible_share(billed, billed["gross"])
    billed.update(gross=billed["gross"] - amount, net=billed["gross"] - amount,
                  vat=vat_included(billed["gross"] - amount, billed["vat_rate"]),
                  deductible=amount)
    if not amount:
        return None
    coverage = billed["warranty"].get("coverage_code")
    return {**billed, "description": f"deductible ({coverage}): {billed['description']}",
            "qty": ZERO, "unit_price": ZERO, "gross": amount, "discount": ZERO, "net": amount,
            "vat": vat_included(amount, billed["vat_rate"]), "cost": ZERO, "warranty": None,
            "deductible": None, "deductible_of": "warranty"}


def insurance_shares(claimed: Decimal, assessment: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """(deductible, excess) of insurance lines billing `claimed` under the assessment: the
    insurer covers at most its approved amount, less the deductible; what it did not approve
    is the excess. Both are the customer's to pay."""
    covered = min(claimed, assessment["approved_amount"])
    return min(assessment["deductible"], covered), claimed - covered


def _insurance_split(bills: dict[str, dict[str, Any]], assessment: dict[str, Any],
                     customer_payer: dict[str, Any]) -> None:
    """The insurer's assessment applied to the insurance bill: the excess, then the
    deductible, spread over its lines by what each bills (`allocate`, to the fen), each line
    billed that much less (`excess`, `deductible` say how much); the customer bill gets a line
    of that amount per insurance line (`deductible_of: insurance`, no quantity of its own;
    `insurance_deductible`, `insurance_excess`), at the line's VAT rate."""
    insured = bills["insurance"]
    weights = {ln["line_id"]: ln["gross"] for ln in insured["lines"]}
    deductible, excess = insurance_shares(sum(weights.values(), ZERO), assessment)
    over = allocate(excess, weights) if excess else {}
    own = allocate(deductible, {k: w - over.get(k, ZERO) for k, w in weights.items()}) \
        if deductible else {}
    claim = assessment["claim_number"]
    for line in insured["lines"]:
        line_excess, line_deductible = over.get(line["line_id"], ZERO), own.get(line["line_id"], ZERO)
        share = line_excess + line_deductible
        rest = line["gross"] - share
        line.update(gross=rest, net=rest, vat=vat_included(rest, line["vat_rate"]),
                    deductible=line_deductible, excess=line_excess)
        if not share:
            continue
        what = " and ".join(w for w, a in (("deductible", line_deductible),
                                           ("excess", line_excess)) if a)
        customer = bills.setdefault("customer", {"kind": "customer", "payer": customer_payer,
                                                 "lines": [], "invoice_no": None})
        customer["lines"].append({
            **line, "description": f"{what} (claim {claim}): {line['description']}",
            "qty": ZERO, "unit_price": ZERO, "gross": share, "discount": ZERO, "net": share,
            "vat": vat_included(share, line["vat_rate"]), "cost": ZERO, "warranty": None,
            "deductible": None, "excess": None, "deductible_of": "insurance",
            "insurance_deductible": line_deductible, "insurance_excess": line_excess})
    figures = {"approved_amount": assessment["approved_amount"], "deductible": deductible,
               "excess": excess}
    insured.update(deductible=deductible, excess=excess, assessment={
        **figures, "report_number": assessment.get("report_number")})
    if "customer" in bills and (deductible or excess):
        bills["customer"]["insurance_share"] = {
            "insurer": assessment["insurer"], "claim_number": claim,
            "deductible": deductible, "excess": excess}


def bill_totals(bill: dict[str, Any]) -> dict[str, Any]:
    """Recompute a bill from its lines: net = gross − discount, VAT inside the net per line."""
    for line in bill["lines"]:
        line["net"] = line["gross"] - line["discount"]
        line["vat"] = vat_included(line["net"], line["vat_rate"])
    labor = sum((ln["net"] for ln in bill["lines"] if ln["kind"] == "labor"), ZERO)
    parts = sum((ln["net"] for ln in bill["lines"] if ln["kind"] == "part"), ZERO)
    bill.update(
        gross=sum((ln["gross"] for ln in bill["lines"]), ZERO),
        discount=sum((ln["discount"] for ln in bill["lines"]), ZERO),
        labor=labor, parts=parts, vat=sum((ln["vat"] for ln in bill["lines"]), ZERO),
        total=labor + parts, cost=sum((ln["cost"] for ln in bill["lines"]), ZERO))
    return bill


def build_bills(lines: list[dict[str, Any]], payers: dict[str, dict[str, Any]],
                assessment: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Approved labor and issued parts of a work order, split into one bill per pay type; a
    warranty line's deductible goes to the customer bill (`_deductible_split`), and so do the
    deductible and the excess of the insurance lines under the insurer's assessment
    (`_insurance_split`)."""
    bills: dict[str, dict[str, Any]] = {}
    for line in lines:
        if line["status"] != "approved":
            continue
        if line["kind"] == "part" and line["issued_qty"] <= 0:
            continue
        kind = line["pay_type"]
        billed = _bill_line(line)
        customer_part = _deductible_split(billed) if kind == "warranty" else None
        for pays, piece in ((kind, billed), ("customer", customer_part)):
            if piece is not None:
                bill = bills.setdefault(pays, {"kind": pays, "payer": payers.get(pays, {}),
                                               "lines": [], "invoice_no": None})
                bill["lines"].append(piece)
    if "warranty" in bills:
        bills["warranty"]["deductible"] = sum(
            (ln.get("deductible") or ZERO for ln in bills["warranty"]["lines"]), ZERO)
    if assessment is not None and "insurance" in bills:
        _insurance_split(bills, assessment, payers.get("customer", {}))
    return {kind: bill_totals(bill) for kind, bill in bills.items()}


def zero_bill(payers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The bills of a visit whose jobs were closed without repair work and that charges for
    nothing: the customer's, of no lines, totalling zero (it settles as it is confirmed)."""
    return {"customer": bill_totals({"kind": "customer", "payer": payers.get("customer", {}),
                                     "lines": [], "invoice_no": None})}


def allocate(amount: Decimal, weights: dict[str, Decimal]) -> dict[str, Decimal]:
    """Split a bill discount over the bill's lines, to the fen.

    `weights` is what each line has left to discount, in the order the lines are printed on the
    bill. The rule, as a cashier or an auditor states it:

    1. every line gets its share of the discount in proportion to what it has left, rounded
       down to the fen;
    2. the fen left over (fewer than there are lines) all go to the line with the most left; of
       lines with equally much left, to the one printed first on the bill;
    3. if that line has not enough left for them (a discount within a few fen of the bill's
       total), the rest go to the next line in the same order, so no line is given more than
       it has left.

    E.g. 10.01 off lines of 50.00, 100.00 and 100.00: 2.00, 4.01 and 4.00.
    """
    total = sum(weights.values(), ZERO)
    if total <= 0 or amount > total:
        raise InvalidInput("the discount exceeds what is left on the bill")
    shares = {k: (amount * w / total).quantize(CENT, rounding=ROUND_DOWN)
              for k, w in weights.items()}
    rest = amount - sum(shares.values(), ZERO)
    printed = {key: n for n, key in enumerate(weights)}
    for key in sorted(weights, key=lambda k: (-weights[k], printed[k])):
        if rest <= 0:
            break
        room = min(weights[key] - shares[key], rest)
        shares[key] += room
        rest -= room
    return {k: v for k, v in shares.items() if v}


def billed_lines(bills: dict[str, dict[str, Any]]) -> set[tuple[Any, ...]]:
    """What a set of bills charges for, discounts aside: to tell a stale draft (the gross
    tells an insurer's assessment that changed since)."""
    return {(kind, ln["line_id"], ln["qty"], ln["unit_price"], ln["gross"], ln["cost"])
            for kind, bill in bills.items() for ln in bill["lines"]}
