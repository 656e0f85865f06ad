"""The soak's load: front desks that drive whole service visits over real HTTP, as a client
would — every command with an Idempotency-Key, retried with that same key after a 503 or a
dropped connection until it is answered. This module holds no tests itself.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from domain.skills import ALL_ROUND
from tests.integration.audit_support import new_vin

Headers = dict[str, str]
RETRY_FOR_SECONDS = 90.0  # a command still unanswered after this is a failure of the soak


@dataclass
class Ledger:
    """What the clients saw, shared by every desk: per Idempotency-Key the statuses of its
    attempts and its final answer; what `GET /commands/{id}` said of undecided saves."""

    statuses: dict[str, list[int | str]] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    looked_up: dict[str, list[int] | None] = field(default_factory=dict)  # command id -> ids
    keys_of_lookups: dict[str, str] = field(default_factory=dict)  # command id -> key
    failures: list[str] = field(default_factory=list)
    visits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attempt(self, key: str, status: int | str) -> None:
        with self.lock:
            self.statuses.setdefault(key, []).append(status)


class Unanswered(Exception):
    """A command that got neither a 2xx nor stopped failing within RETRY_FOR_SECONDS."""


class Desk:
    """One store: its parts clerk, advisor, manager, technician and cashier, one visit after
    another until `stop` is set (the visit under way is finished first)."""

    def __init__(self, base_url: str, auth: Callable[..., Headers], store_id: str,
                 ledger: Ledger, stop: threading.Event) -> None:
        self.store = store_id
        self.ledger = ledger
        self.stop = stop
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        s = store_id.lower()
        self.clerk = auth("parts_clerk", f"clerk-{s}", [store_id])
        self.advisor = auth("advisor", f"adv-{s}", [store_id])
        self.manager = auth("manager", f"mgr-{s}", [store_id])
        self.tech = auth("technician", f"tech-{s}", [store_id])
        self.cashier = auth("cashier", f"cash-{s}", [store_id])
        self.part = "P" + uuid.uuid4().hex[:9].upper()
        self.thread = threading.Thread(target=self.run, name=f"desk-{store_id}", daemon=True)

    # -- one command, as a client sends it ----------------------------------------------------

    def send(self, path: str, who: Headers, body: dict[str, Any], want: int = 200) -> Any:
        key = f"{self.store}-{uuid.uuid4().hex[:12]}"
        headers = {**who, "Idempotency-Key": key}
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        while True:
            try:
                answer = self.http.post(path, json=body, headers=headers)
            except httpx.TransportError as exc:
                self.ledger.attempt(key, type(exc).__name__)
            else:
                self.ledger.attempt(key, answer.status_code)
                if answer.status_code == want:
                    with self.ledger.lock:
                        self.ledger.answers[key] = {**answer.json(), "path": path}
                    return answer.json()
                if answer.status_code != 503:
                    raise Unanswered(f"{path} ({key}): {answer.status_code} {answer.text}")
                self._look_up(key, answer.json().get("command_id"))
            if time.monotonic() > deadline:
                raise Unanswered(f"{path} ({key}): no answer for {RETRY_FOR_SECONDS:.0f} s")
            time.sleep(0.2)

    def _look_up(self, key: str, command_id: str | None) -> None:
        """After a 503 that named its save: ask whether it was stored (final either way)."""
        if command_id is None:
            return
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        while time.monotonic() < deadline:
            try:
                found = self.http.get(f"/commands/{command_id}", headers=self.advisor)
            except httpx.TransportError:
                found = None
            if found is not None and found.status_code in (200, 404):
                ids = found.json()["notification_ids"] if found.status_code == 200 else None
                with self.ledger.lock:
                    self.ledger.looked_up[command_id] = ids
                    self.ledger.keys_of_lookups[command_id] = key
                return
            time.sleep(0.2)

    # -- the visits ---------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self.setup()
            while not self.stop.is_set():
                self.visit()
                with self.ledger.lock:
                    self.ledger.visits += 1
        except Exception as exc:  # noqa: BLE001 - the soak asserts there were none
            self.ledger.failures.append(f"{self.store}: {type(exc).__name__}: {exc}")
        finally:
            self.http.close()

    def setup(self) -> None:
        """The store's part and its technician (on the roster and qualified for any job: the
        desk dispatches to them)."""
        self.send("/parts", self.clerk, {
            "part_number": self.part, "name": "front brake pads", "unit": "set",
            "category": "brake", "list_price": "450.00"}, 201)
        self.send(f"/technicians/tech-{self.store.lower()}/profile", self.manager, {
            "store_id": self.store, "skills": ALL_ROUND, "hourly_cost": "85.00"})

    def visit(self) -> None:
        """A part received; a car opened, checked in, priced, approved, dispatched, its part
        issued, worked, inspected, settled and paid."""
        self.send(f"/stock/{self.store}/{self.part}/receipts", self.clerk, {
            "qty": 1, "unit_cost": "200.00", "supplier": "FAW-VW Parts",
            "supplier_doc": "DN-" + uuid.uuid4().hex[:8]}, 201)
        opened = self.send("/work-orders", self.advisor, {
            "store_id": self.store, "customer": {"name": "王伟", "phone": "13800000002"},
            "vehicle": {"vin": new_vin(), "plate": "沪B12345", "brand": "Volkswagen"},
            "mileage": 30_000, "complaints": ["brake noise"]}, 201)
        wo = f"/work-orders/{opened['id']}"
        self.send(f"{wo}/check-in", self.advisor, {"mileage_in": 30_010, "fuel_level": 50})
        labor = self.send(f"{wo}/jobs/1/labor-lines", self.advisor, {
            "op_code": "BRK01", "description": "replace pads", "hours": "1.0",
            "hourly_rate": "300.00"})["line_id"]
        part = self.send(f"{wo}/jobs/1/part-lines", self.advisor,
                         {"part_number": self.part, "qty": 1})["line_id"]
        for line in (labor, part):
            self.send(f"{wo}/lines/{line}/authorization", self.advisor,
                      {"decision": "approved", "channel": "phone"})
        self.send(f"{wo}/jobs/1/dispatch", self.manager,
                  {"technician_id": f"tech-{self.store.lower()}"})
        self.send(f"{wo}/lines/{part}/issue", self.clerk, {})
        for step in ("clock-on", "clock-off", "complete"):
            self.send(f"{wo}/jobs/1/{step}", self.tech, {})
        self.send(f"{wo}/jobs/1/quality-check", self.manager, {"passed": True})
        settlement = self.send("/settlements", self.cashier, {"work_order_id": opened["id"]}, 201)
        confirmed = self.send(f"/settlements/{settlement['id']}/confirmation", self.cashier, {})
        self.send("/payments", self.cashier, {
            "work_order_id": opened["id"], "method": "wechat_pay",
            "amount": confirmed["bills"]["customer"]["outstanding"],
            "provider_ref": "WX-" + uuid.uuid4().hex[:12]}, 201)
