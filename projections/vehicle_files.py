"""The vehicle half of the customers read model: cars (registered, or seen only on work
orders), plate and owner history, mileage readings, visits (with every complaint: those taken
at opening and each job added later) and spend, and the next service due.

Spend comes from `WorkOrder.Settled` (customer_total) less what `Customer.PaymentRefunded`
gave back (refunded) and `Customer.PaidAgain` took again, mileage out from `WorkOrder.Delivered`; the work-order events are matched
by class name so this runs before those events exist.

A batch folds its customer, vehicle and visit rows in memory (`Batch`) and writes each table
once at its end; the next service due is then recomputed from the tables.

A car's brand and model are typed freely ("Volkswagen", "VOLKSWAGEN", full-width
"ＶＯＬＫＳＷＡＧＥＮ"): a car and a service plan are matched by `ServicePlan.key` of each,
computed here in Python and kept beside the text (`brand_key`, `model_key` of both tables), so
that SQL compares keys and never approximates the folding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from domain.customers import LAST_DIGITS, shown_phone
from domain.pii import ERASED
from domain.reminders import Plan, Reading, next_service
from domain.vehicle import ServicePlan, Vehicle
from domain.work_order import WorkOrder
from projections import prior_visits
from projections.batch_rows import load, plain, upsert

Opener = Callable[[UUID, "str | None"], "str | None"]
# work-order events that only move the visit's status
STATUS_OF = {"WorkOrder.JobDispatched": "in_progress", "WorkOrder.BackInProgress": "in_progress",
             "WorkOrder.Closed": "closed", "WorkOrder.SettlementReversed": "ready_for_settlement"}
VISIT_EVENTS = {*STATUS_OF, "WorkOrder.CheckedIn", "WorkOrder.ReadyForSettlement",
                "WorkOrder.Cancelled", "WorkOrder.Settled", "WorkOrder.Delivered",
                "WorkOrder.JobAdded"}
CUSTOMER_COLUMNS = ("id", "store_id", "kind", "name", "phones", "wechat_id", "erased", "consent",
                    "tags", "lots", "registered_at", "updated_at", "version", "credit_terms",
                    "phone_tails")
VEHICLE_COLUMNS = ("id", "vin", "store_id", "plate", "brand", "model", "year", "sale_date",
                   "owner_id", "registered", "plates", "owners", "first_seen", "updated_at",
                   "brand_key", "model_key")
VISIT_COLUMNS = ("work_order_id", "number", "store_id", "customer_id", "vehicle_id", "kind",
                 "status", "opened_at", "mileage", "complaints", "appointment_id",
                 "serviced_on", "customer_total", "settled_at", "delivered_at", "refunded")
READING_COLUMNS = ("vehicle_id", "work_order_id", "source", "at", "on_day", "km")
POINTS_COLUMNS = ("customer_id", "notification_id", "at", "kind", "points", "reference",
                  "amount", "expires_on", "by_user", "shortfall")


@dataclass
class Batch:
    """The rows one batch reads and changes, by primary key (loaded up front, see `preload`)."""

    conn: psycopg.Connection[Any]
    suffix: str
    open_pii: Opener
    zone: ZoneInfo
    dirty: set[UUID] = field(default_factory=set)  # vehicles whose next service is recomputed
    customers: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    vehicles: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    visits: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    readings: dict[tuple[UUID, UUID, str], dict[str, Any]] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=list)
    changed: dict[str, set[Any]] = field(default_factory=lambda: {
        "customers": set(), "vehicles": set(), "visits": set()})

    def t(self, table: str) -> str:
        return table + self.suffix

    def day(self, event: Any) -> date:
        return event.audit.at.astimezone(self.zone).date()  # type: ignore[no-any-return]

    def preload(self, customers: set[UUID], vehicles: set[UUID], visits: set[UUID]) -> None:
        """Every stored row the batch may touch, one query per table."""
        for table, key, ids, into in (("customers", "id", customers, self.customers),
                                      ("vehicles", "id", vehicles, self.vehicles),
                                      ("visits", "work_order_id", visits, self.visits)):
            into.update({r[key]: r for r in load(self.conn, self.t(table), key, ids)})

    def touch(self, table: str, key: Any) -> None:
        self.changed[table].add(key)

    def flush(self) -> None:
        """Write what changed since the last flush (one statement per table)."""
        for cid in self.changed["customers"]:
            row = self.customers[cid]
            row["phone_tails"] = phone_tails(row["phones"] or [])
        for table, key, columns, rows in (
                ("customers", "id", CUSTOMER_COLUMNS, self.customers),
                ("vehicles", "id", VEHICLE_COLUMNS, self.vehicles),
                ("visits", "work_order_id", VISIT_COLUMNS, self.visits)):
            upsert(self.conn, self.t(table), (key,), columns,
                   (rows[k] for k in self.changed[table]))
            self.changed[table].clear()
        upsert(self.conn, self.t("vehicle_readings"), READING_COLUMNS[:3], READING_COLUMNS,
               self.readings.values(), update=False)
        self.readings.clear()
        if self.points:
            upsert(self.conn, self.t("customer_points"), (), POINTS_COLUMNS,
                   self.points)
            self.points.clear()


def phone_tails(phones: list[str]) -> list[str]:
    """Each phone's endings of `LAST_DIGITS` characters or more: a search by a phone's last
    digits finds the customer by one of them, on an index (`customers_phone_tails_idx`)."""
    return sorted({phone[-n:] for phone in phones
                   for n in range(LAST_DIGITS, len(phone) + 1)})


def preload_keys(events: Sequence[tuple[int, Any]],
                 customer_event: type[Any]) -> tuple[set[UUID], set[UUID], set[UUID]]:
    """The customers, vehicles and visits (work orders) a batch's events may touch."""
    customers: set[UUID] = set()
    vehicles: set[UUID] = set()
    visits: set[UUID] = set()
    for _, e in events:
        if isinstance(e, customer_event):
            customers.add(e.originator_id)
            if type(e).__qualname__ in ("Customer.PaymentRefunded", "Customer.PaidAgain"):
                visits.add(e.work_order_id)  # its spend drops, or rises again
        elif isinstance(e, Vehicle.Event):
            vehicles.add(e.originator_id)
        elif isinstance(e, WorkOrder.Opened):
            customers.add(e.customer_id)
            vehicles.add(UUID(e.vehicle["vehicle_id"]))
            visits.add(e.originator_id)
        elif type(e).__qualname__ in VISIT_EVENTS:
            visits.add(e.originator_id)
    return customers, vehicles, visits


class VehicleFiles:
    """Folds vehicle, service-plan and work-order events into the vehicle tables."""

    default_plan: Plan

    # -- vehicles ----------------------------------------------------------------------------

    def _save_vehicle(self, b: Batch, row: dict[str, Any]) -> None:
        for name in ("brand", "model"):
            row[f"{name}_key"] = ServicePlan.key(row[name]) if row[name] else None
        b.vehicles[row["id"]] = row
        b.touch("vehicles", row["id"])
        b.dirty.add(row["id"])

    @staticmethod
    def _new_vehicle(vehicle_id: UUID, vin: str, store_id: str, at: Any) -> dict[str, Any]:
        return {"id": vehicle_id, "vin": vin, "store_id": store_id, "plate": None, "brand": None,
                "model": None, "year": None, "sale_date": None, "owner_id": None,
                "registered": False, "plates": [], "owners": [], "first_seen": at,
                "updated_at": at}

    @staticmethod
    def _plate(row: dict[str, Any], plate: str | None, e: Any, source: str) -> None:
        if plate and plate != row["plate"]:
            row["plate"] = plate
            row["plates"].append(plain({"plate": plate, "from": e.audit.at.isoformat(),
                                        "source": source, "reason": getattr(e, "reason", None)}))

    @staticmethod
    def _owner(row: dict[str, Any], owner: UUID, e: Any, source: str) -> None:
        if str(owner) != str(row["owner_id"]):
            row["owner_id"] = owner
            row["owners"].append(plain({"customer_id": str(owner), "from": e.audit.at.isoformat(),
                                        "source": source, "reason": getattr(e, "reason", None)}))

    def _vehicle(self, b: Batch, notification_id: int, e: Any) -> None:
        row = b.vehicles.get(e.originator_id)
        if isinstance(e, Vehicle.Registered):
            row = row or self._new_vehicle(e.originator_id, e.vin, e.audit.store_id, e.audit.at)
            row["registered"] = True
            for name in ("brand", "model", "year"):
                row[name] = getattr(e, name) or row[name]
            row["sale_date"] = e.sale_date or row["sale_date"]
            self._plate(row, e.plate, e, "registration")
            if e.owner_id is not None:
                self._owner(row, e.owner_id, e, "registration")
        elif isinstance(e, Vehicle.PriorVisitImported):  # a visit apart from the work orders
            prior_visits.insert(b.conn, b.t("prior_visits"), notification_id, e)
            b.dirty.add(e.originator_id)
            return
        elif row is None:
            return
        elif isinstance(e, Vehicle.DetailsCorrected):
            row.update(brand=e.brand, model=e.model, year=e.year, sale_date=e.sale_date)
        elif isinstance(e, Vehicle.PlateChanged):
            self._plate(row, e.plate, e, "plate change")
        elif isinstance(e, Vehicle.OwnerChanged):
            self._owner(row, e.owner_id, e, "ownership change")
        elif isinstance(e, Vehicle.ReminderRecorded):
            b.conn.execute(
                f"""INSERT INTO {b.t('reminder_outcomes')} (notification_id, vehicle_id, due_on,
                    outcome, channel, note, appointment_id, by_user, at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (notification_id, e.originator_id, e.due_on, e.outcome, e.channel, e.note,
                 e.appointment_id, e.audit.user_id, e.audit.at))
            return
        row["updated_at"] = e.audit.at
        self._save_vehicle(b, row)

    def _plan(self, b: Batch, e: Any) -> None:
        b.flush()  # the vehicles the plan applies to are read from the table
        if isinstance(e, ServicePlan.Set):
            b.conn.execute(
                f"""INSERT INTO {b.t('service_plans')} (id, brand_key, model_key, brand, model,
                    months, km, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (id) DO NOTHING""",
                (e.originator_id, ServicePlan.key(e.brand), ServicePlan.key(e.model), e.brand,
                 e.model, e.months, e.km, e.audit.at))
        else:
            b.conn.execute(
                f"""UPDATE {b.t('service_plans')} SET months = %s, km = %s, updated_at = %s
                WHERE id = %s""", (e.months, e.km, e.audit.at, e.originator_id))
        rows = b.conn.execute(
            f"""SELECT v.id FROM {b.t('vehicles')} v JOIN {b.t('service_plans')} p ON p.id = %s
                WHERE v.brand_key = p.brand_key
                  AND (p.model_key = '*' OR v.model_key = p.model_key)""",
            (e.originator_id,))
        b.dirty |= {r[0] for r in rows}

    # -- visits (from the work orders) -------------------------------------------------------

    def _work_order(self, b: Batch, name: str, e: Any) -> None:
        if isinstance(e, WorkOrder.Opened):
            self._opened(b, e)
            return
        if name not in VISIT_EVENTS:
            return
        visit = b.visits.get(e.originator_id)
        if visit is None:
            return
        if isinstance(e, WorkOrder.JobAdded):  # a complaint taken after opening
            visit["complaints"] = [*visit["complaints"], e.complaint]
            b.touch("visits", e.originator_id)
            return
        vehicle_id = visit["vehicle_id"]
        sets: dict[str, Any] = {}
        if isinstance(e, WorkOrder.CheckedIn):
            km = int(e.details["mileage_in"])
            self._reading(b, vehicle_id, e, "check_in", km)
            sets = {"status": "checked_in", "mileage": km}
        elif isinstance(e, WorkOrder.ReadyForSettlement):
            sets = {"status": "ready_for_settlement", "serviced_on": b.day(e)}
        elif isinstance(e, WorkOrder.Cancelled):
            sets = {"status": "cancelled", "serviced_on": None}
        elif name == "WorkOrder.Settled":
            sets = {"status": "settled", "customer_total": getattr(e, "customer_total", None),
                    "settled_at": e.audit.at}
        elif name == "WorkOrder.SettlementReversed":
            sets = {"status": "ready_for_settlement", "customer_total": None,
                    "settled_at": None}
        elif name == "WorkOrder.Delivered":
            mileage_out = getattr(e, "mileage_out", None)
            if mileage_out is not None:
                self._reading(b, vehicle_id, e, "delivery", int(mileage_out))
            sets = {"status": "delivered", "delivered_at": e.audit.at}
        elif name in STATUS_OF:
            sets = {"status": STATUS_OF[name]}
        if isinstance(e, WorkOrder.BackInProgress):
            sets["serviced_on"] = None
        if sets:
            visit.update(sets)
            b.touch("visits", e.originator_id)
            b.dirty.add(vehicle_id)

    def _reading(self, b: Batch, vehicle_id: UUID, e: Any, source: str, km: int) -> None:
        """A mileage reading; the first one of a vehicle, work order and source stays."""
        b.readings.setdefault((vehicle_id, e.originator_id, source), {
            "vehicle_id": vehicle_id, "work_order_id": e.originator_id, "source": source,
            "at": e.audit.at, "on_day": b.day(e), "km": km})
        b.dirty.add(vehicle_id)

    def _opened(self, b: Batch, e: Any) -> None:
        snapshot, cid = e.vehicle, e.customer_id
        vehicle_id = UUID(snapshot["vehicle_id"])
        if e.originator_id not in b.visits:
            b.visits[e.originator_id] = {
                "work_order_id": e.originator_id, "number": e.number,
                "store_id": e.audit.store_id, "customer_id": cid, "vehicle_id": vehicle_id,
                "kind": e.kind, "status": "opened", "opened_at": e.audit.at,
                "mileage": e.mileage, "complaints": list(e.complaints),
                "appointment_id": e.appointment_id, "serviced_on": None,
                "customer_total": None, "settled_at": None, "delivered_at": None,
                "refunded": 0}
            b.touch("visits", e.originator_id)
        row = b.vehicles.get(vehicle_id) or self._new_vehicle(
            vehicle_id, snapshot["vin"], e.audit.store_id, e.audit.at)
        for name in ("brand", "model", "year"):
            row[name] = row[name] or snapshot.get(name)
        self._plate(row, snapshot.get("plate"), e, f"work order {e.number}")
        if not row["registered"] or row["owner_id"] is None:
            self._owner(row, cid, e, f"work order {e.number}")
        row["updated_at"] = e.audit.at
        self._save_vehicle(b, row)
        self._reading(b, vehicle_id, e, "opened", int(e.mileage))
        phone = shown_phone(b.open_pii(cid, e.customer.get("phone")))
        customer = b.customers.get(cid)
        if (phone and phone != ERASED and customer is not None and not customer["erased"]
                and phone not in customer["phones"]):
            customer["phones"].append(phone)
            b.touch("customers", cid)

    # -- next service due --------------------------------------------------------------------

    def _recompute_due(self, b: Batch) -> None:
        ids = list(b.dirty)
        with b.conn.cursor(row_factory=dict_row) as cur:
            vehicles = cur.execute(
                f"SELECT id, store_id, brand_key, model_key, sale_date FROM {b.t('vehicles')} "
                "WHERE id = ANY(%s)", (ids,)).fetchall()
            imported = b.t("prior_visits")
            readings = cur.execute(
                f"SELECT vehicle_id, on_day, km FROM {b.t('vehicle_readings')} "
                f"WHERE vehicle_id = ANY(%s) UNION ALL {prior_visits.READINGS.format(t=imported)}",
                (ids, ids)).fetchall()
            services = cur.execute(
                f"""SELECT DISTINCT ON (vehicle_id) vehicle_id, serviced_on, mileage FROM (
                    SELECT vehicle_id, serviced_on, mileage FROM {b.t('visits')}
                    WHERE vehicle_id = ANY(%s) AND kind = 'maintenance'
                      AND serviced_on IS NOT NULL AND status <> 'cancelled'
                    UNION ALL {prior_visits.SERVICES.format(t=imported)}) s
                ORDER BY vehicle_id, serviced_on DESC, mileage DESC""", (ids, ids)).fetchall()
            # plans set apart before their keys were folded alike: the last set or changed wins
            plans = {(p["brand_key"], p["model_key"]): p for p in cur.execute(
                f"SELECT brand_key, model_key, months, km FROM {b.t('service_plans')} "
                "ORDER BY updated_at, id")}
        by_vehicle: dict[UUID, list[Reading]] = {}
        for r in readings:
            by_vehicle.setdefault(r["vehicle_id"], []).append(Reading(r["on_day"], r["km"]))
        last = {s["vehicle_id"]: Reading(s["serviced_on"], s["mileage"]) for s in services}
        rows = []
        for v in vehicles:
            plan, source = self._plan_for(plans, v["brand_key"], v["model_key"])
            due = next_service(plan, by_vehicle.get(v["id"], []), last_service=last.get(v["id"]),
                               sale_date=v["sale_date"])
            if due is None:
                continue
            rows.append((v["id"], v["store_id"], due.due_on, due.basis, due.by_time, due.by_km,
                         due.target_km, due.km_per_day, last[v["id"]].on if v["id"] in last
                         else None, last[v["id"]].km if v["id"] in last else None,
                         Jsonb({"months": plan.months, "km": plan.km, "source": source})))
        b.conn.execute(f"DELETE FROM {b.t('service_due')} WHERE vehicle_id = ANY(%s)", (ids,))
        with b.conn.cursor() as cur:
            cur.executemany(
                f"""INSERT INTO {b.t('service_due')} (vehicle_id, store_id, due_on, basis,
                    by_time, by_km, target_km, km_per_day, last_service_on, last_service_km, plan)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""", rows)

    def _plan_for(self, plans: dict[tuple[str, str], dict[str, Any]], brand_key: str | None,
                  model_key: str | None) -> tuple[Plan, str]:
        """The plan of the car's model, else its brand's, else the default (by the keys)."""
        for key, source in (((brand_key, model_key), "model"), ((brand_key, "*"), "brand")):
            if key in plans:
                return Plan(plans[key]["months"], plans[key]["km"]), source
        return self.default_plan, "default"
