"""Customers and vehicles as the front desk sees them: opened personal fields (erased after
Customer.Erased), phones, consent, tags, points; vehicles with plate and owner history, mileage
readings, visits and spend (from the work orders), complaints, and each car's next service due.

The tables are declared here; the customer events are folded here, the vehicle, plan and
work-order events in `projections/vehicle_files.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from domain.customer import Customer
from domain.customers import phone_as_kept
from domain.follow_up import Complaint
from domain.pii import ERASED, PersonalData
from domain.reminders import Plan
from domain.vehicle import ServicePlan, Vehicle
from domain.work_order import WorkOrder
from projections.base import Index, PersonalColumns, ReadModel
from projections.batch_rows import plain
from projections.prior_visits import TABLE as PRIOR_VISITS
from projections.vehicle_files import Batch, Opener, VehicleFiles, preload_keys


def consent_entry(e: Customer.ConsentGiven | Customer.ConsentWithdrawn) -> Any:
    """A channel's consent as a customer's detail shows it: given or withdrawn, when, by
    whom, and the note (given) or reason (withdrawn)."""
    granted = isinstance(e, Customer.ConsentGiven)
    return plain({"granted": granted, "at": e.audit.at.isoformat(), "by": e.audit.user_id,
                  "note": getattr(e, "note" if granted else "reason")})


def open_phones(sealed: dict[str, Any], customer_id: UUID, open_pii: Opener) -> list[str]:
    """The phones in their kept form (`phone_as_kept`): one registered in full-width digits
    before they were read as ASCII (domain/ascii_width.py), or a walk-in's typed with blanks or
    dashes before it was kept as a registered customer's, is found by the phone typed any way."""
    tokens = sealed.get("phones") or ([sealed["phone"]] if sealed.get("phone") else [])
    return [phone if phone == ERASED else phone_as_kept(phone)
            for phone in (open_pii(customer_id, token) for token in tokens) if phone]


class CustomersView(VehicleFiles, ReadModel):
    name = "customers"
    # 2: a visit's complaints include the jobs added after opening (JobAdded); 3: cars and plans
    # are matched by the brand's and model's `ServicePlan.key` (full-width letters folded);
    # 4: phones in their ASCII form (`open_phones`); 5: a walk-in's phone in its kept form
    # (`phone_as_kept`: without the blanks and dashes it may have been typed with); 6: visits
    # imported from the previous system (`prior_visits`), counted in the next service due;
    # 7: an older complaint moved into the complaint register (`moved`, `grievance_id`);
    # 8: each phone's last digits (`phone_tails`, indexed) for a search by them
    revision = 8
    handles = (Customer.Event, Vehicle.Event, ServicePlan.Event, WorkOrder.Event,
               Complaint.Event)
    pipelined = True  # the statements of the rarer events (complaints, plans, reminders)
    tables = {  # noqa: RUF012
        "customers": """
            id uuid PRIMARY KEY, store_id text NOT NULL, kind text NOT NULL, name text,
            phones text[] NOT NULL DEFAULT '{}', wechat_id text, erased boolean NOT NULL,
            consent jsonb NOT NULL, tags text[] NOT NULL DEFAULT '{}', lots jsonb NOT NULL,
            registered_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
            version integer NOT NULL, credit_terms jsonb,
            phone_tails text[] NOT NULL DEFAULT '{}'""",
        "customer_points": """
            customer_id uuid NOT NULL, notification_id bigint NOT NULL, at timestamptz NOT NULL,
            kind text NOT NULL, points integer NOT NULL, reference text, amount numeric,
            expires_on date, by_user text NOT NULL, shortfall integer,
            PRIMARY KEY (customer_id, notification_id)""",
        "customer_complaints": """
            id uuid PRIMARY KEY, customer_id uuid NOT NULL, store_id text NOT NULL,
            work_order_id uuid, work_order_number text, description text NOT NULL,
            source text, status text NOT NULL, opened_at timestamptz NOT NULL,
            resolved_at timestamptz, resolution text, grievance_id uuid""",
        "vehicles": """
            id uuid PRIMARY KEY, vin text NOT NULL UNIQUE, store_id text NOT NULL, plate text,
            brand text, model text, year integer, sale_date date, owner_id uuid,
            registered boolean NOT NULL, plates jsonb NOT NULL, owners jsonb NOT NULL,
            first_seen timestamptz NOT NULL, updated_at timestamptz NOT NULL,
            brand_key text, model_key text""",
        "vehicle_readings": """
            vehicle_id uuid NOT NULL, work_order_id uuid NOT NULL, source text NOT NULL,
            at timestamptz NOT NULL, on_day date NOT NULL, km integer NOT NULL,
            PRIMARY KEY (vehicle_id, work_order_id, source)""",
        "visits": """
            work_order_id uuid PRIMARY KEY, number text NOT NULL, store_id text NOT NULL,
            customer_id uuid NOT NULL, vehicle_id uuid NOT NULL, kind text NOT NULL,
            status text NOT NULL, opened_at timestamptz NOT NULL, mileage integer NOT NULL,
            complaints text[] NOT NULL, appointment_id text, serviced_on date,
            customer_total numeric, settled_at timestamptz, delivered_at timestamptz,
            refunded numeric NOT NULL DEFAULT 0""",
        "prior_visits": PRIOR_VISITS,
        "service_plans": """
            id uuid PRIMARY KEY, brand_key text NOT NULL, model_key text NOT NULL,
            brand text NOT NULL, model text NOT NULL, months integer NOT NULL,
            km integer NOT NULL, updated_at timestamptz NOT NULL""",
        "service_due": """
            vehicle_id uuid PRIMARY KEY, store_id text NOT NULL, due_on date NOT NULL,
            basis text NOT NULL, by_time date NOT NULL, by_km date, target_km integer NOT NULL,
            km_per_day numeric, last_service_on date, last_service_km integer,
            plan jsonb NOT NULL""",
        "reminder_outcomes": """
            notification_id bigint PRIMARY KEY, vehicle_id uuid NOT NULL, due_on date NOT NULL,
            outcome text NOT NULL, channel text, note text, appointment_id text,
            by_user text NOT NULL, at timestamptz NOT NULL""",
    }
    personal_columns = {  # noqa: RUF012
        "customers": PersonalColumns("id", {"name": "NULL", "phones": "NULL",
                                            "phone_tails": "'{}'",
                                            "wechat_id": "NULL"})}
    # no customer had credit terms before they could be set
    added_columns = (("customers", "credit_terms jsonb"),)
    indexes = (
        Index("customers", "customers_phones_idx", "USING gin (phones)"),
        Index("customers", "customers_phone_tails_idx", "USING gin (phone_tails)"),
        Index("customers", "customers_name_idx", "(lower(name) text_pattern_ops)"),
        Index("customers", "customers_store_idx", "(store_id)"),
        Index("customer_complaints", "complaints_customer_idx", "(customer_id)"),
        Index("vehicles", "vehicles_plate_idx", "(plate)"),
        Index("vehicles", "vehicles_vin_prefix_idx", "(vin text_pattern_ops)"),
        Index("vehicles", "vehicles_plates_idx", "USING gin (plates jsonb_path_ops)"),
        Index("vehicles", "vehicles_plate_rest_idx", "(substr(plate, 2))"),
        Index("vehicles", "vehicles_owner_idx", "(owner_id)"),
        Index("visits", "visits_customer_idx", "(customer_id, opened_at)"),
        Index("visits", "visits_vehicle_idx", "(vehicle_id, opened_at)"),
        Index("service_due", "service_due_store_idx", "(store_id, due_on)"),
        Index("prior_visits", "prior_visits_vehicle_idx", "(vehicle_id, date_in)"),
        Index("reminder_outcomes", "reminder_outcomes_vehicle_idx", "(vehicle_id, due_on)"),
    )

    def __init__(self, personal_data: PersonalData, timezone: str = "Asia/Shanghai",
                 default_plan: Plan | None = None) -> None:
        self.personal_data = personal_data
        self.zone = ZoneInfo(timezone)
        self.default_plan = default_plan or Plan(12, 10_000)

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        customers, vehicles, visits = preload_keys(events, Customer.Event)
        opener, forget = self.personal_data.prefetched(customers)
        batch = Batch(conn, suffix, opener, self.zone)
        batch.preload(customers, vehicles, visits)
        for notification_id, event in events:
            name = type(event).__qualname__
            if isinstance(event, Customer.Event):
                self._customer(batch, notification_id, event)
                if isinstance(event, Customer.Erased):
                    forget(event.originator_id)
            elif isinstance(event, Vehicle.Event):
                self._vehicle(batch, notification_id, event)
            elif isinstance(event, ServicePlan.Event):
                self._plan(batch, event)
            elif name.startswith("WorkOrder."):
                self._work_order(batch, name, event)
            elif name.startswith("Complaint."):
                self._complaint(batch, name, event)
        batch.flush()
        if batch.dirty:
            self._recompute_due(batch)

    # -- customers ---------------------------------------------------------------------------

    def _customer(self, b: Batch, notification_id: int, e: Any) -> None:
        cid = e.originator_id
        row = b.customers.get(cid)
        if isinstance(e, Customer.Registered):
            if row is None:
                sealed = e.sealed
                b.customers[cid] = {
                    "id": cid, "store_id": e.audit.store_id, "kind": e.kind,
                    "name": b.open_pii(cid, sealed.get("name")),
                    "phones": open_phones(sealed, cid, b.open_pii),
                    "wechat_id": b.open_pii(cid, sealed.get("wechat_id")), "erased": False,
                    "consent": {}, "tags": [], "lots": [], "registered_at": e.audit.at,
                    "updated_at": e.audit.at, "version": e.originator_version,
                    "credit_terms": None}
                b.touch("customers", cid)
            return
        self._customer_change(b, notification_id, e, row)
        if row is not None:
            row.update(updated_at=e.audit.at, version=e.originator_version)
            b.touch("customers", cid)

    def _customer_change(self, b: Batch, notification_id: int, e: Any,
                         row: dict[str, Any] | None) -> None:
        """The change an event makes to its customer's row (when the row exists)."""
        cid = e.originator_id
        if isinstance(e, Customer.PointsEarned | Customer.PointsRedeemed | Customer.PointsExpired):
            self._points(b, notification_id, e, row)
        elif isinstance(e, Customer.PaymentRefunded):
            self._refunded(b, notification_id, e, row)
        elif isinstance(e, Customer.PaidAgain):
            self._paid_again(b, notification_id, e, row)
        elif row is None:
            return
        elif isinstance(e, Customer.Erased):
            row.update(name=ERASED, phones=[ERASED], wechat_id=ERASED, erased=True)
        elif isinstance(e, Customer.DetailsChanged):
            row["kind"] = e.kind
            if "name" in e.sealed:
                row["name"] = b.open_pii(cid, e.sealed["name"])
            if "phones" in e.sealed:
                row["phones"] = open_phones(e.sealed, cid, b.open_pii)
            if "wechat_id" in e.sealed:
                row["wechat_id"] = b.open_pii(cid, e.sealed["wechat_id"])
        elif isinstance(e, Customer.ConsentGiven | Customer.ConsentWithdrawn):
            row["consent"][e.channel] = consent_entry(e)
        elif isinstance(e, Customer.Tagged):
            row["tags"].append(e.tag)
        elif isinstance(e, Customer.Untagged):
            row["tags"] = [tag for tag in row["tags"] if tag != e.tag]
        elif isinstance(e, Customer.CreditTermsSet):
            row["credit_terms"] = {"limit": str(e.limit), "days": e.days,
                                   "set_at": e.audit.at.isoformat(), "set_by": e.audit.user_id}
        elif isinstance(e, Customer.CreditTermsRemoved):
            row["credit_terms"] = None

    def _points(self, b: Batch, notification_id: int, e: Any,
                row: dict[str, Any] | None) -> None:
        lots: list[dict[str, Any]] = row["lots"] if row is not None else []
        amount, expires_on, reference = None, None, getattr(e, "reference", None)
        if isinstance(e, Customer.PointsEarned):
            lots.append(plain({"reference": e.reference, "points": e.points,
                               "remaining": e.points, "earned_at": e.audit.at.isoformat(),
                               "expires_on": e.expires_on}))
            amount, expires_on, kind, points = e.paid_amount, e.expires_on, "earned", e.points
        else:
            for take in e.lots:
                lot = next(lot for lot in lots if lot["reference"] == take["reference"])
                lot["remaining"] -= take["points"]
            redeemed = isinstance(e, Customer.PointsRedeemed)
            kind, points = ("redeemed", -e.points) if redeemed else ("expired", -e.points)
            amount = getattr(e, "value", None)
        b.points.append({"customer_id": e.originator_id, "notification_id": notification_id,
                         "at": e.audit.at, "kind": kind, "points": points,
                         "reference": reference, "amount": amount, "expires_on": expires_on,
                         "by_user": e.audit.user_id, "shortfall": None})

    def _refunded(self, b: Batch, notification_id: int, e: Customer.PaymentRefunded,
                  row: dict[str, Any] | None) -> None:
        """Money back on a settled visit: the visit's spend drops by it; the points taken back
        (and the shortfall the balance could not give) are a row of the points history."""
        visit = b.visits.get(e.work_order_id)
        if visit is not None:
            visit["refunded"] = (visit.get("refunded") or 0) + e.amount
            b.touch("visits", e.work_order_id)
        lots: list[dict[str, Any]] = row["lots"] if row is not None else []
        for take in e.lots:
            lot = next(lot for lot in lots if lot["reference"] == take["reference"])
            lot["remaining"] -= take["points"]
        if e.points or e.shortfall:
            b.points.append({"customer_id": e.originator_id, "notification_id": notification_id,
                             "at": e.audit.at, "kind": "taken_back", "points": -e.points,
                             "reference": e.reference, "amount": e.amount, "expires_on": None,
                             "by_user": e.audit.user_id, "shortfall": e.shortfall})

    def _paid_again(self, b: Batch, notification_id: int, e: Customer.PaidAgain,
                    row: dict[str, Any] | None) -> None:
        """Money that went back paid again: the visit's spend rises by it; the points that
        come back (and the shortfall forgiven) are a row of the points history."""
        visit = b.visits.get(e.work_order_id)
        if visit is not None:
            visit["refunded"] = (visit.get("refunded") or 0) - e.amount
            b.touch("visits", e.work_order_id)
        lots: list[dict[str, Any]] = row["lots"] if row is not None else []
        lot = next((lot for lot in lots if lot["reference"] == e.reference), None)
        if lot is not None:
            lot["remaining"] += e.points
        if e.points or e.forgiven:
            b.points.append({"customer_id": e.originator_id, "notification_id": notification_id,
                             "at": e.audit.at, "kind": "given_back", "points": e.points,
                             "reference": e.reference, "amount": e.amount, "expires_on": None,
                             "by_user": e.audit.user_id, "shortfall": -e.forgiven})

    def _complaint(self, b: Batch, name: str, e: Any) -> None:
        if name == "Complaint.Opened":
            b.conn.execute(
                f"""INSERT INTO {b.t('customer_complaints')} (id, customer_id, store_id,
                    work_order_id, work_order_number, description, source, status, opened_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, 'opened', %s) ON CONFLICT (id) DO NOTHING""",
                (e.originator_id, e.customer_id, e.audit.store_id,
                 getattr(e, "work_order_id", None), getattr(e, "work_order_number", None),
                 getattr(e, "description", ""), getattr(e, "source", None), e.audit.at))
        elif name == "Complaint.Assigned":
            b.conn.execute(f"UPDATE {b.t('customer_complaints')} SET status = 'assigned' "
                           "WHERE id = %s", (e.originator_id,))
        elif name == "Complaint.Resolved":
            b.conn.execute(
                f"""UPDATE {b.t('customer_complaints')} SET status = 'resolved',
                    resolved_at = %s, resolution = %s WHERE id = %s""",
                (e.audit.at, getattr(e, "resolution", None), e.originator_id))
        elif name == "Complaint.Moved":
            b.conn.execute(f"UPDATE {b.t('customer_complaints')} SET status = 'moved', "
                           "grievance_id = %s WHERE id = %s",
                           (e.grievance_id, e.originator_id))
