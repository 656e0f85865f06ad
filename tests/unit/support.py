"""Shared helpers for the in-memory domain tests: requests, a standard visit, event counting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.application import Request, ServiceCore
from domain.common import Caller
from domain.inventory import Inventory
from domain.part import Part, normalise_part_number
from domain.skills import ALL_ROUND
from domain.stock import StockItem
from domain.technician import Technician
from domain.technicians import Technicians
from domain.work_order import WorkOrder
from domain.work_orders import WorkOrders

T0 = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
VIN = "LSVAU218XN2183294"
CUSTOMER = {"name": "陈静", "phone": "13912345678"}
VEHICLE = {"vin": VIN, "plate": "沪A12345", "brand": "Volkswagen", "model": "Lavida",
           "year": 2022}


def request(role: str = "advisor", user: str | None = None, *, at: datetime = T0,
            key: str | None = None, request_hash: str | None = None,
            expected_version: int | None = None, stores: tuple[str, ...] = ("S01", "S02"),
            ) -> Request:
    caller = Caller(user or f"{role}-1", role, stores, at, "corr-test", key)
    return Request(caller, request_hash=request_hash, expected_version=expected_version)


def events_stored(app: ServiceCore) -> int:
    """The id of the last notification: grows by one per stored event."""
    return app.recorder.max_notification_id() or 0


def open_order(wos: WorkOrders, *, store_id: str = "S01", at: datetime = T0,
               complaints: tuple[str, ...] = ("brake noise at low speed",)) -> UUID:
    result = wos.open(request(at=at), store_id=store_id, customer=dict(CUSTOMER),
                      vehicle=dict(VEHICLE), mileage=42_000, complaints=list(complaints))
    return UUID(result.body["id"])


def checked_in(wos: WorkOrders, store_id: str = "S01") -> UUID:
    work_order_id = open_order(wos, store_id=store_id)
    wos.check_in(request(), work_order_id, mileage_in=42_010, fuel_level=40)
    return work_order_id


def labor(**overrides: Any) -> dict[str, Any]:
    return {"op_code": "BRK01", "description": "replace front pads", "hours": "1.5",
            "hourly_rate": "300.00", "pay_type": "customer", **overrides}


def part(**overrides: Any) -> dict[str, Any]:
    return {"part_number": "5q0698151", "description": "front brake pads", "qty": "1",
            "unit_price": "450.00", "pay_type": "customer", **overrides}


def on_roster(app: ServiceCore, technician: str, store_id: str = "S01") -> None:
    """A profile at the store (which puts the technician on its roster: the desk dispatches
    to no one else), a master of every skill (qualified for any job the desk dispatches), for
    a technician who has none yet; one who has keeps theirs."""
    try:
        app.repository.get(Technician.create_id(technician))
    except AggregateNotFoundError:
        Technicians(app).set_profile(request("manager", stores=(store_id,)), technician,
                                     store_id=store_id, skills=ALL_ROUND,
                                     hourly_cost="85.00")


def approved_job(wos: WorkOrders, work_order_id: UUID, job_no: int = 1,
                 technician: str = "tech-zhao") -> str:
    """Add one labor line to the job, approve it and dispatch the job (its technician put on
    the roster first); returns the line id."""
    on_roster(wos.app, technician, wos.app.repository.get(work_order_id).store_id)
    line_id = str(wos.add_labor_line(request(), work_order_id, job_no, labor()).body["line_id"])
    wos.authorize_line(request(), work_order_id, line_id, decision="approved", channel="phone")
    wos.dispatch(request("manager"), work_order_id, job_no, technician_id=technician)
    return line_id


PADS = "5Q0698151"  # the front brake pads that part() puts on an estimate


def clerk(user: str = "clerk-1", **kwargs: Any) -> Request:
    """A parts clerk at the counter."""
    return request("parts_clerk", user, **kwargs)


def register_part(app: ServiceCore, part_number: str = PADS, *, name: str = "front brake pads",
                  unit: str = "set", category: str = "brake", list_price: str = "450.00",
                  **details: Any) -> None:
    """Put a part into the part master (once; a second call for the same number is a no-op)."""
    if Part.create_id(normalise_part_number(part_number)) in app.repository:
        return
    Inventory(app).register_part(
        clerk(), part_number=part_number, list_price=list_price,
        details={"name": name, "unit": unit, "category": category, **details})


def stock_part(app: ServiceCore, part_number: str = PADS, qty: object = "10", *,
               store_id: str = "S01", unit_cost: object = "210.00",
               supplier: str = "FAW-VW Parts", supplier_doc: str = "DN-0001") -> str:
    """The part is in the master and a delivery of `qty` came in; returns the new lot id."""
    register_part(app, part_number)
    result = Inventory(app).receive(clerk(), store_id, part_number, qty=qty, unit_cost=unit_cost,
                                    supplier=supplier, supplier_doc=supplier_doc)
    return str(result.body["lot_id"])


def issue_parts(wos: WorkOrders, work_order_id: UUID, line_id: str, *,
                qty: object | None = None, at: datetime = T0) -> dict[str, Any]:
    """The parts clerk hands the line's parts (all still outstanding, or `qty`) to the job."""
    return wos.issue_part(clerk(at=at), work_order_id, line_id, qty=qty).body


def load_stock(app: ServiceCore, part_number: str = PADS, store_id: str = "S01") -> StockItem:
    item: object = app.repository.get(StockItem.create_id(store_id, part_number))
    assert isinstance(item, StockItem)
    return item


def load(app: ServiceCore, work_order_id: UUID) -> WorkOrder:
    work_order: object = app.repository.get(work_order_id)
    assert isinstance(work_order, WorkOrder)
    return work_order


def stored_before(app: ServiceCore, event: Any, version: int, *dropped: str) -> Any:
    """`event` as the mapper reads it back when stored as its class's `version` was, without
    the fields that version did not have (what its upcasters must make of it)."""
    kept = app.mapper.to_stored_event(event)
    state = app.mapper.transcoder.decode(kept.state)
    state["class_version"] = version
    for name in dropped:
        del state[name]
    return app.mapper.to_domain_event(type(kept)(
        originator_id=kept.originator_id, originator_version=kept.originator_version,
        topic=kept.topic, state=app.mapper.transcoder.encode(state)))
