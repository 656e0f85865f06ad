"""The work-order view's totals once the settlement has drafted bills are the bills' own, to
the fen: whatever the lines, pay types, warranty deductibles, the insurer's assessment and the
discounts given on the draft (a hypothesis property against the domain's bills)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.money import CENT
from domain.settlement_bills import allocate, bill_totals, build_bills
from domain.work_order_lines import PAY_TYPES
from projections.visit_totals import billed_shares, billed_totals, discounted, drafted

FIGURES = ("labor", "parts", "vat", "total", "discount")


@st.composite
def work_lines(draw: st.DrawFn) -> list[dict[str, Any]]:
    lines = []
    for n in range(draw(st.integers(1, 6))):
        pay_type = draw(st.sampled_from(PAY_TYPES))
        labor = draw(st.booleans())
        price = Decimal(draw(st.integers(1, 200_000))) * CENT
        qty = Decimal(draw(st.integers(1, 8))) / 2
        deductible = Decimal(draw(st.integers(0, 50_000))) * CENT \
            if pay_type == "warranty" else None
        line = {"line_id": f"L{n + 1}", "job_no": 1, "kind": "labor" if labor else "part",
                "description": f"line {n + 1}", "pay_type": pay_type, "status": "approved",
                "unit_price": price, "vat_rate": draw(st.sampled_from(
                    [Decimal("0.13"), Decimal("0.06")])),
                "warranty": {"coverage_code": "BASIC", "deductible": deductible}
                if pay_type == "warranty" else None}
        if labor:
            line.update(op_code=f"OP{n}", hours=qty)
        else:
            line.update(part_number=f"P{n}", unit="pc", qty=qty, issued_qty=qty,
                        issued_cost=Decimal("1.00"))
        lines.append(line)
    return lines


@settings(max_examples=150, deadline=None)
@given(lines=work_lines(), assessed=st.booleans(), approved=st.integers(0, 400_000),
       own=st.integers(0, 100_000),
       discounts=st.lists(st.tuples(st.sampled_from(PAY_TYPES), st.integers(1, 99)),
                          max_size=4))
def test_the_view_totals_are_the_drafted_bills_with_their_discounts(
        lines: list[dict[str, Any]], assessed: bool, approved: int, own: int,
        discounts: list[tuple[str, int]]) -> None:
    assessment = {"insurer": "PICC", "claim_number": "C-1", "report_number": None,
                  "approved_amount": Decimal(approved) * CENT,
                  "deductible": Decimal(min(own, approved)) * CENT} if assessed else None
    bills = build_bills(lines, {}, assessment)
    kept = drafted(bills)  # as the doc keeps them (text)
    # Discounts as a cashier gives them on the draft: a share of what the bill has left.
    for kind, percent in discounts:
        if kind not in bills or bills[kind]["total"] <= CENT:
            continue
        amount = max(CENT, (bills[kind]["total"] * percent / 100).quantize(CENT))
        allocation = allocate(amount, {ln["line_id"]: ln["net"] for ln in bills[kind]["lines"]})
        for line in bills[kind]["lines"]:
            line["discount"] += allocation.get(line["line_id"], Decimal(0))
        bill_totals(bills[kind])
        discounted(kept, kind, allocation)

    shown = billed_totals(kept)
    assert list(shown) == [k for k in PAY_TYPES if k in bills]
    for kind, bill in bills.items():
        assert {k: shown[kind][k] for k in FIGURES} == {k: str(bill[k]) for k in FIGURES}
        for figure in ("deductible", "excess"):
            if bill.get(figure) is not None:
                assert shown[kind][figure] == str(bill[figure])
    share = bills.get("customer", {}).get("insurance_share")
    if share:
        assert shown["customer"]["insurance_share"] == str(share["deductible"] + share["excess"])
    # Per work-order line, the customer's part and the OEM's or insurer's add up to the bills.
    per_line = billed_shares({"bills": kept})
    assert per_line is not None
    assert sum((own for own, _ in per_line.values()), Decimal("0.00")) == \
        bills.get("customer", {}).get("total", Decimal("0.00"))
    assert sum((covered for _, covered in per_line.values()), Decimal("0.00")) == sum(
        (bills[k]["total"] for k in ("warranty", "insurance") if k in bills), Decimal("0.00"))
