"""The command mix of the command benchmarks: the front-desk part of a service visit.

One visit is six commands, in order: open a work order (new customer, number taken from the
store's counter), check the vehicle in, add a labor line, add a part line, and authorize both
lines. The same visit runs through HTTP (bodies as tests/e2e/test_service_visit.py sends them)
or through the domain service `WorkOrders` directly.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from domain.application import Request
from domain.common import Caller
from domain.work_orders import WorkOrders
from servicecore.demo import BRANDS, COMPLAINTS, GIVEN, SURNAMES, make_vin

STEPS = ("open", "check_in", "labor_line", "part_line", "authorize_L1", "authorize_L2")
STORE = "S01"


def open_body(rng: random.Random, store_id: str) -> dict[str, Any]:
    brand, model = rng.choice(BRANDS)
    return {
        "store_id": store_id,
        "customer": {"name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                     "phone": f"13{rng.randint(100000000, 999999999)}"},
        "vehicle": {"vin": make_vin(rng), "plate": f"沪A{rng.randint(10000, 99999)}",
                    "brand": brand, "model": model, "year": rng.randint(2016, 2025)},
        "mileage": rng.randint(5_000, 150_000), "complaints": [rng.choice(COMPLAINTS)],
    }


CHECK_IN = {"mileage_in": 150_001, "fuel_level": 40, "damage_notes": "scratch rear bumper"}
LABOR = {"op_code": "BRK-PAD", "description": "replace front pads", "hours": "1.5",
         "hourly_rate": "300.00"}
PART = {"part_number": "5Q0698151", "description": "front brake pads", "qty": 1,
        "unit_price": "560.00"}
AUTHORIZE = {"decision": "approved", "channel": "phone"}


class VisitClient:
    """One client: runs visits step by step; `next()` sends the next command (one op)."""

    def __init__(self, index: int, send: Callable[[str, Any, dict[str, Any]], Any],
                 seed: int = 11) -> None:
        self.rng = random.Random(seed * 1000 + index)
        self.send = send
        self.step = 0
        self.work_order: Any = None
        self.by_step: dict[str, list[float]] = defaultdict(list)

    def next(self) -> int:
        name = STEPS[self.step]
        if name == "open":
            payload: Any = open_body(self.rng, STORE)
        elif name == "check_in":
            payload = CHECK_IN
        elif name == "labor_line":
            payload = LABOR
        elif name == "part_line":
            payload = PART
        else:
            payload = AUTHORIZE
        started = time.perf_counter()
        try:
            result = self.send(name, self.work_order, payload)
        except Exception:
            self.step = 0  # start a new visit after a failure
            raise
        self.by_step[name].append(time.perf_counter() - started)
        if name == "open":
            self.work_order = result
        self.step = (self.step + 1) % len(STEPS)
        return 1


def direct_sender(work_orders: WorkOrders, user: str = "adv-01") -> Callable[..., Any]:
    """Commands straight into the domain service, as the API would call it (no HTTP)."""

    def request() -> Request:
        return Request(Caller(user, "advisor", (STORE,), datetime.now(UTC), str(uuid4())))

    def send(step: str, wo: UUID | None, payload: dict[str, Any]) -> UUID | None:
        if step == "open":
            result = work_orders.open(request(), **payload)
            return UUID(result.body["id"])
        assert wo is not None
        if step == "check_in":
            work_orders.check_in(request(), wo, **payload)
        elif step == "labor_line":
            work_orders.add_labor_line(request(), wo, 1, dict(payload))
        elif step == "part_line":
            work_orders.add_part_line(request(), wo, 1, dict(payload))
        else:
            work_orders.authorize_line(request(), wo, step.split("_")[1], **payload)
        return wo

    return send


def http_path(step: str, wo: str | None) -> str:
    if step == "open":
        return "/work-orders"
    return {
        "check_in": f"/work-orders/{wo}/check-in",
        "labor_line": f"/work-orders/{wo}/jobs/1/labor-lines",
        "part_line": f"/work-orders/{wo}/jobs/1/part-lines",
        "authorize_L1": f"/work-orders/{wo}/lines/L1/authorization",
        "authorize_L2": f"/work-orders/{wo}/lines/L2/authorization",
    }[step]


def http_sender(client: Any, headers: dict[str, str]) -> Callable[..., Any]:
    """Commands as POSTs through an httpx.Client (keep-alive)."""

    def send(step: str, wo: str | None, payload: dict[str, Any]) -> str | None:
        response = client.post(http_path(step, wo), json=payload, headers=headers)
        if response.status_code >= 300:
            raise RuntimeError(f"{step}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()["id"] if step == "open" else wo  # type: ignore[no-any-return]

    return send
