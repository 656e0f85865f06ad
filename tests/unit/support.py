"""Shared helpers for the in-memory domain tests: requests, a standard visit, event counting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain.application import Request, ServiceCore
from domain.common import Caller
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


def approved_job(wos: WorkOrders, work_order_id: UUID, job_no: int = 1,
                 technician: str = "tech-zhao") -> str:
    """Add one labor line to the job, approve it and dispatch the job; returns the line id."""
    line_id = str(wos.add_labor_line(request(), work_order_id, job_no, labor()).body["line_id"])
    wos.authorize_line(request(), work_order_id, line_id, decision="approved", channel="phone")
    wos.dispatch(request("manager"), work_order_id, job_no, technician_id=technician)
    return line_id


def load(app: ServiceCore, work_order_id: UUID) -> WorkOrder:
    work_order: object = app.repository.get(work_order_id)
    assert isinstance(work_order, WorkOrder)
    return work_order
