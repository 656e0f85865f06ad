"""Service history brought over from the dealership's previous system at go-live.

An imported visit is a fact about the car (`Vehicle.PriorVisitImported` on the vehicle's own
stream, next to its plates and owners), never a work order: it has no number, no lines, no
settlement, and every read shows it as `imported` with its `source_ref`. The vehicle's stream
holds one event per imported visit and nothing else of it (no lines, no ledger), so a car with
years of history grows by a few dozen events, and the claim package and the vehicle file read
it with the vehicle's other facts.

Each record is named in the old system by `source_ref`, unique per store: `PriorVisitRef`
(`stable_id("prior-visit", store, source_ref)`) is taken in the same save, so importing the
same record again changes nothing and answers what the first import did.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ascii_width import ascii_width
from domain.common import Audit, InvalidInput, require, stable_id
from domain.days import plain_day
from domain.money import money, quantity
from domain.work_order_lines import PAY_TYPES
from domain.work_order_state import KINDS

MAX_TEXT = 500
MAX_ITEMS = 50
MAX_MILEAGE = 3_000_000
TOTALS = ("labor", "parts", "total")


class PriorVisitRef(Aggregate):
    """A store's record reference of the previous system, taken once: by the vehicle it was
    imported for, when and by whom."""

    @staticmethod
    def create_id(store_id: str, source_ref: str) -> UUID:
        return stable_id("prior-visit", store_id, source_ref)

    class Taken(Aggregate.Created):
        audit: Audit
        store_id: str
        source_ref: str
        vin: str

    @event(Taken)
    def __init__(self, audit: Audit, store_id: str, source_ref: str, vin: str) -> None:
        self.store_id = store_id
        self.source_ref = source_ref
        self.vin = vin
        self.imported_at = audit.at.isoformat()
        self.imported_by = audit.user_id


def _text(value: Any, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        require(not required, InvalidInput(f"{field} is required", field=field))
        return None
    require(isinstance(value, str), InvalidInput(f"{field} must be text", field=field))
    text = " ".join(str(value).split())
    require(len(text) <= limit,
            InvalidInput(f"{field} is longer than {limit} characters", field=field))
    return text


def _day(value: Any, field: str, today: date) -> date:
    found = plain_day(ascii_width(str(value)).strip()) if isinstance(value, str) else None
    require(found is not None, InvalidInput(f"{field} must be a date YYYY-MM-DD", field=field))
    assert found is not None
    require(found <= today, InvalidInput(f"{field} is in the future", field=field))
    return found


def _items(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    require(isinstance(value, list), InvalidInput(f"{field} must be a list", field=field))
    require(len(value) <= MAX_ITEMS,
            InvalidInput(f"{field} holds at most {MAX_ITEMS} entries", field=field))
    return list(value)


def _work(value: Any) -> list[dict[str, Any]]:
    done = []
    for n, item in enumerate(_items(value, "work")):
        where = f"work[{n}]"
        require(isinstance(item, dict), InvalidInput(f"{where} must be an object", field=where))
        done.append({"op_code": _text(item.get("op_code"), f"{where}.op_code", limit=40),
                     "description": _text(item.get("description"), f"{where}.description",
                                          required=True)})
    return done


def _parts(value: Any) -> list[dict[str, Any]]:
    used = []
    for n, item in enumerate(_items(value, "parts")):
        where = f"parts[{n}]"
        require(isinstance(item, dict), InvalidInput(f"{where} must be an object", field=where))
        qty = quantity(item.get("qty"), f"{where}.qty", 3, field=f"{where}.qty")
        used.append({"part_number": _text(item.get("part_number"), f"{where}.part_number",
                                          required=True, limit=40),
                     "name": _text(item.get("name"), f"{where}.name"),
                     "qty": str(qty)})
    return used


def _totals(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    require(isinstance(value, dict), InvalidInput("totals must be an object", field="totals"))
    unknown = sorted(set(value) - set(TOTALS))
    require(not unknown, InvalidInput(f"totals has no {', '.join(unknown)}: "
                                      f"{', '.join(TOTALS)}", field="totals"))
    found = {k: str(money(value[k], f"totals.{k}", field=f"totals.{k}"))
             for k in TOTALS if value.get(k) is not None}
    return found or None


def prior_record(raw: dict[str, Any], today: date) -> dict[str, Any]:
    """One visit of the previous system as it is kept, validated; a refusal names the field.

    `raw`: source_ref, date_in, date_out (optional), mileage_in, kind (a work order's kinds,
    default repair), pay_type (default customer), complaints, work (op_code, description),
    parts (part_number, name, qty), totals (labor, parts, total; optional)."""
    ref = _text(ascii_width(raw["source_ref"]) if isinstance(raw.get("source_ref"), str)
                else raw.get("source_ref"), "source_ref", required=True, limit=64)
    day_in = _day(raw.get("date_in"), "date_in", today)
    day_out = (_day(raw["date_out"], "date_out", today)
               if raw.get("date_out") not in (None, "") else None)
    require(day_out is None or day_out >= day_in,
            InvalidInput("date_out is before date_in", field="date_out"))
    km = raw.get("mileage_in")
    require(isinstance(km, int) and not isinstance(km, bool) and 0 <= km <= MAX_MILEAGE,
            InvalidInput(f"mileage_in must be a whole number of km, 0-{MAX_MILEAGE:,}",
                         field="mileage_in"))
    kind = raw.get("kind") or "repair"
    require(kind in KINDS, InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind"))
    pay_type = raw.get("pay_type") or "customer"
    require(pay_type in PAY_TYPES,
            InvalidInput(f"pay_type must be one of {', '.join(PAY_TYPES)}", field="pay_type"))
    complaints = [c for n, item in enumerate(_items(raw.get("complaints"), "complaints"))
                  if (c := _text(item, f"complaints[{n}]", limit=1000)) is not None]
    return {"source_ref": ref, "date_in": day_in.isoformat(),
            "date_out": day_out.isoformat() if day_out else None, "mileage_in": km,
            "kind": kind, "pay_type": pay_type, "complaints": complaints,
            "work": _work(raw.get("work")), "parts": _parts(raw.get("parts")),
            "totals": _totals(raw.get("totals"))}
