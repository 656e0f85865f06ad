"""A long-lived customer: what a command on them reads and copies at two history sizes.

In memory (no database), through the application's commands:

- fleet: `--charges` N visits of one customer charged to account and each paid off, then the
  next charge: the settlements it reads from the event store (counted, not timed);
- loyal: `--visits` N visits of one customer each earning points and spending them all, then:
  the lots the customer holds (what `points_balance`, `fifo_takes` and `earned` scan), the
  size of its snapshot's state (bytes, as the event store would store it) and the time of one
  deep copy of the customer (what every command on it does to the cached copy: p50 of
  `--copies`; the only timed figure, shared-machine noise included).

    python -m bench.fleet_customer [--charges 10,40] [--visits 1000,4000] [--copies 20]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Any

from eventsourcing.domain import Snapshot

from domain.application import ServiceCore
from domain.customer import Customer
from domain.customers import Customers
from tests.unit.support import T0, request
from tests.unit.test_customers import SHANGHAI, customer
from tests.unit.test_on_account_bounded import next_charge


def charge_reads(history: int) -> dict[str, Any]:
    held, seen = next_charge(history)
    return {"charges before": history, "settlement reads of the next charge": len(seen),
            "charges listed": len(held.account_charges)}


def loyal(visits: int, copies: int) -> dict[str, Any]:
    app = ServiceCore()
    cid = customer(app)
    customers, today = Customers(app), T0.astimezone(SHANGHAI).date()
    for i in range(visits):
        customers.earn_points(request("cashier"), cid, "100.00", f"WO-{i}")
        held: Any = app.repository.get(cid)
        customers.redeem_points(request("cashier"), cid, held.points_balance(today), f"P-{i}")
    held = app.repository.get(cid)
    assert isinstance(held, Customer)
    state = app.mapper.to_stored_event(Snapshot.take(held)).state
    took = []
    for _ in range(copies):
        started = time.perf_counter()
        copy.deepcopy(held)
        took.append((time.perf_counter() - started) * 1000)
    return {"visits": visits, "lots held (scanned)": len(held.lots),
            "redemptions held": len(held.redemptions), "snapshot state bytes": len(state),
            "deep copy ms p50": round(statistics.median(took), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", default="10,40")
    parser.add_argument("--visits", default="1000,4000")
    parser.add_argument("--copies", type=int, default=20)
    args = parser.parse_args()
    for n in (int(x) for x in args.charges.split(",")):
        print(charge_reads(n))
    for n in (int(x) for x in args.visits.split(",")):
        print(loyal(n, args.copies))


if __name__ == "__main__":
    main()
