"""A small, realistic demo history, built through the real command path (never by writing rows)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from domain.aftercare import Aftercare
from domain.application import Request
from domain.common import Caller, IllegalTransition
from domain.inventory import Inventory
from domain.settlements import Settlements
from domain.vehicle_ids import vin_check_digit
from domain.work_orders import WorkOrders

BRANDS = [("Volkswagen", "Lavida"), ("Toyota", "Camry"), ("Honda", "Accord"),
          ("BYD", "Han EV"), ("Buick", "GL8"), ("Nissan", "Sylphy")]
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇"]
COMPLAINTS = ["brake noise at low speed", "scheduled 10,000 km service", "engine warning light",
              "air conditioning not cold", "steering pulls left", "rattle from the rear door"]
LABOR = [("MNT10K", "10,000 km service", "1.2"), ("BRK-PAD", "replace front brake pads", "1.5"),
         ("DIAG-ECU", "engine diagnosis", "0.8"), ("AC-RECH", "recharge A/C", "1.0"),
         ("ALIGN", "wheel alignment", "0.9")]
PARTS = [("06L115562B", "oil filter", "1", "88.00"), ("5Q0698151", "front brake pads", "1", "560.00"),
         ("G052195M4", "engine oil 5W-30 (L)", "4.5", "78.00")]
# part number -> (unit, category, unit cost, minimum stock, reorder quantity)
STOCKING = {"06L115562B": ("pc", "maintenance", "41.00", 10, 30),
            "5Q0698151": ("set", "brake", "300.00", 4, 8),
            "G052195M4": ("L", "fluid", "36.00", 40, 120)}
SUPPLIER = "FAW-VW Parts Distribution"


def make_vin(rng: random.Random) -> str:
    alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    body = "L" + "".join(rng.choice(alphabet) for _ in range(16))
    return body[:8] + vin_check_digit(body[:8] + "0" + body[9:]) + body[9:]


def stock_parts(inventory: Inventory, stores: tuple[str, ...], at: datetime,
                visits: int) -> None:
    """The part master and a first delivery per store, enough for the demo's visits."""
    for part_number, name, _qty, price in PARTS:
        unit, category, cost, low, again = STOCKING[part_number]
        caller = Caller("clerk-01", "parts_clerk", stores, at, str(uuid4()))
        try:
            inventory.register_part(Request(caller), part_number=part_number, details={
                "name": name, "unit": unit, "category": category, "min_stock": low,
                "reorder_qty": again, "preferred_supplier": SUPPLIER}, list_price=price)
        except IllegalTransition:
            pass  # already in the group's master (an earlier demo run)
        for store in stores:
            inventory.receive(Request(caller), store, part_number,
                              qty=max(again, 5 * visits // len(stores)), unit_cost=cost,
                              supplier=SUPPLIER, supplier_doc=f"DN-{store}-{part_number}",
                              cert_ref=f"CCC-{part_number}")


def load_demo(work_orders: WorkOrders, inventory: Inventory, *, visits: int = 30,
              stores: tuple[str, ...] = ("S01",), seed: int = 7,
              progress: Callable[[int, int], None] | None = None,
              settlements: Settlements | None = None, aftercare: Aftercare | None = None) -> int:
    """Open `visits` work orders over the last weeks and drive most of them to ready; with
    `settlements` and `aftercare`, settle, deliver and follow up the older ones."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=visits)
    stock_parts(inventory, stores, start - timedelta(days=1), visits)
    for n in range(visits):
        at = start + timedelta(days=n, hours=rng.randint(0, 8))
        store = stores[n % len(stores)]

        def req(role: str, user: str, minutes: int = 0, store: str = store,
                at: datetime = at) -> Request:
            caller = Caller(user, role, (store,), at + timedelta(minutes=minutes), str(uuid4()))
            return Request(caller)

        brand, model = rng.choice(BRANDS)
        mileage = rng.randint(5_000, 150_000)
        opened = work_orders.open(
            req("advisor", "adv-01"), store_id=store,
            customer={"name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                      "phone": f"13{rng.randint(100000000, 999999999)}"},
            vehicle={"vin": make_vin(rng), "plate": f"沪A{rng.randint(10000, 99999)}",
                     "brand": brand, "model": model, "year": rng.randint(2016, 2025)},
            mileage=mileage, complaints=[rng.choice(COMPLAINTS)],
            kind=rng.choice(["maintenance", "repair"]),
        )
        wo = UUID(opened.body["id"])
        stage = rng.random()
        if stage < 0.15:
            continue
        work_orders.check_in(req("advisor", "adv-01", 10), wo,
                             mileage_in=mileage + rng.randint(0, 30), fuel_level=50)
        op, desc, hours = rng.choice(LABOR)
        work_orders.add_labor_line(req("advisor", "adv-01", 20), wo, 1, {
            "op_code": op, "description": desc, "hours": hours, "hourly_rate": "320.00"})
        part, pdesc, qty, price = rng.choice(PARTS)
        work_orders.add_part_line(req("advisor", "adv-01", 21), wo, 1, {
            "part_number": part, "description": pdesc, "qty": qty, "unit_price": price})
        for line in ("L1", "L2"):
            work_orders.authorize_line(req("advisor", "adv-01", 30), wo, line,
                                       decision="approved", channel="phone")
        if stage < 0.3:
            continue
        tech = f"tech-0{rng.randint(1, 4)}"
        work_orders.dispatch(req("manager", "mgr-01", 40), wo, 1, technician_id=tech)
        work_orders.issue_part(req("parts_clerk", "clerk-01", 50), wo, "L2")
        work_orders.clock_on(req("technician", tech, 60), wo, 1)
        work_orders.clock_off(req("technician", tech, 60 + rng.randint(40, 150)), wo, 1)
        if stage < 0.45:
            continue
        work_orders.complete_job(req("technician", tech, 200), wo, 1)
        work_orders.quality_check(req("manager", "qc-01", 210), wo, 1, passed=True)
        if settlements is None or aftercare is None or stage < 0.55:
            if progress:
                progress(n + 1, visits)
            continue
        cashier = f"cash-{store}"
        draft = settlements.draft(req("cashier", cashier, 230), wo)
        settlement_id = UUID(draft.body["id"])
        confirmed = settlements.confirm(req("cashier", cashier, 231), settlement_id)
        due = confirmed.body["bills"].get("customer", {}).get("outstanding", "0.00")
        if due != "0.00":
            method = rng.choice(["cash", "wechat_pay", "alipay", "bank_card"])
            settlements.pay(req("cashier", cashier, 232), work_order_id=wo, method=method,
                            amount=due, provider_ref=None if method == "cash"
                            else f"{method[:3].upper()}-{n:06d}")
        delivered = aftercare.deliver(req("advisor", "adv-01", 240), wo,
                                      mileage_out=mileage + 35, acknowledged_by="customer")
        if stage > 0.75:
            aftercare.complete(req("advisor", "adv-02", 240 + 3 * 24 * 60),
                               UUID(delivered.body["follow_up"]["id"]),
                               csi=rng.choice([3, 4, 5, 5, 5]), comment=None)
        if progress:
            progress(n + 1, visits)
    return visits
