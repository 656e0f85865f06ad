"""What the demo histories are made of: brands, names, complaints with the work and parts they
lead to, the part master and its stocking levels, staff, and the VINs."""

from __future__ import annotations

import random
from datetime import datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

from domain.application import Request
from domain.common import Caller, IllegalTransition
from domain.inventory import Inventory
from domain.technicians import Technicians
from domain.vehicle_ids import vin_check_digit

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


HISTORY_PARTS = [*PARTS,
                 ("04E115561H", "oil filter 1.4T", "1", "96.00"),
                 ("1K0819653B", "cabin air filter", "1", "120.00"),
                 ("5Q0615301H", "front brake disc", "2", "680.00"),
                 ("3Q0698451A", "rear brake pads", "1", "420.00"),
                 ("000915105CD", "battery 60Ah", "1", "980.00"),
                 ("WHT005190", "spark plug", "4", "85.00"),
                 ("G052182A2", "brake fluid DOT4 (L)", "1", "95.00")]
HISTORY_STOCKING = {**STOCKING,
                    "04E115561H": ("pc", "maintenance", "45.00", 10, 30),
                    "1K0819653B": ("pc", "maintenance", "52.00", 6, 20),
                    "5Q0615301H": ("pc", "brake", "310.00", 2, 4),
                    "3Q0698451A": ("set", "brake", "190.00", 2, 6),
                    "000915105CD": ("pc", "electrical", "520.00", 2, 4),
                    "WHT005190": ("pc", "engine", "38.00", 16, 40),
                    "G052182A2": ("L", "fluid", "40.00", 6, 20)}
SLOW_MOVER = ("1J0615301", "brake disc (old model)", "2", "520.00")  # stocked, never asked for
MAINTENANCE = [("MNT10K", "10,000 km service", "1.2", "06L115562B", "1"),
               ("MNT20K", "20,000 km service", "1.8", "04E115561H", "1"),
               ("MNT-CABIN", "cabin filter change", "0.3", "1K0819653B", "1"),
               ("MNT-PLUGS", "spark plug change", "1.0", "WHT005190", "4"),
               ("MNT-FLUID", "brake fluid change", "0.8", "G052182A2", "1"),
               ("MNTL2-40K", "second-level maintenance (40,000 km)", "3.0", "04E115561H", "1")]
REPAIRS = [("brake noise at low speed", "BRK-PAD", "replace front brake pads", "1.5",
            "5Q0698151", "1"),
           ("brake judder when stopping", "BRK-DISC", "replace front brake discs", "2.2",
            "5Q0615301H", "2"),
           ("squeal from the rear brakes", "BRK-RPAD", "replace rear brake pads", "1.3",
            "3Q0698451A", "1"),
           ("engine warning light", "DIAG-ECU", "engine diagnosis", "0.8", None, None),
           ("car does not start in the morning", "BAT-REP", "replace battery", "0.5",
            "000915105CD", "1"),
           ("air conditioning not cold", "AC-RECH", "recharge A/C", "1.0", None, None),
           ("steering pulls left", "ALIGN", "wheel alignment", "0.9", None, None),
           ("rattle from the rear door", "BODY-RTL", "fix door rattle", "0.7", None, None),
           ("gearbox slips and shifts harshly", "GBXOH-DQ200", "overhaul the DSG gearbox",
            "8.0", None, None)]
# the technician's findings per repair op code: the cause and the fault codes read (the
# correction is the operation's description)
FINDINGS = {"BRK-PAD": ("front pads worn to 2 mm", []),
            "BRK-DISC": ("front discs warped, run-out 0.12 mm", []),
            "BRK-RPAD": ("rear pads glazed", []),
            "DIAG-ECU": ("ignition coil 2 connector loose, misfire", ["P0302"]),
            "BAT-REP": ("battery fails the load test", []),
            "AC-RECH": ("refrigerant low, no leak found", []),
            "ALIGN": ("front toe out of tolerance", ["C0051"]),
            "BODY-RTL": ("door striker loose", []),
            "GBXOH-DQ200": ("clutch pack worn, mechatronic unit reports slip", ["P17BF"]),
            "PAINT-RB": ("bumper paint scratched to the primer", [])}
METHOD_WEIGHTS = {"wechat_pay": 35, "alipay": 25, "bank_card": 20, "cash": 15,
                  "bank_transfer": 5}
CSI_WEIGHTS = {5: 55, 4: 25, 3: 10, 2: 6, 1: 4}
ZONE = ZoneInfo("Asia/Shanghai")
# the small demo's other pay types: a body repair the insurer pays, a used car the sales
# department has inspected before resale (complaint, op code, description, hours)
INSURANCE_JOB = ("scratched rear bumper after a parking knock", "PAINT-RB",
                 "repaint rear bumper", "3.0")
INSURERS = ["PICC 中国人保", "Ping An 平安产险", "CPIC 太平洋产险"]
INTERNAL_JOB = ("used-car inspection before resale", "INSP-UC", "200-point used-car inspection",
                "1.5")
USED_CAR_DESK = "二手车部 used-car sales"
# the names technicians are known by (their profile), handed out in this order per store
TECHNICIAN_NAMES = ["王建国", "李志强", "张海涛", "刘东", "陈晓峰", "杨帆", "赵磊", "黄俊",
                    "周明", "吴刚", "徐亮", "孙立"]
# enough for every op code of the repairs the demo dispatches at the desk (a gearbox overhaul:
# transmission 3)
TECHNICIAN_SKILLS = {"maintenance": 3, "chassis": 3, "electrical": 3, "engine": 2,
                     "transmission": 3, "body": 2, "paint": 2, "ev_high_voltage": 3}


def make_vin(rng: random.Random) -> str:
    alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    body = "L" + "".join(rng.choice(alphabet) for _ in range(16))
    return body[:8] + vin_check_digit(body[:8] + "0" + body[9:]) + body[9:]


def register_parts(inventory: Inventory, stores: tuple[str, ...], at: datetime,
                   parts: list[tuple[str, str, str, str]]) -> None:
    """The group's part master (a part already registered by an earlier run stays)."""
    for part_number, name, _qty, price in parts:
        unit, category, _cost, low, again = HISTORY_STOCKING.get(
            part_number, ("pc", "brake", "260.00", 0, 0))
        caller = Caller("clerk-hq", "parts_clerk", stores, at, str(uuid4()))
        try:
            inventory.register_part(Request(caller), part_number=part_number, details={
                "name": name, "unit": unit, "category": category, "min_stock": low,
                "reorder_qty": again, "preferred_supplier": SUPPLIER}, list_price=price)
        except IllegalTransition:
            pass  # already in the group's master


def name_technicians(technicians: Technicians, store: str, users: list[str], at: datetime,
                     first: int = 0) -> None:
    """Profiles (skills, hourly cost, name) for a store's technicians, as its manager."""
    for n, user in enumerate(users):
        caller = Caller(f"mgr-{store.lower()}", "manager", (store,), at, str(uuid4()))
        technicians.set_profile(Request(caller), user, store_id=store,
                                skills=TECHNICIAN_SKILLS, hourly_cost="85.00",
                                name=TECHNICIAN_NAMES[(first + n) % len(TECHNICIAN_NAMES)])
