"""Cashier and finance commands: settlement, payments, refunds, day-end close, reconciliation.

The rule from the seed: when the customer's payment completes, the work order's status, the
bills and the journal change together or not at all — the settling payment, the settlement, the
cashier's day and the work order are saved in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.cashier_day import CashierDay
from domain.common import InvalidInput, NotPermitted, require, require_group_store
from domain.counter import DocumentCounter
from domain.customer import Customer
from domain.customers import earn_in
from domain.insurer import insurer_key, insurer_name
from domain.invoice_number import InvoiceNumber, RedInvoiceNumber, invoice_number
from domain.loyalty import LoyaltyRules
from domain.payment_reference import PaymentReference, provider_reference
from domain.reconciling import Reconciliation
from domain.settlement import Settlement
from domain.settlement_bills import build_bills, insurance_shares
from domain.settlement_state import ELECTRONIC, DepositLimit, SettlementError
from domain.taken_once import refuse_taken
from domain.work_order import WorkOrder


@dataclass(frozen=True)
class Policy:
    """Settings that shape money rules."""

    discount_approval_rate: Decimal = Decimal("0.10")
    deposit_ceiling: Decimal = Decimal("5000.00")  # deposits while no line is approved
    loyalty: LoyaltyRules | None = None  # points earned on the paid customer bill


def peek_settlement(app: ServiceCore, settlement_id: UUID) -> Settlement | None:
    """The settlement as last saved, read outside the command (which aggregates it holds);
    None for an unknown id or another kind of stream, which the command itself answers."""
    try:
        found: Any = app.repository.get(settlement_id)
    except Exception:  # noqa: BLE001 - unknown ids are answered by the command itself
        return None
    return found if isinstance(found, Settlement) else None


class Settlements(Reconciliation):
    def __init__(self, app: ServiceCore, timezone: str = "Asia/Shanghai",
                 policy: Policy | None = None, stores: Iterable[str] = ()) -> None:
        self.app = app
        self.zone = ZoneInfo(timezone)
        self.policy = policy or Policy()
        self.stores = frozenset(stores)  # the group's stores (`require_group_store`)

    def today(self, request: Request) -> date:
        return request.caller.at.astimezone(self.zone).date()

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _settlement_for(session: Session, wo: WorkOrder) -> Settlement:
        found = session.find(Settlement, Settlement.create_id(wo.id))
        if found is None:
            found = Settlement(id=Settlement.create_id(wo.id), audit=session.audit(wo.store_id),
                               work_order_id=wo.id, work_order_number=wo.number,
                               customer_id=wo.customer_id)
            session.add(found)
        return found

    def _on(self, request: Request, settlement_id: UUID,
            act: Callable[[Session, Settlement], dict[str, Any] | None],
            also: tuple[UUID, ...] = ()) -> CommandResult:
        def decide(session: Session) -> Decision:
            settlement = session.target(Settlement, settlement_id, "settlement")
            answer = act(session, settlement) or {}
            return Decision(settlement, {**settlement.summary(), **answer})

        return self.app.execute(request, decide, (settlement_id, *also))

    def _work_order(self, session: Session, settlement: Settlement) -> WorkOrder:
        return session.get(WorkOrder, settlement.work_order_id, "work order")

    def _settle_if_paid(self, session: Session, settlement: Settlement) -> bool:
        audit = session.audit(settlement.store_id)
        if not settlement.settle_if_paid(audit):
            return False
        assert settlement.number is not None
        wo = self._work_order(session, settlement)
        wo.settle(audit, settlement.id, settlement.number, settlement.billed("customer"))
        self._earn_points(session, settlement, wo.number)
        return True

    def _earn_points(self, session: Session, settlement: Settlement, reference: str) -> None:
        """Loyalty points on what the customer paid, in the settling save (once per visit:
        a re-settlement after a reversal earns nothing more)."""
        rules = self.policy.loyalty
        paid = settlement.paid("customer")
        customer = session.find(Customer, settlement.customer_id)
        if rules is None or paid <= 0 or customer is None or customer.erased:
            return
        earn_in(session, rules, self.zone, settlement.customer_id, paid, reference)

    def _refund_to_customer(self, session: Session, settlement: Settlement,
                            refund: dict[str, Any]) -> None:
        """Money of a settled visit's customer bill going back (either kind) lowers the
        customer's spend and takes back the points earned on it, in the approving save.
        Before settlement nothing was earned or counted as spend: the visit settles on what is
        paid net of refunds."""
        customer = session.find(Customer, settlement.customer_id)
        if customer is None or settlement.status != "settled" or refund["bill"] != "customer":
            return
        customer.refunded(session.audit(customer.store_id), self.policy.loyalty or LoyaltyRules(),
                          refund["refund_id"], settlement.work_order_id,
                          settlement.work_order_number, refund["amount"], refund["kind"],
                          self.today(session.request))

    def _paid_again(self, session: Session, settlement: Settlement,
                    payment: dict[str, Any]) -> None:
        """A payment on a settled visit's customer bill pays again money that went back (it
        is refused beyond what is outstanding, and only a payment return leaves anything
        outstanding after settlement): the spend and points the refund lowered come back, in
        the payment's save."""
        customer = session.find(Customer, settlement.customer_id)
        if customer is None:
            return
        customer.paid_again(session.audit(customer.store_id),
                            self.policy.loyalty or LoyaltyRules(), payment["payment_id"],
                            settlement.work_order_id, settlement.work_order_number,
                            payment["amount"])

    def _business_date(self, request: Request, given: str | None,
                       what: str = "a payment") -> str:
        today = self.today(request)
        if given is None:
            return today.isoformat()
        try:
            day = date.fromisoformat(given)
        except ValueError:
            raise InvalidInput("business_date must be YYYY-MM-DD") from None
        require(day <= today, InvalidInput(f"{what} cannot be dated in the future"))
        return day.isoformat()

    @staticmethod
    def _cashier_day(session: Session, store_id: str, business_date: str) -> CashierDay:
        cashier = session.caller.user_id
        day_id = CashierDay.create_id(store_id, cashier, business_date)
        found = session.find(CashierDay, day_id)
        if found is None:
            found = CashierDay(id=day_id, audit=session.audit(store_id), cashier_id=cashier,
                               business_date=business_date)
            session.add(found)
        return found

    # -- settlement --------------------------------------------------------------------------

    def draft(self, request: Request, work_order_id: UUID, *,
              insurance: dict[str, Any] | None = None,
              internal_department: str | None = None) -> CommandResult:
        """Bills by pay type from the work order's approved labor and issued parts."""

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            require(wo.status == "ready_for_settlement" and wo.settlement is None,
                    SettlementError(f"work order {wo.number} is {wo.status}; settle it when it "
                                    "is ready", blockers=wo.blockers()))
            settlement = self._settlement_for(session, wo)
            payers = self._payers(wo, insurance, internal_department, settlement.assessment)
            bills = build_bills(list(wo.lines.values()), payers, settlement.assessment)
            for kind in bills:
                if kind in ("insurance", "internal"):
                    require(bool(payers.get(kind)), InvalidInput(
                        "insurance lines need the insurer and claim number" if kind == "insurance"
                        else "internal lines need the department that pays"))
            settlement.draft(session.audit(wo.store_id), bills)
            return Decision(settlement, {**settlement.summary(), "work_order_id": str(wo.id)})

        return self.app.execute(request, decide, (Settlement.create_id(work_order_id),))

    @staticmethod
    def _payers(wo: WorkOrder, insurance: dict[str, Any] | None,
                internal_department: str | None,
                assessment: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Who pays each bill; the insurer and claim are the assessment's once there is one
        (a draft naming another claim is refused)."""
        payers: dict[str, dict[str, Any]] = {
            "customer": {"customer_id": str(wo.customer_id)},
            "warranty": {"oem": wo.vehicle.get("brand") or "OEM", "vin": wo.vehicle["vin"]},
        }
        if insurance and (insurance.get("insurer") or "").strip() and \
                (insurance.get("claim_number") or "").strip():
            payers["insurance"] = {"insurer": insurer_name(insurance["insurer"]),
                                   "claim_number": insurance["claim_number"].strip()}
        if assessment is not None:
            assessed = {"insurer": assessment["insurer"],
                        "claim_number": assessment["claim_number"]}
            typed = payers.get("insurance", assessed)
            require((insurer_key(typed["insurer"]), typed["claim_number"]) == (
                insurer_key(assessed["insurer"]), assessed["claim_number"]), InvalidInput(
                f"the work order's insurance assessment is claim {assessed['claim_number']} of "
                f"{assessed['insurer']}", assessed=assessed))
            payers["insurance"] = assessed
        if (internal_department or "").strip():
            payers["internal"] = {"department": (internal_department or "").strip()}
        return payers

    def assess_insurance(self, request: Request, work_order_id: UUID, *, insurer: str,
                         claim_number: str, approved_amount: object, deductible: object = "0",
                         report_number: str | None = None,
                         reason: str | None = None) -> CommandResult:
        """The insurer's assessment of a visit the shop settles with the insurer directly: the
        insurance bill is capped at the approved amount less the deductible; the deductible
        and the excess go to the customer's bill. A drafted settlement is redrafted in the
        same save; a confirmed one is refused until a manager reverses it."""

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            require(wo.status != "cancelled", SettlementError("the work order is cancelled"))
            settlement = self._settlement_for(session, wo)
            kept = {k: b["payer"] for k, b in settlement.bills.items() if k == "internal"}

            def rebill(assessment: dict[str, Any]) -> dict[str, dict[str, Any]]:
                payers = self._payers(wo, None, None, assessment)
                return build_bills(list(wo.lines.values()), {**payers, **kept}, assessment)

            given = {k: str(b["discount"]) for k, b in settlement.bills.items()
                     if b.get("discount")}
            redrafted = settlement.assess_insurance(
                session.audit(wo.store_id), insurer=insurer, claim_number=claim_number,
                report_number=report_number, approved_amount=approved_amount,
                deductible=deductible, reason=reason, rebill=rebill)
            assessed = {k: v if v is None else str(v)
                        for k, v in (settlement.assessment or {}).items()}
            return Decision(settlement, {**settlement.summary(), "work_order_id": str(wo.id),
                                         "assessment": assessed, "redrafted": redrafted,
                                         "discounts_dropped": given if redrafted else {}})

        return self.app.execute(request, decide, (Settlement.create_id(work_order_id),))

    def discount(self, request: Request, settlement_id: UUID, *, bill: str,
                 amount: object, line_id: str | None = None,
                 reason: str | None = None) -> CommandResult:
        return self._on(request, settlement_id, lambda s, st: {"allocation": {
            k: str(v) for k, v in st.discount(s.audit(st.store_id), bill, line_id, amount, reason,
                                              self.policy.discount_approval_rate).items()}})

    def confirm(self, request: Request, settlement_id: UUID) -> CommandResult:
        """The settlement number (gap-free, from a counter in the same save); freezes issues.

        A zero (or deposit-covered) customer bill settles in the same transaction.
        """
        year = request.caller.at.astimezone(self.zone).year

        def act(session: Session, settlement: Settlement) -> dict[str, Any]:
            audit = session.audit(settlement.store_id)
            wo = self._work_order(session, settlement)
            number = session.next_number("settlement", "SET", settlement.store_id, year)
            settlement.confirm(audit, number, build_bills(list(wo.lines.values()), {},
                                                          settlement.assessment))
            wo.confirm_settlement(audit, settlement.id, number)
            return {"settled": self._settle_if_paid(session, settlement)}

        peek = self._peek(settlement_id)
        store = peek.store_id if peek else ""
        return self._on(request, settlement_id, act, (
            DocumentCounter.create_id("settlement", store, year),
            *((peek.work_order_id,) if peek else ())))

    def _peek(self, settlement_id: UUID) -> Settlement | None:
        return peek_settlement(self.app, settlement_id)

    def record_invoice(self, request: Request, settlement_id: UUID, *, bill: str,
                       invoice_no: str) -> CommandResult:
        """The tax invoice of a confirmed bill; its number once per store (`InvoiceNumber`,
        created in the same save)."""
        number = invoice_number(invoice_no)

        def act(session: Session, settlement: Settlement) -> None:
            audit = session.audit(settlement.store_id)
            reservation = InvoiceNumber.create_id(settlement.store_id, number)
            settlement.record_invoice(audit, bill, number)
            found = session.find(InvoiceNumber, reservation)
            refuse_taken([found])
            assert settlement.number is not None
            if found is not None:  # let go by a rejected credit
                found.take_again(audit, bill, settlement.id, settlement.number,
                                 settlement.work_order_number)
                return
            session.add(InvoiceNumber(
                id=reservation, audit=audit, invoice_no=number, bill=bill,
                settlement_id=settlement.id, settlement_number=settlement.number,
                work_order_number=settlement.work_order_number))

        peek = self._peek(settlement_id)
        held = (InvoiceNumber.create_id(peek.store_id, number),) if peek and number else ()
        return self._on(request, settlement_id, act, held)

    def reverse(self, request: Request, settlement_id: UUID, *, reason: str | None) -> CommandResult:
        def act(session: Session, settlement: Settlement) -> dict[str, Any]:
            audit = session.audit(settlement.store_id)
            number = settlement.reverse(audit, reason)
            self._work_order(session, settlement).reverse_settlement(audit, number, str(reason))
            return {"reversed": number}

        peek = self._peek(settlement_id)
        return self._on(request, settlement_id, act, (peek.work_order_id,) if peek else ())

    # -- payments and refunds ----------------------------------------------------------------

    def pay(self, request: Request, *, work_order_id: UUID, method: str, amount: object,
            bill: str = "customer", tendered: object | None = None,
            provider_ref: str | None = None, business_date: str | None = None,
            correction_of: str | None = None, reason: str | None = None) -> CommandResult:
        """A payment (a deposit before confirmation); the one that completes the customer bill
        settles the visit in the same transaction. A correction of a closed day says why."""
        day = self._business_date(request, business_date)
        if correction_of is not None:
            try:
                require(date.fromisoformat(correction_of).isoformat() < day,
                        InvalidInput("correction_of names an earlier, closed day"))
            except ValueError:
                raise InvalidInput("correction_of must be YYYY-MM-DD") from None
        payment_id = "PAY-" + uuid4().hex[:12].upper()

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            require(wo.status not in ("cancelled",), SettlementError("the work order is cancelled"))
            settlement = self._settlement_for(session, wo)
            audit = session.audit(wo.store_id)
            if correction_of is not None:
                closed = session.find(CashierDay, CashierDay.create_id(
                    wo.store_id, session.caller.user_id, correction_of))
                require(closed is not None and closed.closed, InvalidInput(
                    f"{correction_of} is not a closed day of yours; no correction needed"))
            # the earlier payment that took this reference
            refuse_taken(session.find(PaymentReference, i) for i in (*held, *before))
            was_settled = settlement.status == "settled"
            cashier_day = self._cashier_day(session, wo.store_id, day)
            cashier_day.check_takes_payment(self.today(request).isoformat())  # before the reason
            payment = settlement.take_payment(
                audit, payment_id=payment_id, bill=bill, method=method, amount=amount,
                business_date=day, tendered=tendered, provider_ref=provider_ref,
                correction_of=correction_of, reason=reason,
                deposit_limit=self._deposit_limit(wo, settlement.assessment),
                opened_on=wo.opened_at.astimezone(self.zone).date().isoformat(),
                today=self.today(request).isoformat())
            for reference_id in held:
                session.add(PaymentReference(
                    id=reference_id, audit=audit, method=method, reference=payment["provider_ref"],
                    payment_id=payment_id, settlement_id=settlement.id,
                    work_order_number=wo.number))
            cashier_day.money_in(audit, settlement.id, payment, self.today(request).isoformat())
            # settled: the visit is, by this payment or before it (an insurer's or the OEM's
            # bill paid after the customer's, a returned amount paid again)
            settled = self._settle_if_paid(session, settlement) or settlement.status == "settled"
            if was_settled and payment["bill"] == "customer":
                self._paid_again(session, settlement, payment)
            return Decision(settlement, {**settlement.summary(), "payment_id": payment_id,
                                         "change": str(payment["change"]), "settled": settled})

        store = self._store_of(work_order_id)
        cashier_day = CashierDay.create_id(store, request.caller.user_id, day)
        reference = provider_reference(provider_ref)  # an electronic payment's (one per store)
        held = (PaymentReference.create_id(store, method, reference),) \
            if reference and method in ELECTRONIC else ()
        before = PaymentReference.typed_before(store, method, provider_ref or "") if held else ()
        return self.app.execute(request, decide, (Settlement.create_id(work_order_id),
                                                  work_order_id, cashier_day, *held))

    def _deposit_limit(self, wo: WorkOrder, assessment: dict[str, Any] | None) -> DepositLimit:
        """Deposits go up to what the customer approved on the estimate (their pay-type lines,
        the deductibles of approved warranty lines and, under an insurer's assessment, the
        deductible and excess of the approved insurance lines; VAT included): a service
        manager takes money against agreed work. Before any such line is approved, up to the
        configured ceiling."""
        zero = Decimal("0.00")
        insured = sum((ln["gross"] for ln in wo.lines.values()
                       if ln["status"] == "approved" and ln["pay_type"] == "insurance"), zero)
        estimate = wo.totals().get("customer", {}).get("total", zero) + (
            sum(insurance_shares(insured, assessment), zero) if assessment and insured else zero)
        if estimate > 0:
            return DepositLimit(estimate, "approved_estimate")
        return DepositLimit(self.policy.deposit_ceiling, "ceiling")

    def _store_of(self, work_order_id: UUID) -> str:
        try:
            found: Any = self.app.repository.get(work_order_id)
        except Exception:  # noqa: BLE001 - the command answers unknown ids
            return ""
        return str(getattr(found, "store_id", ""))

    def request_refund(self, request: Request, settlement_id: UUID, *, payment_id: str,
                       amount: object, reason: str | None, kind: str = "payment_return",
                       red_invoice_number: str | None = None) -> CommandResult:
        """A refund or a credit; a credit's red-letter invoice number once per store, blue
        and red together (`RedInvoiceNumber`, created in the same save)."""
        refund_id = "RF-" + uuid4().hex[:12].upper()
        red = invoice_number(red_invoice_number or "")

        def act(session: Session, settlement: Settlement) -> dict[str, Any]:
            audit = session.audit(settlement.store_id)
            settlement.request_refund(audit, refund_id, payment_id, amount, reason, kind,
                                      red or None)
            if red:  # the credit's bill was invoiced: request_refund refuses it otherwise
                self._reserve_red(session, settlement, refund_id, red)
            return {"refund_id": refund_id, "refund_status": "requested", "kind": kind}

        peek = self._peek(settlement_id)
        held = (InvoiceNumber.create_id(peek.store_id, red),) if peek and red else ()
        return self._on(request, settlement_id, act, held)

    @staticmethod
    def _reserve_red(session: Session, settlement: Settlement, refund_id: str,
                     red: str) -> None:
        reservation = InvoiceNumber.create_id(settlement.store_id, red)
        found = session.find(InvoiceNumber, reservation)
        refuse_taken([found])
        refund = settlement.refunds[refund_id]
        assert settlement.number is not None
        audit, cancels = session.audit(settlement.store_id), settlement.bills[refund["bill"]][
            "invoice_no"]
        if found is not None:  # let go by a rejected credit
            found.take_again(audit, refund["bill"], settlement.id, settlement.number,
                             settlement.work_order_number, refund_id, cancels)
            return
        session.add(RedInvoiceNumber(
            id=reservation, audit=audit, invoice_no=red, bill=refund["bill"],
            settlement_id=settlement.id, settlement_number=settlement.number,
            work_order_number=settlement.work_order_number, refund_id=refund_id,
            cancels=cancels))

    def decide_refund(self, request: Request, settlement_id: UUID, refund_id: str, *,
                      approve: bool, reason: str | None = None, payout_method: str | None = None,
                      payout_ref: str | None = None) -> CommandResult:
        """A manager (not the requester) approves: the money leaves the cashier's day (by the
        payout's method). A rejected credit lets its red-letter number go in the same save."""
        day = self.today(request).isoformat()

        def act(session: Session, settlement: Settlement) -> dict[str, Any]:
            audit = session.audit(settlement.store_id)
            refund = settlement.decide_refund(audit, refund_id, approve, reason, day,
                                              payout_method, payout_ref)
            if not approve and refund.get("red_invoice_number"):
                found = session.find(InvoiceNumber, InvoiceNumber.create_id(
                    settlement.store_id, invoice_number(refund["red_invoice_number"])))
                if found is not None:  # none: a credit from before numbers were reserved
                    found.release(audit, refund_id)
            if approve:
                cashier = refund["requested_by"]
                day_id = CashierDay.create_id(settlement.store_id, cashier, day)
                cashier_day = session.find(CashierDay, day_id)
                if cashier_day is None:
                    cashier_day = CashierDay(id=day_id, audit=audit, cashier_id=cashier,
                                             business_date=day)
                    session.add(cashier_day)
                cashier_day.money_out(audit, settlement.id, refund_id, refund["payout_method"],
                                      refund["amount"])
                self._refund_to_customer(session, settlement, refund)
            return {"refund_id": refund_id, "refund_status": "approved" if approve
                    else "rejected"}

        peek = self._peek(settlement_id)
        red = (peek.refunds.get(refund_id) or {}).get("red_invoice_number") if peek else None
        held = (InvoiceNumber.create_id(peek.store_id, red),) if peek and red else ()
        return self._on(request, settlement_id, act, held)

    # -- day-end -----------------------------------------------------------------------------

    def close_day(self, request: Request, *, store_id: str, business_date: str | None = None,
                  counted_cash: object, reason: str | None = None,
                  cashier_id: str | None = None) -> CommandResult:
        """Totals by method; expected vs counted cash, a variance needs a reason."""
        caller = request.caller
        require_group_store(self.stores, store_id)
        require(caller.may_use(store_id), NotPermitted(f"your token does not cover {store_id}"))
        cashier = cashier_id or caller.user_id
        require(cashier == caller.user_id or caller.role in ("manager", "finance"),
                NotPermitted("a cashier closes their own day"))
        day = self._business_date(request, business_date, "a day-end close")
        day_id = CashierDay.create_id(store_id, cashier, day)

        def decide(session: Session) -> Decision:
            found = session.find(CashierDay, day_id)
            if found is None:  # a day without takings still closes (zero totals)
                found = CashierDay(id=day_id, audit=session.audit(store_id), cashier_id=cashier,
                                   business_date=day)
                session.add(found)
            variance = found.close(session.audit(store_id), counted_cash, reason)
            return Decision(found, {"business_date": day, "cashier_id": cashier,
                                    "totals": {k: str(v) for k, v in found.totals.items()},
                                    "expected_cash": str(found.expected_cash),
                                    "variance": str(variance)})

        return self.app.execute(request, decide, (day_id,))


def business_day(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).date().isoformat()
