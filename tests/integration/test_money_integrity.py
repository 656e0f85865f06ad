"""Money commands are all-or-nothing on real PostgreSQL.

A database failure injected into the insert of a settling payment's save (Settlement +
WorkOrder + CashierDay + idempotency record in ONE save) stores nothing of it: no event, no
version moved, no number consumed, the read model unchanged; the same request then succeeds
exactly once. A failed confirmation does not consume its settlement number either.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import PersistenceError

from domain.cashier_day import CashierDay
from domain.counter import DocumentCounter
from domain.idempotency import IdempotencyRecord
from domain.payment_reference import PaymentReference
from domain.settlement import Settlement
from domain.work_order import WorkOrder
from servicecore.container import Container
from tests.integration.support import head, load
from tests.integration.test_money_support import (
    draft,
    fault,
    ready_visit,
    req,
    stocked_part,
    store_rows,
    this_year,
    today,
    topics_of,
    topics_since,
    version_of,
    wait_for_projection,
    work_order,
)

# Which row of the settling save's single INSERT the database refuses (one of each aggregate).
Target = Callable[[UUID, UUID, UUID, UUID], tuple[type | str, UUID]]
TARGETS: dict[str, Target] = {
    "Settlement.PaymentTaken": lambda s, wo, day, idem: (Settlement.PaymentTaken, s),
    "WorkOrder.Settled": lambda s, wo, day, idem: (WorkOrder.Settled, wo),
    "CashierDay.MoneyIn": lambda s, wo, day, idem: (CashierDay.MoneyIn, day),
    "IdempotencyRecord.Remembered": lambda s, wo, day, idem: (
        "domain.idempotency:IdempotencyRecord.Remembered", idem),
}
# ... and the customer's loyalty points on what they paid, in the same save
SETTLING_SAVE = sorted(["Settlement.PaymentTaken", "Settlement.Settled", "WorkOrder.Settled",
                        "CashierDay.Opened", "CashierDay.MoneyIn", "Customer.PointsEarned",
                        "IdempotencyRecord.Remembered", "PaymentReference.Reserved"])


@pytest.mark.parametrize("refused", list(TARGETS))
def test_a_fault_inside_the_settling_save_stores_nothing_and_the_retry_settles_once(
        container: Container, owner_database_url: str, store_id: str, refused: str) -> None:
    app = container.app
    settlements = container.settlements
    # A visit: 450 labor + a 450 part (cost 200), confirmed, 100 cash deposit by cashier 1.
    part = stocked_part(container, store_id)
    work_order_id = ready_visit(container, store_id, part=part)
    settlement_id = draft(container, store_id, work_order_id)
    first_cashier, second_cashier = f"cash1-{store_id}", f"cash2-{store_id}"
    settlements.pay(req(store_id, user=first_cashier), work_order_id=work_order_id,
                    method="cash", amount="100.00")
    confirmed = settlements.confirm(req(store_id), settlement_id).body
    assert confirmed["bills"]["customer"]["outstanding"] == "800.00"
    assert confirmed["settled"] is False

    # Cashier 2 (no day opened yet) takes the 800 that completes the bill, with a key.
    key = f"settle-{uuid4()}"
    first_day = CashierDay.create_id(store_id, first_cashier, today())
    second_day = CashierDay.create_id(store_id, second_cashier, today())
    remembered = IdempotencyRecord.create_id(second_cashier, key)
    event_class, stream = TARGETS[refused](settlement_id, work_order_id, second_day, remembered)

    def settle() -> dict[str, object]:
        return settlements.pay(req(store_id, user=second_cashier, key=key),
                               work_order_id=work_order_id, method="wechat_pay",
                               amount="800.00", provider_ref=f"WX-{store_id}").body

    streams = (settlement_id, work_order_id, first_day)
    versions = {s: version_of(container, s) for s in streams}
    wait_for_projection(container)
    rows_before = store_rows(container, store_id)
    before = head(app)

    # The database refuses one event of that save, in the middle of its insert.
    with fault(owner_database_url, event_class, stream), \
            pytest.raises(PersistenceError, match="injected fault"):
        settle()

    # Nothing of the command was stored: no event of any of its streams, no version moved.
    assert head(app) == before
    assert topics_since(container, before) == []
    assert {s: version_of(container, s) for s in streams} == versions
    assert app.recorder.select_events(second_day) == []
    assert app.recorder.select_events(remembered) == []
    assert app.recorder.select_events(
        PaymentReference.create_id(store_id, "wechat_pay", f"WX-{store_id}")) == []
    # The aggregates as loaded say the same: still ready, still owing 800, day totals unchanged.
    wo = work_order(container, work_order_id)
    assert wo.status == "ready_for_settlement"
    assert wo.settlement is not None and wo.settlement["number"] == confirmed["number"]
    settlement = load(app, Settlement, settlement_id)
    assert settlement.status == "confirmed"
    assert settlement.outstanding("customer") == Decimal("800.00")
    assert [p["method"] for p in settlement.payments.values()] == ["cash"]
    assert load(app, CashierDay, first_day).totals == {"cash": Decimal("100.00")}
    # The read model, caught up, is row for row what it was.
    wait_for_projection(container)
    assert store_rows(container, store_id) == rows_before

    # The fault is gone: the same request (same key) settles, once.
    paid = settle()
    assert paid["settled"] is True and paid["status"] == "settled"
    assert paid["bills"]["customer"]["outstanding"] == "0.00"  # type: ignore[index]
    assert sorted(topics_since(container, before)) == SETTLING_SAVE
    assert work_order(container, work_order_id).status == "settled"
    # Asked again with the same key, it is replayed: the same payment, nothing new stored.
    settled_at = head(app)
    assert settle()["payment_id"] == paid["payment_id"]
    assert head(app) == settled_at
    assert topics_of(container, work_order_id).count("WorkOrder.Settled") == 1
    assert topics_of(container, settlement_id).count("Settlement.Settled") == 1
    assert load(app, CashierDay, second_day).totals == {"wechat_pay": Decimal("800.00")}

    # The read models show the visit settled and one settlement posting in the journal.
    wait_for_projection(container)
    wait_for_projection(container, "work_orders")
    with container.pool.connection() as conn:
        status = conn.execute("SELECT status FROM settlements WHERE id = %s",
                              (settlement_id,)).fetchone()
        bills = conn.execute("SELECT kind, total, paid FROM settlement_bills "
                             "WHERE settlement_id = %s", (settlement_id,)).fetchall()
        postings = conn.execute(
            """SELECT count(DISTINCT notification_id), sum(debit), sum(credit) FROM journal
               WHERE settlement_id = %s AND memo LIKE 'settlement %%'""",
            (settlement_id,)).fetchone()
        wo_row = conn.execute("SELECT status FROM wo_view WHERE id = %s",
                              (work_order_id,)).fetchone()
    assert status == ("settled",)
    assert bills == [("customer", Decimal("900.00"), Decimal("900.00"))]
    assert postings == (1, Decimal("900.00"), Decimal("900.00"))
    assert wo_row == ("settled",)


def test_a_fault_in_confirmation_does_not_consume_the_settlement_number(
        container: Container, owner_database_url: str, store_id: str) -> None:
    app = container.app
    settlements = container.settlements
    # Three drafted visits in a store that has not numbered a settlement yet.
    visits = [ready_visit(container, store_id) for _ in range(3)]
    drafts = [draft(container, store_id, wo) for wo in visits]
    failing_wo, failing = visits[0], drafts[0]
    counter_id = DocumentCounter.create_id("settlement", store_id, this_year())
    prefix = f"SET-{store_id}-{this_year()}-"

    with fault(owner_database_url, WorkOrder.SettlementConfirmed, failing_wo):
        # The very first confirmation of the store fails while its save is inserted ...
        before = head(app)
        settlement_version = version_of(container, failing)
        with pytest.raises(PersistenceError, match="injected fault"):
            settlements.confirm(req(store_id), failing)
        # ... so the counter was never even started, and the settlement did not move.
        assert head(app) == before
        assert app.recorder.select_events(counter_id) == []
        assert version_of(container, failing) == settlement_version
        assert work_order(container, failing_wo).settlement is None

        # The next visit gets the number the failed one would have had.
        assert settlements.confirm(req(store_id), drafts[1]).body["number"] == prefix + "000001"

        # A second failure, now that the counter exists, leaves it at 1.
        with pytest.raises(PersistenceError, match="injected fault"):
            settlements.confirm(req(store_id), failing)
        assert load(app, DocumentCounter, counter_id).last == 1
        assert settlements.confirm(req(store_id), drafts[2]).body["number"] == prefix + "000002"

    # Without the fault the visit confirms, with the next number: no gap, no duplicate.
    again = settlements.confirm(req(store_id), failing).body
    assert again["number"] == prefix + "000003"
    assert topics_of(container, counter_id) == ["DocumentCounter.Started"] + [
        "DocumentCounter.Taken"] * 3
    assert load(app, DocumentCounter, counter_id).last == 3
    assert load(app, Settlement, failing).numbers == [prefix + "000003"]
    assert work_order(container, failing_wo).settlement == {"id": failing,
                                                            "number": prefix + "000003"}
    wait_for_projection(container)
    with container.pool.connection() as conn:
        numbers = conn.execute("SELECT id, number FROM settlements WHERE store_id = %s "
                               "ORDER BY number", (store_id,)).fetchall()
    assert numbers == [(drafts[1], prefix + "000001"), (drafts[2], prefix + "000002"),
                       (failing, prefix + "000003")]
