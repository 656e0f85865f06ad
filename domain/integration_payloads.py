"""What each known event of a published stream puts in its integration event's payload.

Only the fields named here leave the event store (domain/integration_events.py): no internal
costs or margins and no personal data. `fields` names an event's attributes, `keep` reduces a
nested value to some keys; an event whose content is not for the topic publishes `nothing`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Payload = Callable[[Any], dict[str, Any]]


# -- field selections ---------------------------------------------------------------------------

def _pick(value: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(value, Mapping):
        return {k: value[k] for k in keys if k in value}
    if isinstance(value, list):
        return [_pick(item, keys) for item in value]
    return value


def keep(*keys: str) -> Callable[[Any], Any]:
    """A nested dict (or list of dicts) reduced to `keys`."""
    return lambda value: _pick(value, keys)


def fields(names: str = "", **transforms: Callable[[Any], Any]) -> Payload:
    """The payload: the named attributes of the event (absent ones skipped), some transformed."""
    plain = tuple(names.split())

    def payload(event: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in plain:
            if hasattr(event, name):
                out[name] = getattr(event, name)
        for name, transform in transforms.items():
            if hasattr(event, name):
                out[name] = transform(getattr(event, name))
        return out

    return payload


def nothing(event: Any) -> dict[str, Any]:
    """A known event whose content is not for this topic: the fact only, no fields."""
    return {}


vehicle = keep("vin", "vehicle_id", "brand", "model", "year")  # no plate: it names a person
picks = keep("lot_id", "qty")
check_in = keep("mileage_in", "fuel_level", "damage_notes", "promised_at")
acknowledgement = keep("method")  # not who signed
payment = keep("payment_id", "bill", "method", "amount", "provider_ref", "business_date",
               "cashier", "kind", "correction_of")
statement_lines = keep("line_no", "date", "amount", "reference")  # no counterparty name
lots = keep("lot_id", "origin_lot", "qty", "supplier", "cert_ref")


def public_line(line: Mapping[str, Any]) -> dict[str, Any]:
    """An estimate line without what its sublet cost the shop (a margin)."""
    out = dict(line)
    if out.get("sublet"):
        out["sublet"] = _pick(out["sublet"], ("supplier", "invoice_ref"))
    return out

PAYLOADS: dict[str, dict[str, Payload]] = {
    "WorkOrder": {
        "Opened": fields("number customer_id mileage kind appointment_id complaints",
                         vehicle=vehicle),
        "CheckedIn": fields(details=check_in),
        "JobAdded": fields("complaint"),
        "Diagnosed": fields("job_no cause correction fault_codes"),
        "LineAdded": fields(line=public_line),
        "LineRepriced": fields("line_id unit_price gross vat reason"),
        "LineAuthorized": fields("line_id decision channel"),
        "JobDispatched": fields("job_no technician_id previous reason set_aside"),
        "JobClosed": fields("job_no outcome reason"),
        "ClockedOn": fields("job_no technician_id"),
        "ClockedOff": fields("job_no technician_id seconds"),
        "JobCompleted": fields("job_no"),
        "QualityChecked": fields("job_no passed reason"),
        "ReadyForSettlement": nothing,
        "Cancelled": fields("reason"),
        "PartSupply": fields("line_id supply reserved_qty available"),
        "PartsIssued": fields("line_id qty", picks=picks),
        "PartsReturned": fields("line_id qty reason", picks=picks),
        "LineWithdrawn": fields("line_id withdrawn_qty qty gross vat reason"),
        "LinesMoved": fields("line_ids follow_on_id follow_on_number reason"),
        "LinesCarriedOver": fields("from_id from_number lines reason"),
        "BackInProgress": fields("reason"),
        "SettlementConfirmed": fields("settlement_id number"),
        "Settled": fields("settlement_id number customer_total"),
        "SettlementReversed": fields("number reason"),
        "Delivered": fields("mileage_out handed_over_by follow_up_id follow_up_due",
                            acknowledgement=acknowledgement),
        "Closed": fields("follow_up_id"),
        "CompensationRecorded": fields("kind days reference"),  # no amount: an expense
        "SerialsRecorded": fields("line_id fitted removed reason"),
        # the file's fingerprint, not where the store keeps it nor the caption's free text
        "EvidenceAdded": fields("evidence_id job_no line_id kind sha256 media_type size"),
        "EvidenceWithdrawn": fields("evidence_id reason"),
        "CompletionCertified": fields("cert_no inspector repair_class"),
        "ComebackMarked": fields("earlier_work_order_id earlier_number earlier_store_id reason"),
        "ComebackMarkWithdrawn": fields("earlier_work_order_id reason"),
    },
    "StockItem": {
        "Opened": fields("store_id part_number unit min_stock reorder_qty"),
        "LevelsSet": fields("min_stock reorder_qty"),
        "Received": fields("lot_id qty supplier supplier_doc cert_ref po_ref"),
        "Ordered": fields("order_ref qty"),
        "OrderClosed": fields("order_ref qty"),
        "Reserved": fields("key qty"),
        "Released": fields("key qty reason"),
        "Issued": fields("key from_reserved", picks=picks),
        "ReturnedFromJob": fields("key reason", picks=picks),
        "ScrapRequested": fields("request_id qty lot_id reason"),
        "ScrapRejected": fields("request_id qty reason"),
        "Scrapped": fields("request_id reason approved_by from_reserved", picks=picks),
        "Counted": fields("count_id reason needs_approval",
                          lines=keep("lot_id", "book", "counted", "variance")),
        "CountRejected": fields("count_id reason"),
        "VariancePosted": fields("count_id reason approved_by",
                                 adjustments=keep("lot_id", "book", "counted", "variance")),
        "TransferredOut": fields("transfer_id to_store reason", picks=picks),
        "TransferredIn": fields("transfer_id from_store", lots=lots),
        "ReturnedToSupplier": fields("lot_id qty supplier reference reason"),
        "LowStockAlertRaised": fields("available min_stock"),
        "LowStockAlertCleared": fields("available"),
    },
    "Part": {
        "Registered": fields("part_number details list_price"),
        "DetailsChanged": fields("changes"),
        "PriceChanged": fields("old_price new_price reason"),
    },
    "RepairFiling": {  # a repair record's uploads to the national system: no personal data
        "Started": fields("work_order_id work_order_number store_id"),
        "Filed": fields("receipt_no settlement_number"),
        "Failed": fields("error settlement_number"),
        "Refiled": fields("receipt_no previous_receipt_no reason settlement_number"),
    },
    "FailedPart": {  # a failed part removed under warranty, tag to OEM: no personal data
        "Tagged": fields("store_id tag_number work_order_id work_order_number line_id "
                         "part_number causal location"),
        "Moved": fields("location previous note"),
        "ReturnRequested": fields("request_ref"),
        "Shipped": fields("shipment_ref shipped_on"),
        "ReceivedByOem": fields("receipt_ref"),
        "Scrapped": fields("instruction_ref reason"),
        "Lost": fields("reason"),
    },
    "LostSale": {  # a part asked for and not sold; the clerk's free-text note stays inside
        "Recorded": fields("store_id part_number qty reason work_order_id customer_id"),
        "Voided": fields("reason"),
    },
    "OemClaim": {  # what the OEM did with a visit's warranty claim: no personal data in it
        "Submitted": fields("work_order_id work_order_number store_id oem_claim_number claimed"),
        "Rejected": fields("reason_code reason"),
        "Resubmitted": fields("changes oem_claim_number claimed"),
        "Approved": fields("approved_amount claimed reason"),
        "WrittenOff": fields("kind amount settlement_number reason"),
        "WriteOffReversed": fields("write_off_id kind amount settlement_number reason"),
    },
    "Insurer": {
        "Registered": fields("code name short_name aliases"),
        "Renamed": fields("name short_name reason"),
        "AliasesChanged": fields("added removed reason"),
        "Deactivated": fields("reason"),
    },
    "LaborOperation": {  # the store's prices to its customers and payers: no cost in them
        "Registered": fields("store_id op_code description flat_rate_hours rates skill level"),
        "Changed": fields("changes reason"),
    },
    "Campaign": {  # the OEM's recall or service campaign and the cars it covers
        "Registered": fields("campaign_no brand title kind remedy starts_on ends_on"),
        "VinsListed": fields("vins"),
        "Closed": fields("reason"),
    },
    "PurchaseOrder": {
        "Drafted": fields("number supplier lines source expected_on"),
        "LineAdded": fields("line"),
        "Sent": nothing,
        "ExpectedDateChanged": fields("expected_on previous reason"),
        "LineReceived": fields("line_no qty lot_id supplier_doc"),
        "Closed": fields("reason short"),
        "Cancelled": fields("reason"),
    },
    "Transfer": {
        "Dispatched": fields("number from_store to_store part_number qty reason", picks=picks),
        "Received": fields("lot_ids"),
        "ReceivedShort": fields("qty count_id reason"),
    },
    "Settlement": {
        "Opened": fields("work_order_id work_order_number customer_id"),
        "Drafted": fields("bills"),
        "InsuranceAssessed": fields("assessment reason"),
        "DiscountGiven": fields("bill line_id amount allocation reason approved_by"),
        "Confirmed": fields("number totals"),
        "InvoiceRecorded": fields("bill invoice_no"),
        # a remittance the bank received (in no cashier's day), and one paid back by bank
        "PaymentTaken": fields("bank_receipt", payment=payment),
        "RefundRequested": fields("refund_id payment_id amount reason kind red_invoice_number"),
        "RefundApproved": fields("refund_id business_date kind payout_method payout_ref "
                                 "bank_refund"),
        "RefundRejected": fields("refund_id reason"),
        "ChargedToAccount": fields("amount due_on limit balance"),
        "Settled": fields("number customer_total"),
        "Reversed": fields("number reason red_invoices"),
        "PaymentReconciled": fields("payment_id statement_id line_no manual reason"),
        "RefundReconciled": fields("refund_id statement_id line_no reason"),
        "RefundReconciliationWithdrawn": fields("refund_id statement_id line_no reason"),
        "PaymentReconciliationWithdrawn": fields("payment_id statement_id line_no reason"),
        "ReceivableWrittenOff": fields("bill kind amount reference reason write_off_id"),
        "WriteOffReversed": fields("write_off_id bill kind amount reason"),
    },
    "CashierDay": {
        "Opened": fields("cashier_id business_date"),
        "MoneyIn": fields("settlement_id payment_id method amount correction_of"),
        "MoneyOut": fields("settlement_id refund_id method amount"),
        "Closed": fields("totals expected_cash counted_cash variance reason"),
    },
    "Statement": {
        "Imported": fields("source account", lines=statement_lines),
        "LineMatched": fields("line_no settlement_id payment_id manual reason"),
        "RefundMatched": fields("line_no settlement_id refund_id reason manual"),
        "LineExplained": fields("line_no kind reason duplicate_of"),
        "ExplanationWithdrawn": fields("line_no reason"),
        "RefundMatchWithdrawn": fields("line_no settlement_id refund_id reason"),
        "PaymentMatchWithdrawn": fields("line_no settlement_id payment_id reason"),
    },
    "Customer": {  # the id, the kind and the erasure; nothing else about a person leaves
        "Registered": fields("kind"),
        "DetailsChanged": fields("kind"),
        "Erased": lambda event: {"erased": True},
        **{name: nothing for name in ("ConsentGiven", "ConsentWithdrawn", "Tagged", "Untagged",
                                      "PointsEarned", "PointsRedeemed", "PointsExpired",
                                      "PaymentRefunded", "PaidAgain", "CreditTermsSet",
                                      "CreditTermsRemoved", "AccountCharged",
                                      "AccountPaid", "AccountChargesClosed",
                                      "AccountChargeReopened", "AccountChargeEnded",
                                      "LotsArchived",
                                      "LotRevived", "RedemptionsArchived")},
    },
    "Vehicle": {
        "Registered": fields("vin brand model year sale_date owner_id"),
        "DetailsCorrected": fields("brand model year sale_date reason"),
        "PlateChanged": nothing,
        "OwnerChanged": fields("owner_id previous reason"),
        "ReminderRecorded": fields("due_on outcome channel appointment_id"),
        "PriorVisitImported": fields("source_ref date_in date_out mileage_in kind pay_type"),
    },
    "ServicePlan": {
        "Set": fields("brand_key model_key brand model months km"),
        "Changed": fields("months km reason"),
    },
    "FollowUp": {
        "Scheduled": fields("work_order_id work_order_number customer_id due_on"),
        "Attempted": fields("outcome"),
        "Completed": fields("csi comment complaint_id"),
    },
    "Complaint": {
        "Opened": fields("work_order_id work_order_number customer_id description source"),
        "Assigned": fields("assignee note"),
        "Resolved": fields("resolution"),
        "Moved": fields("grievance_id"),
    },
    # a complaint case or suggestion: never the customer's words nor the staff's notes about
    # the customer (both sealed with the customer's key; a step stored before kept its note in
    # clear, which is not sent either)
    "Grievance": {
        "Registered": fields("store_id customer_id kind channel category severity oem_case_no "
                             "work_order_id work_order_number vin follow_up_id contact_due "
                             "close_due"),
        "Assigned": fields("owner previous"),
        "Contacted": nothing,
        "ActionTaken": nothing,
        "Resolved": fields("accepted"),
        "Closed": nothing,
        "Reopened": nothing,
    },
    "Technician": {
        "Registered": fields("user_id store_id"),
        "ClockedOn": fields("work_order_id job_no"),
        "ClockedOff": fields("work_order_id job_no"),
        "SkillsSet": fields("skills reason"),
        "HourlyCostSet": nothing,
        "Named": nothing,  # a member of staff's name stays inside
        "ShiftsPlanned": fields("shifts"),
        "ShiftCancelled": fields("day reason"),
        "AttendanceRecorded": fields("day status hours"),
        "JobAssigned": fields("work_order_id job_no hours need"),
        "JobReleased": fields("work_order_id job_no why"),
    },
    "Appointment": {
        "Booked": fields("store_id customer_id day arrival services kind", vehicle=vehicle),
        "Rescheduled": fields("day arrival previous_day previous_arrival reason"),
        "Cancelled": fields("reason"),
        "NoShow": nothing,
        "Arrived": fields("work_order_id work_order_number"),
    },
    # a customer's own request: its slot and the work asked, never who asked (name, phone and
    # note sealed, the car), nor the customer's reason for cancelling
    "OnlineBooking": {
        "Requested": fields("store_id day arrival kind",
                            services=keep("op_code", "skill", "hours")),
        "Confirmed": fields("appointment_id customer_id registered"),
        "Declined": nothing,
        "Cancelled": nothing,
        "Expired": fields("answer_by"),
        "Shredded": nothing,
    },
    "WorkshopDay": {
        "Planned": fields("store_id day opens closes bays skill_hours"),
        "Replanned": fields("opens closes bays skill_hours reason"),
        "Reserved": fields("appointment_id arrival work bay_minutes"),
        "Released": fields("appointment_id why"),
    },
    "Roster": {
        "Started": fields("store_id"),
        "Joined": fields("user_id"),
        "Left": fields("user_id reason"),
    },
}
