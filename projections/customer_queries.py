"""Queries on the customers read model: one-key lookup, the customer 360, vehicles, due list.

Derived tags are computed when read (they depend on today): VIP (customer spend over the last
12 months at or above a threshold), frequent (visits over the last 12 months), fleet (a company,
or at least N vehicles).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from domain import loyalty
from domain.ascii_width import ascii_width
from domain.common import InvalidInput
from domain.customers import phone_search
from domain.vehicle_ids import normalise_plate, plate_without_province
from projections.base import like_literal, page_of
from projections.base import page as _page
from projections.base import rows as _rows
from projections.base import store_scope as _scope
from projections.prior_visits import PRIOR_VISIT, PRIOR_VISIT_ORDER

CLOSED = ("delivered", "closed", "cancelled")
CENT = Decimal("0.01")
DERIVED_TAGS = ("vip", "fleet", "frequent")
_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")


@dataclass(frozen=True)
class TagRules:
    vip_spend: Decimal = Decimal(20000)
    frequent_visits: int = 4
    fleet_vehicles: int = 3






def _lookup_clause(q: str) -> tuple[str, list[Any]]:
    """How one search key matches: VIN, plate (now or before), a current plate typed without
    its province character (or a name starting so), phone, else name prefix."""
    key = ascii_width(q).strip()
    vehicle_match = """id IN (SELECT owner_id FROM vehicles WHERE {v} AND owner_id IS NOT NULL
                       UNION SELECT customer_id FROM visits WHERE vehicle_id IN
                       (SELECT id FROM vehicles WHERE {v}))"""
    if _VIN.match(key.upper()):
        return vehicle_match.format(v="vin = %s"), [key.upper(), key.upper()]
    try:
        plate = normalise_plate(key)
    except InvalidInput:
        plate = None
    if plate:
        where = "(plate = %s OR plates @> jsonb_build_array(jsonb_build_object('plate', %s::text)))"
        return vehicle_match.format(v=where), [plate, plate, plate, plate]
    rest = plate_without_province(key)
    if rest:  # the current plate's rest (any province), or a name as before
        return (f"({vehicle_match.format(v='substr(plate, 2) = %s')} "
                "OR lower(name) LIKE lower(%s) || '%%')"), [rest, rest, like_literal(key)]
    phone = phone_search(key)
    if phone is not None:
        if phone[1]:
            return "phones @> ARRAY[%s]", [phone[0]]
        return "phone_tails @> ARRAY[%s]", [phone[0]]  # a phone ending so
    return "lower(name) LIKE lower(%s) || '%%'", [like_literal(key)]


def derived_tags(conn: psycopg.Connection[Any], customers: list[dict[str, Any]],
                 rules: TagRules, today: date) -> None:
    """Add `derived_tags`, 12-month visits and spend, and vehicle count to each customer row."""
    ids = [c["id"] for c in customers]
    since = today - timedelta(days=365)
    stats = {r["customer_id"]: r for r in _rows(conn, """
        SELECT customer_id, count(*) FILTER (WHERE opened_at >= %s AND status <> 'cancelled')
                   AS visits_12m,
               coalesce(sum(customer_total - refunded) FILTER (WHERE settled_at >= %s), 0)
                   AS spend_12m
        FROM visits WHERE customer_id = ANY(%s) GROUP BY customer_id""", (since, since, ids))}
    fleets = {r["owner_id"]: r["n"] for r in _rows(conn, """
        SELECT owner_id, count(*) AS n FROM vehicles WHERE owner_id = ANY(%s)
        GROUP BY owner_id""", (ids,))}
    for c in customers:
        s = stats.get(c["id"], {"visits_12m": 0, "spend_12m": Decimal(0)})
        vehicles = fleets.get(c["id"], 0)
        tags = []
        if Decimal(s["spend_12m"]) >= rules.vip_spend:
            tags.append("vip")
        if c["kind"] == "company" or vehicles >= rules.fleet_vehicles:
            tags.append("fleet")
        if s["visits_12m"] >= rules.frequent_visits:
            tags.append("frequent")
        c.update(derived_tags=tags, visits_12m=s["visits_12m"],
                 spend_12m=str(Decimal(s["spend_12m"]).quantize(CENT)),  # "0.00" too
                 vehicles_owned=vehicles)


def points_summary(c: dict[str, Any], today: date) -> None:
    """`points` (balance, and what expires within 30 days) in place of the `lots` of `c`."""
    lots = c.pop("lots")
    c["points"] = {"balance": loyalty.balance(lots, today), "expiring_within_30_days": sum(
        lot["remaining"] for lot in lots if loyalty.live(lot, today)
        and date.fromisoformat(lot["expires_on"]) <= today + timedelta(days=30))}


def find_customers(conn: psycopg.Connection[Any], stores: Sequence[str], *, q: str | None,
                   tag: str | None, rules: TagRules, today: date, limit: int = 20,
                   offset: int = 0) -> dict[str, Any]:
    scope, params = _scope(stores)
    where = [scope]
    if q:
        clause, more = _lookup_clause(q)
        where.append(clause)
        params += more
    if tag and tag not in DERIVED_TAGS:
        where.append("tags @> ARRAY[%s]")
        params.append(tag)
    sql = f"""SELECT id, store_id, kind, name, phones, wechat_id, erased, tags, lots, consent
        FROM customers WHERE {' AND '.join(where)}"""
    if tag in DERIVED_TAGS:
        # derived tags are computed, not stored: they are looked for among the first 500
        candidates = _rows(conn, f"{sql} ORDER BY name, id LIMIT 500", params)
        derived_tags(conn, candidates, rules, today)
        found = page_of([r for r in candidates if tag in r["derived_tags"]], limit=limit,
                        offset=offset)
    else:
        found = _page(conn, sql, params, order_by="name, id", limit=limit, offset=offset)
        derived_tags(conn, found["items"], rules, today)
    rows = found["items"]
    plates = {r["owner_id"]: r["plates"] for r in _rows(conn, """
        SELECT owner_id, array_agg(plate ORDER BY plate) AS plates FROM vehicles
        WHERE owner_id = ANY(%s) AND plate IS NOT NULL GROUP BY owner_id""",
        ([r["id"] for r in rows],))}
    for r in rows:
        points_summary(r, today)
        r["plates"] = plates.get(r["id"], [])
    return found


# The customer 360 lists the first SECTION_ITEMS of each of its lists (a fleet customer has
# hundreds of vehicles and thousands of visits over the years), counts them all, and
# `customer_section` pages through the rest.
SECTION_ITEMS = 50
VISIT = """SELECT work_order_id, number, store_id, vehicle_id,
    (SELECT plate FROM vehicles v WHERE v.id = visits.vehicle_id) AS plate, kind, status,
    opened_at, mileage, complaints, customer_total, round(refunded, 2) AS refunded, settled_at,
    delivered_at FROM visits WHERE customer_id = %s"""
SECTIONS: dict[str, tuple[str, str]] = {  # name: (the rows of one customer, their order)
    "visits": (VISIT, "opened_at DESC, work_order_id"),
    "open_work_orders": (f"{VISIT} AND status NOT IN {CLOSED}", "opened_at DESC, work_order_id"),
    "vehicles": ("""SELECT v.id, v.vin, v.plate, v.brand, v.model, v.year, v.sale_date,
        v.owner_id = %s AS owned, d.due_on AS next_service_due, d.basis AS due_basis
        FROM vehicles v LEFT JOIN service_due d ON d.vehicle_id = v.id
        WHERE v.owner_id = %s OR v.id IN (SELECT vehicle_id FROM visits WHERE customer_id = %s)
        """, "v.vin"),
    "complaints": ("""SELECT id, work_order_number, description, source, status, opened_at,
        resolved_at, resolution, grievance_id FROM customer_complaints WHERE customer_id = %s""",
                   "opened_at DESC, id"),
    "appointments": ("""SELECT id, store_id, day, arrival, status, vin, plate, services
        FROM appointments WHERE customer_id = %s AND day >= %s AND status = 'booked'""",
                     "day, arrival, id"),
    "points_history": ("""SELECT at, kind, points, reference, amount, expires_on, by_user,
        shortfall FROM customer_points WHERE customer_id = %s""", "notification_id DESC"),
}


def customer_section(conn: psycopg.Connection[Any], customer_id: UUID, section: str, *,
                     today: date, limit: int, offset: int) -> dict[str, Any]:
    """One page of one of the customer 360's lists (`SECTIONS`), in the 360's order."""
    sql, order_by = SECTIONS[section]
    if section == "appointments" and not _has_appointments(conn):
        return page_of([], limit=limit, offset=offset)
    params: list[Any] = [customer_id] * sql.count("%s")
    if section == "appointments":
        params = [customer_id, today]
    return _page(conn, sql, params, order_by=order_by, limit=limit, offset=offset)


def customer_360(conn: psycopg.Connection[Any], customer_id: UUID, stores: Sequence[str], *,
                 rules: TagRules, today: date) -> dict[str, Any] | None:
    """Who this is and everything about them the front desk needs, in one read: of each list
    the first SECTION_ITEMS, with `<list>_count` (the visits: `visits.count`) counting them
    all."""
    found = _rows(conn, "SELECT * FROM customers WHERE id = %s", (customer_id,))
    if not found or ("*" not in stores and found[0]["store_id"] not in stores):
        return None
    c = found[0]
    derived_tags(conn, [c], rules, today)
    points_summary(c, today)
    lists = {name: customer_section(conn, customer_id, name, today=today, limit=SECTION_ITEMS,
                                    offset=0) for name in SECTIONS}
    c["points"]["history"] = lists["points_history"]["items"]
    c["points"]["history_count"] = lists["points_history"]["total"]
    [visited] = _rows(conn, """SELECT max(opened_at) AS last_at, sum(customer_total - round(
        refunded, 2)) FILTER (WHERE customer_total IS NOT NULL) AS spend
        FROM visits WHERE customer_id = %s""", (customer_id,))
    c["visits"] = {"count": lists["visits"]["total"], "last_at": visited["last_at"],
                   "items": lists["visits"]["items"]}
    # a visit's spend is its settled customer bill less the money given back on it
    c["spend"] = {"total": str(Decimal("0.00") + (visited["spend"] or 0)),
                  "last_12_months": c.pop("spend_12m")}
    for name in ("open_work_orders", "vehicles", "complaints", "appointments"):
        c[name], c[f"{name}_count"] = lists[name]["items"], lists[name]["total"]
    return c


def _has_appointments(conn: psycopg.Connection[Any]) -> bool:
    exists = conn.execute("SELECT to_regclass('appointments') IS NOT NULL").fetchone()
    return bool(exists and exists[0])


# -- vehicles and reminders -----------------------------------------------------------------

def vehicle_search(q: str) -> tuple[str, list[Any]]:
    """The WHERE clause of `find_vehicles` (alias `v`): VIN prefix, current plate, or a plate
    the vehicle had; a plate typed without its province character finds the current plates
    it ends (`A12345`: 沪A12345, 苏A12345); each arm through its index
    (vehicles_vin_prefix_idx, vehicles_plate_idx, vehicles_plates_idx,
    vehicles_plate_rest_idx)."""
    key = ascii_width(q).strip().upper()
    try:
        plate = normalise_plate(q)
    except InvalidInput:
        plate = key
    rest = plate_without_province(q)
    return ("(v.vin LIKE %s || '%%' OR v.plate = %s OR v.plates @> "
            "jsonb_build_array(jsonb_build_object('plate', %s::text))"
            + (" OR substr(v.plate, 2) = %s)" if rest else ")")), [
        like_literal(key), plate, plate, *([rest] if rest else [])]


def find_vehicles(conn: psycopg.Connection[Any], stores: Sequence[str], *, q: str | None,
                  limit: int = 20, offset: int = 0) -> dict[str, Any]:
    scope, params = _scope(stores, "v.store_id")
    where = [scope]
    if q:
        clause, found = vehicle_search(q)
        where.append(clause)
        params += found
    return _page(conn, f"""
        SELECT v.id, v.vin, v.store_id, v.plate, v.brand, v.model, v.year, v.sale_date,
               v.owner_id, c.name AS owner_name, d.due_on AS next_service_due
        FROM vehicles v LEFT JOIN customers c ON c.id = v.owner_id
        LEFT JOIN service_due d ON d.vehicle_id = v.id
        WHERE {' AND '.join(where)}""", params, order_by="v.vin", limit=limit, offset=offset)


# The vehicle file lists at most VEHICLE_ITEMS of each of its lists (a fleet car or a taxi
# has years of visits and readings), counts them all (`<list>_count`), and
# `vehicle_section` pages through every item in the file's order. Every list is newest
# first, as the customer 360's are, so the file shows the first page: the latest visits,
# prior visits, odometer readings and reminder outcomes.
VEHICLE_ITEMS = 50
VEHICLE_SECTIONS: dict[str, tuple[str, str]] = {  # name: (one vehicle's rows, their order)
    "visits": ("""SELECT work_order_id, number, store_id, customer_id, kind, status, opened_at,
        mileage, complaints, customer_total, serviced_on FROM visits WHERE vehicle_id = %s""",
               "opened_at DESC, work_order_id"),
    "mileage_readings": ("""SELECT at, on_day, km, source, work_order_id
        FROM vehicle_readings WHERE vehicle_id = %s""",
                         "at DESC, km DESC, work_order_id, source"),
    "reminders": ("""SELECT due_on, outcome, channel, note, appointment_id, by_user, at
        FROM reminder_outcomes WHERE vehicle_id = %s""", "at DESC, notification_id DESC"),
    "prior_visits": (PRIOR_VISIT, PRIOR_VISIT_ORDER),
}


def vehicle_section(conn: psycopg.Connection[Any], vehicle_id: UUID, section: str, *,
                    limit: int, offset: int) -> dict[str, Any]:
    """One page of one of the vehicle file's lists (`VEHICLE_SECTIONS`), in the file's
    order."""
    sql, order_by = VEHICLE_SECTIONS[section]
    return _page(conn, sql, [vehicle_id], order_by=order_by, limit=limit, offset=offset)


def vehicle_seen(conn: psycopg.Connection[Any], vehicle_id: UUID,
                 stores: Sequence[str]) -> dict[str, Any] | None:
    """The plate, brand, model and year the vehicle file holds of a car (registered, or seen
    on an earlier visit) in one of `stores`; None when none of them has it on file."""
    scope, params = _scope(stores)
    found = _rows(conn, f"""SELECT plate, brand, model, year FROM vehicles
                            WHERE id = %s AND {scope}""", [vehicle_id, *params])
    return found[0] if found else None


def vehicle_store(conn: psycopg.Connection[Any], vehicle_id: UUID) -> str | None:
    """The store the vehicle is on file in (None: no such vehicle)."""
    found = conn.execute("SELECT store_id FROM vehicles WHERE id = %s",
                         (vehicle_id,)).fetchone()
    return str(found[0]) if found else None


def vehicle_detail(conn: psycopg.Connection[Any], vehicle_id: UUID,
                   stores: Sequence[str]) -> dict[str, Any] | None:
    """The vehicle file: of each list at most VEHICLE_ITEMS (see `VEHICLE_SECTIONS`), with
    `<list>_count` counting them all."""
    found = _rows(conn, """SELECT v.*, c.name AS owner_name FROM vehicles v
                           LEFT JOIN customers c ON c.id = v.owner_id WHERE v.id = %s""",
                  (vehicle_id,))
    if not found or ("*" not in stores and found[0]["store_id"] not in stores):
        return None
    v = found[0]
    names = {r["id"]: r["name"] for r in _rows(
        conn, "SELECT id, name FROM customers WHERE id = ANY(%s)",
        ([UUID(o["customer_id"]) for o in v["owners"]],))}
    for owner in v["owners"]:
        owner["name"] = names.get(UUID(owner["customer_id"]))
    for name in VEHICLE_SECTIONS:
        listed = vehicle_section(conn, vehicle_id, name, limit=VEHICLE_ITEMS, offset=0)
        v[name], v[f"{name}_count"] = listed["items"], listed["total"]
    due = _rows(conn, "SELECT * FROM service_due WHERE vehicle_id = %s", (vehicle_id,))
    v["next_service"] = due[0] if due else None
    return v


def due_list(conn: psycopg.Connection[Any], stores: Sequence[str], *, store_id: str | None,
             until: date, include_handled: bool = False, limit: int = 200,
             offset: int = 0) -> dict[str, Any]:
    """Cars due for service by `until` (overdue included), with whom to call and how: the
    channels the owner consented to (none once the owner is erased)."""
    scope, params = _scope(stores, "d.store_id")
    where = [scope, "d.due_on <= %s"]
    params.append(until)
    if store_id:
        where.append("d.store_id = %s")
        params.append(store_id)
    if not include_handled:
        where.append("coalesce(o.outcome, '') NOT IN ('booked', 'declined')")
    found = _page(conn, f"""
        SELECT d.vehicle_id, v.vin, v.plate, v.brand, v.model, d.store_id, d.due_on, d.basis,
               d.by_time, d.by_km, d.target_km, d.km_per_day, d.last_service_on,
               d.last_service_km, d.plan, v.owner_id, c.name AS owner_name,
               c.phones AS owner_phones,
               coalesce((SELECT array_agg(k ORDER BY k) FROM jsonb_each(c.consent) AS x(k, val)
                         WHERE (val->>'granted')::boolean AND NOT c.erased), '{{}}')
                   AS contact_channels,
               o.outcome AS last_outcome, o.at AS last_outcome_at
        FROM service_due d JOIN vehicles v ON v.id = d.vehicle_id
        LEFT JOIN customers c ON c.id = v.owner_id
        LEFT JOIN LATERAL (SELECT outcome, at FROM reminder_outcomes r
            WHERE r.vehicle_id = d.vehicle_id AND r.due_on = d.due_on
            ORDER BY r.notification_id DESC LIMIT 1) o ON TRUE
        WHERE {' AND '.join(where)}""", params, order_by="d.due_on, v.vin", limit=limit,
                  offset=offset)
    return {"until": until, **found}


def list_plans(conn: psycopg.Connection[Any], *, limit: int, offset: int) -> dict[str, Any]:
    """One page of the service plans, by brand and model."""
    return _page(conn, "SELECT brand, model, months, km, updated_at FROM service_plans", (), order_by="brand_key, model_key",
                 limit=limit, offset=offset)


def customer_store(conn: psycopg.Connection[Any], customer_id: UUID) -> str | None:
    """The store the customer was registered in (None: no such customer)."""
    found = conn.execute("SELECT store_id FROM customers WHERE id = %s",
                         (customer_id,)).fetchone()
    return str(found[0]) if found else None
