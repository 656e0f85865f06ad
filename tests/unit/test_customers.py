"""Customers: sealed personal data, consent, tags, loyalty points (earn, FIFO redemption,
expiry), and the appointment that becomes a work order in one save."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.appointment import Appointment, AppointmentError
from domain.appointments import Appointments
from domain.common import Audit, InvalidInput, NotPermitted
from domain.customer import Customer, CustomerError, InsufficientPoints
from domain.customers import Customers
from domain.days import add_months
from domain.loyalty import LoyaltyRules
from domain.pii import ERASED
from domain.work_order import WorkOrder
from tests.unit.support import T0, VIN, events_stored, load, request, stored_before

SHANGHAI = ZoneInfo("Asia/Shanghai")


def customer(app: ServiceCore, **extra: object) -> UUID:
    body = Customers(app).register(request(), store_id="S01", name="陈静",
                                   phones=["139 1234 5678", "+86 138 0000 0000"], **extra).body
    return UUID(body["id"])


def stored(app: ServiceCore, customer_id: UUID) -> Customer:
    found: object = app.repository.get(customer_id)
    assert isinstance(found, Customer)
    return found


def test_personal_fields_are_sealed_and_shred_with_the_key() -> None:
    app = ServiceCore()
    cid = customer(app, wechat_id="cj_88", consents=["sms"], tags=["Prefers mornings"])
    c = stored(app, cid)
    # Events hold tokens only; the key opens them; phones are normalised.
    assert all(str(v).startswith("pii1:") for v in [c.sealed["name"], *c.sealed["phones"]])
    opened = [app.personal_data.open(cid, t) for t in c.sealed["phones"]]
    assert opened == ["13912345678", "13800000000"]
    assert c.consents["sms"]["granted"] and c.tags == ["prefers-mornings"]
    Customers(app).erase(request("manager"), cid, reason="PIPL request")
    assert app.personal_data.open(cid, c.sealed["name"]) == ERASED
    with pytest.raises(InvalidInput, match="erased"):
        Customers(app).change_details(request(), cid, name="someone", reason="name misspelt")


def test_a_details_change_stored_before_reasons_were_required_reads_without_one() -> None:
    app = ServiceCore()
    cid = customer(app)
    Customers(app).change_details(request(), cid, wechat_id="cj_99", reason="  new WeChat id ")
    changed = app.events.get(cid, gt=1)
    event = next(e for e in changed if isinstance(e, Customer.DetailsChanged))
    # Sealed with the customer's key, as the details it may name.
    assert event.reason.startswith("pii1:")
    assert app.personal_data.open(cid, event.reason) == "new WeChat id"
    # The same change as a v1 event stored it: no `reason`.
    old = stored_before(app, event, 1, "reason")
    assert isinstance(old, Customer.DetailsChanged) and old.reason is None
    assert old.sealed == event.sealed
    with pytest.raises(InvalidInput) as refused:
        Customers(app).change_details(request(), cid, wechat_id="cj_98", reason=" ")
    assert refused.value.extra["field"] == "reason"


def test_consent_and_tags_record_only_changes() -> None:
    app = ServiceCore()
    cid = customer(app)
    customers = Customers(app)
    assert customers.set_consent(request(), cid, channel="wechat", granted=True).body["changed"]
    assert not customers.set_consent(request(), cid, channel="wechat",
                                     granted=True).body["changed"]
    customers.set_consent(request(), cid, channel="wechat", granted=False, note="too many")
    assert stored(app, cid).consents["wechat"]["granted"] is False
    with pytest.raises(InvalidInput, match="derived"):
        customers.tag(request(), cid, tag="VIP")
    customers.tag(request(), cid, tag="fleet-contact")
    with pytest.raises(CustomerError):
        customers.tag(request(), cid, tag="Fleet contact")
    with pytest.raises(InvalidInput, match="reason"):
        customers.untag(request(), cid, tag="fleet-contact", reason="")
    with pytest.raises(NotPermitted):
        customers.register(request(stores=("S02",)), store_id="S01", name="x",
                           phones=["13800000000"])


def test_points_are_spent_oldest_first_and_expire_after_24_months() -> None:
    app = ServiceCore()
    cid = customer(app)
    customers = Customers(app)
    cashier = request("cashier")
    assert customers.earn_points(cashier, cid, "1009.99", "ST-1").body["points"] == 100
    later = T0 + timedelta(days=200)
    customers.earn_points(request("cashier", at=later), cid, "500.00", "ST-2")
    # A repeated payment earns nothing twice.
    assert customers.earn_points(cashier, cid, "1009.99", "ST-1").body["duplicate"] is True
    paid = customers.redeem_points(request("cashier", at=later), cid, 120, "PAY-1").body
    assert paid["value"] == "12.00" and paid["balance"] == 30
    c = stored(app, cid)
    assert [lot["remaining"] for lot in c.lots] == [0, 30]  # the oldest lot first
    # Two years after the second earning its rest has lapsed: redemption is refused.
    much_later = later + timedelta(days=731)
    before = events_stored(app)
    with pytest.raises(InsufficientPoints) as refused:
        customers.redeem_points(request("cashier", at=much_later), cid, 1, "PAY-2")
    assert refused.value.extra["balance"] == 0 and events_stored(app) == before
    assert customers.expire_points(request("manager", at=much_later), cid).body["expired"] == 30
    assert customers.expire_points(request("manager", at=much_later), cid).body["expired"] == 0


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["earn", "redeem"]), st.integers(1, 3000),
                          st.integers(0, 400)), max_size=15))
def test_the_balance_is_never_negative_and_matches_a_ledger(
        steps: list[tuple[str, int, int]]) -> None:
    app = ServiceCore()
    cid = customer(app)
    customers = Customers(app, loyalty=LoyaltyRules(rate=Decimal("0.1"), expiry_months=6))
    ledger: list[list[object]] = []  # [expires on, remaining], oldest first
    today = T0.astimezone(SHANGHAI).date()
    for n, (kind, amount, gap) in enumerate(steps):
        at = T0 + timedelta(days=sum(step[2] for step in steps[:n + 1]))
        today = at.astimezone(SHANGHAI).date()
        live = [lot for lot in ledger if lot[0] > today and lot[1] > 0]  # type: ignore[operator]
        if kind == "earn":
            customers.earn_points(request("cashier", at=at), cid, amount, f"ST-{n}")
            if amount // 10:
                ledger.append([add_months(today, 6), amount // 10])
        elif amount <= sum(lot[1] for lot in live):  # type: ignore[misc]
            customers.redeem_points(request("cashier", at=at), cid, amount, f"PAY-{n}")
            for lot in live:
                take = min(amount, lot[1])  # type: ignore[type-var]
                lot[1], amount = lot[1] - take, amount - take  # type: ignore[operator]
        else:
            with pytest.raises(InsufficientPoints):
                customers.redeem_points(request("cashier", at=at), cid, amount, f"PAY-{n}")
    c = stored(app, cid)
    assert all(lot["remaining"] >= 0 for lot in c.lots)
    assert c.points_balance(today) == sum(
        lot[1] for lot in ledger if lot[0] > today)  # type: ignore[misc, operator]
    assert [lot["remaining"] for lot in c.lots if date.fromisoformat(lot["expires_on"]) > today] \
        == [lot[1] for lot in ledger if lot[0] > today]  # type: ignore[operator]


def refund(app: ServiceCore, cid: UUID, reference: str, amount: str, refund_id: str,
           today: date) -> dict[str, int]:
    """A refund approved on the visit `reference` paid, as the settlement's save applies it."""
    c = stored(app, cid)
    audit = Audit("mgr-1", "manager", "S01", T0, "corr")
    taken = c.refunded(audit, LoyaltyRules(), refund_id, UUID(int=1), reference,
                       Decimal(amount), "payment_return", today)
    app.save(c)
    return taken


def test_a_refund_takes_back_the_points_earned_on_it_and_never_below_zero() -> None:
    app = ServiceCore()
    cid = customer(app)
    customers = Customers(app)
    today = T0.astimezone(SHANGHAI).date()
    customers.earn_points(request("cashier"), cid, "900.00", "WO-1")  # 90 points
    customers.earn_points(request("cashier"), cid, "300.00", "WO-2")  # 30 points
    # 305.00 of WO-1 back: 595.00 still paid earns 59, so 31 of its 90 go back, from its lot
    assert refund(app, cid, "WO-1", "305.00", "RF-1", today) == {"points": 31, "shortfall": 0}
    assert [lot["remaining"] for lot in stored(app, cid).lots] == [59, 30]
    # 80 points are spent (WO-1's 59 first), then the rest of WO-1 goes back: its 59 are due,
    # its lot is empty, WO-2's 9 left are taken, 50 are a shortfall: the balance stays at 0
    customers.redeem_points(request("cashier"), cid, 80, "PAY-1")
    assert refund(app, cid, "WO-1", "595.00", "RF-2", today) == {"points": 9, "shortfall": 50}
    c = stored(app, cid)
    assert c.points_balance(today) == 0 and [lot["remaining"] for lot in c.lots] == [0, 0]
    # a refund of a visit that earned nothing takes nothing
    assert refund(app, cid, "WO-9", "100.00", "RF-3", today) == {"points": 0, "shortfall": 0}
    topics = [n.topic.split(":")[1] for n in app.recorder.select_notifications(start=1,
                                                                               limit=100)]
    assert topics.count("Customer.PaymentRefunded") == 3


def test_a_refund_of_a_visit_whose_points_lapsed_takes_from_the_live_lots() -> None:
    app = ServiceCore()
    cid = customer(app)
    customers = Customers(app)
    customers.earn_points(request("cashier"), cid, "500.00", "WO-1")  # 50, lapse in 24 months
    later = T0 + timedelta(days=700)
    customers.earn_points(request("cashier", at=later), cid, "200.00", "WO-2")  # 20
    much_later = (T0 + timedelta(days=740)).astimezone(SHANGHAI).date()  # WO-1 has lapsed
    assert stored(app, cid).points_balance(much_later) == 20
    # all of WO-1 back: its 50 are due, none live in its lot: WO-2's 20, then a shortfall
    assert refund(app, cid, "WO-1", "500.00", "RF-1", much_later) == {"points": 20,
                                                                       "shortfall": 30}
    assert stored(app, cid).points_balance(much_later) == 0
    # later earnings are not held back for the shortfall
    customers.earn_points(request("cashier", at=later), cid, "100.00", "WO-3")
    assert stored(app, cid).points_balance(much_later) == 10


@settings(max_examples=60)
@given(st.lists(st.one_of(
    st.tuples(st.just("earn"), st.integers(1, 3000)),
    st.tuples(st.just("redeem"), st.integers(1, 300)),
    st.tuples(st.just("refund"), st.integers(0, 14), st.integers(1, 3000))), max_size=15))
def test_refunds_take_back_exactly_what_the_refunded_money_earned_or_record_a_shortfall(
        steps: list[tuple[Any, ...]]) -> None:
    app = ServiceCore()
    cid = customer(app)
    customers = Customers(app, loyalty=LoyaltyRules(rate=Decimal("0.1")))
    today = T0.astimezone(SHANGHAI).date()
    earnings: list[dict[str, int]] = []  # paid (whole CNY) and refunded so far, per earning
    redeemed = taken = 0
    for n, step in enumerate(steps):
        balance = stored(app, cid).points_balance(today)
        if step[0] == "earn":
            customers.earn_points(request("cashier"), cid, step[1], f"WO-{n}")
            earnings.append({"paid": step[1], "refunded": 0, "due": 0, "n": n})
        elif step[0] == "redeem" and step[1] <= balance:
            customers.redeem_points(request("cashier"), cid, step[1], f"PAY-{n}")
            redeemed += step[1]
        elif step[0] == "refund" and earnings:
            earning = earnings[step[1] % len(earnings)]
            amount = min(step[2], earning["paid"] - earning["refunded"])
            if amount == 0:
                continue
            answer = refund(app, cid, f"WO-{earning['n']}", str(amount), f"RF-{n}", today)
            earning["refunded"] += amount
            # due: what the earning gave less what the money still paid earns, less earlier
            due = (earning["paid"] // 10 - (earning["paid"] - earning["refunded"]) // 10
                   - earning["due"])
            earning["due"] += due
            assert answer["points"] + answer["shortfall"] == due
            assert answer["points"] == min(due, balance)  # a shortfall only at a zero balance
            taken += answer["points"]
    c = stored(app, cid)
    assert all(lot["remaining"] >= 0 for lot in c.lots)
    earned = sum(e["paid"] // 10 for e in earnings)
    assert c.points_balance(today) == earned - redeemed - taken >= 0


def test_arrival_opens_the_work_order_and_links_both_ways_in_one_save() -> None:
    app = ServiceCore()
    cid = customer(app)
    service = Appointments(app)
    service.plan_capacity(request("manager"), store_id="S01", from_day="2026-05-01",
                          to_day="2026-05-02", opens="08:00", closes="18:00", bays=2,
                          skill_hours={"maintenance": 8})
    booked = UUID(service.book(request(), store_id="S01", customer_id=cid,
                               vehicle={"vin": VIN, "plate": "沪A12345"}, day="2026-05-01",
                               arrival="09:00", services=[{"description": "10,000 km service",
                                                           "op_code": "MNT10K", "hours": 2}]
                               ).body["id"])
    before = events_stored(app)
    answer = service.arrive(request(), booked, mileage=41_000).body
    # One save: the store's work-order counter, WorkOrder.Opened and Appointment.Arrived.
    topics = [n.topic.split(":")[1] for n in app.recorder.select_notifications(
        start=before + 1, limit=10)]
    assert topics == ["DocumentCounter.Started", "DocumentCounter.Taken", "WorkOrder.Opened",
                      "Appointment.Arrived"]
    wo = load(app, UUID(answer["work_order_id"]))
    assert wo.appointment_id == str(booked) and wo.customer_id == cid and wo.kind == "maintenance"
    appointment: object = app.repository.get(booked)
    assert isinstance(appointment, Appointment) and appointment.status == "arrived"
    assert appointment.work_order == {"id": wo.id, "number": wo.number}
    # Arriving again opens nothing: the appointment refuses and the number is not taken.
    with pytest.raises(AppointmentError):
        service.arrive(request(), booked, mileage=41_000)
    assert events_stored(app) == before + 4


def test_arrival_on_another_day_and_an_early_no_show_are_refused() -> None:
    app = ServiceCore()
    cid = customer(app)
    service = Appointments(app)
    service.plan_capacity(request("manager"), store_id="S01", from_day="2026-05-02",
                          to_day="2026-05-02", opens="08:00", closes="18:00", bays=1,
                          skill_hours={"chassis": 4})
    booked = UUID(service.book(request(), store_id="S01", customer_id=cid, vehicle={"vin": VIN},
                               day="2026-05-02", arrival="10:00", services=[
                                   {"description": "brakes", "op_code": "BRK", "hours": 1}]
                               ).body["id"])
    before = events_stored(app)
    with pytest.raises(AppointmentError, match="reschedule"):
        service.arrive(request(), booked, mileage=41_000)  # T0 is the day before
    with pytest.raises(AppointmentError, match="not yet a no-show"):
        service.no_show(request(), booked)
    assert events_stored(app) == before
    assert not any(isinstance(app.repository.get(UUID(str(n.originator_id))), WorkOrder)
                   for n in app.recorder.select_notifications(start=1, limit=1000))
    service.no_show(request(at=T0 + timedelta(days=1, hours=2)), booked)
