"""The work-order view folds each batch in memory from the stored JSON: one event per batch,
a few, or all of them in one batch give the same rows, and every doc equals the work order
folded from its domain events (`as_of`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.comeback_marks import ComebackMarks
from domain.completion_certificates import CompletionCertificates
from domain.pii import ERASED
from domain.warranty_evidence import WarrantyEvidence
from domain.work_order import WorkOrder
from projections.audit import work_order_as_of
from projections.base import Partition, lz4_available
from projections.work_order_doc import HANDLERS
from projections.work_order_doc_settlement import SETTLEMENT_EVENTS
from projections.work_orders import WorkOrdersView
from servicecore import cli
from servicecore.container import Container
from servicecore.partition_helpers import PARTITIONED_VIEWS, PartitionHelpers
from tests.conftest import JWT_SECRET
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.support import head
from tests.scratch_systems import ServedScratch, served_module
from workers.projection_rebuild import rebuild
from workers.projection_runner import ProjectionRunner

D = "2025-06-02"


def _every_kind_of_event(c: Container) -> tuple[Desk, UUID]:
    """Visits through every work-order event: lines added, repriced, declined, moved to a
    follow-on, withdrawn; a declined job closed; parts reserved, issued, returned; serials recorded and corrected,
    evidence added and withdrawn; a failed QC; a settlement settled with a discount, reversed
    and settled again, then a credit rejected, one approved and cash handed back; the insurer's assessment, changed once (its settlement's
    events, which the view reads too); delivery and the follow-up call that closes it; a cancelled
    visit whose customer is then erased; the car back, marked a comeback and the mark withdrawn. Returns the desk and the erased customer."""
    desk = Desk(c)
    w = c.work_orders
    pump = desk.part("water pump", "800.00", at(D, "08:00"))
    wiper = desk.part("wiper blade", "45.50", at(D, "08:01"))  # none in stock: back-ordered
    desk.receive(pump, 5, "400.00", at(D, "08:10"), supplier="Bosch Shanghai", doc="DN-1")
    vin = new_vin()
    wo = desk.open(vin, ["coolant leak", "wiper squeak"], at(D, "09:00"))
    desk.check_in(wo, 18_230, at(D, "09:10"))
    w.add_job(desk.r("advisor", at(D, "09:15")), wo, complaint="rattle at the back")
    desk.diagnose(wo, 1, "water pump seal failed", "replace water pump", ["P0217"],
                  at(D, "09:20"))
    l1 = desk.labor(wo, 1, "ENG-WP", "2.4", at(D, "09:30"))
    l2 = desk.part_line(wo, 1, pump, 2, at(D, "09:31"))
    l3 = desk.part_line(wo, 2, wiper, 1, at(D, "09:32"))
    l4 = desk.labor(wo, 3, "RATTLE", "0.5", at(D, "09:33"))
    l5 = desk.part_line(wo, 1, pump, 1, at(D, "09:34"))
    desk.approve(wo, [l1, l2, l3, l5], at(D, "09:40"), channel="phone")
    desk.approve(wo, [l4], at(D, "09:41"), decision="declined")
    w.reprice_line(desk.r("manager", at(D, "09:42")), wo, l1, unit_price="280.00",
                   reason="loyal customer")
    w.move_to_follow_on(desk.r("advisor", at(D, "09:43")), wo, line_ids=[l3],
                        reason="wiper blades on back order")
    w.withdraw_line(desk.r("advisor", at(D, "09:44")), wo, l5, reason="one pump is enough")
    w.close_job(desk.r("advisor", at(D, "09:45")), wo, 3, outcome="declined",
                reason="the customer lives with the rattle")
    desk.on_roster(desk.t1, at(D, "09:49"))
    w.dispatch(desk.r("manager", at(D, "09:50")), wo, 1, technician_id=desk.t1)
    w.issue_part(desk.r("parts_clerk", at(D, "09:55")), wo, l2)
    w.return_part(desk.r("parts_clerk", at(D, "09:56")), wo, l2, qty=1, reason="seal damaged")
    w.issue_part(desk.r("parts_clerk", at(D, "09:57")), wo, l2)
    # The pump's serials, corrected once; a photo of the leak, and one withdrawn.
    records = WarrantyEvidence(c.app)
    records.record_serials(desk.tech(desk.t1, at(D, "09:58")), wo, l2, fitted=["WP-01"],
                           removed=[{"serial": "WP-00", "disposition": "scrapped"}])
    records.record_serials(desk.r("advisor", at(D, "09:58")), wo, l2, fitted=["WP-01"],
                           removed=[{"serial": "WP-00", "disposition": "kept_for_return",
                                     "tag": "T-9"}], reason="kept for the OEM")
    for n in (1, 2):
        records.add_evidence(desk.tech(desk.t1, at(D, "09:59")), wo, line_id=l2, kind="photo",
                             sha256=f"{n:064x}", media_type="image/png", size=1000 * n,
                             uri=f"photos/{n}.png")
    records.withdraw_evidence(desk.r("advisor", at(D, "09:59")), wo, "E2", reason="blurred")
    w.clock_on(desk.tech(desk.t1, at(D, "10:00")), wo, 1)
    w.clock_off(desk.tech(desk.t1, at(D, "11:30")), wo, 1)
    w.complete_job(desk.tech(desk.t1, at(D, "11:35")), wo, 1)
    w.quality_check(desk.r("manager", at(D, "11:40")), wo, 1, passed=False, reason="loose bolt")
    w.clock_on(desk.tech(desk.t1, at(D, "11:45")), wo, 1)
    w.clock_off(desk.tech(desk.t1, at(D, "12:00")), wo, 1)
    w.complete_job(desk.tech(desk.t1, at(D, "12:05")), wo, 1)
    w.quality_check(desk.r("manager", at(D, "12:10")), wo, 1, passed=True)
    # A pump back once the visit is ready: it goes back in progress until the rest of the
    # line is withdrawn, then it is ready again.
    w.return_part(desk.r("parts_clerk", at(D, "12:20")), wo, l2, qty=1, reason="not needed")
    w.withdraw_line(desk.r("advisor", at(D, "12:25")), wo, l2, reason="customer keeps one")
    for approved, why in (("500.00", None), ("650.00", "supplementary assessment")):
        c.settlements.assess_insurance(
            desk.r("advisor", at(D, "12:30")), wo, insurer="PICC", claim_number="C-1",
            approved_amount=approved, deductible="100.00", reason=why)
    sid = desk.settle(wo, at(D, "14:00"), discount="22.00")
    c.settlements.reverse(desk.r("manager", at(D, "14:30")), sid, reason="wrong pay type")
    sid = desk.settle(wo, at(D, "15:00"))
    # A completion certificate (not required for this repair, recorded all the same).
    CompletionCertificates(c.app).certify(desk.r("manager", at(D, "15:05")), wo,
                                          cert_no="JG-1", inspector="qc-zhao")
    # Credits on the settled bill: one rejected, one approved; and cash handed back.
    s = c.settlements
    cash = next(iter(c.app.repository.get(sid).payments))  # 1,450.00, the first settling's
    for amount, approve, kind in (("30.00", False, "credit"), ("20.00", True, "credit"),
                                  ("10.00", True, "payment_return")):
        refund = s.request_refund(desk.r("cashier", at(D, "15:10")), sid, payment_id=cash,
                                  amount=amount, reason="goodwill", kind=kind).body
        s.decide_refund(desk.r("manager", at(D, "15:20")), sid, refund["refund_id"],
                        approve=approve, reason=None if approve else "not our delay")
    desk.deliver(wo, 18_236, at(D, "16:00"))
    follow_up = c.app.repository.get(wo).follow_up_id
    c.aftercare.complete(desk.r("advisor", at("2025-06-05", "10:00")), follow_up, csi=5)
    # The car back the same evening: marked a comeback of the visit, the mark withdrawn.
    back = desk.open(vin, ["coolant smell"], at(D, "17:00"))
    desk.check_in(back, 18_300, at(D, "17:02"))
    marks = ComebackMarks(c.app)
    marks.mark(desk.r("advisor", at(D, "17:05")), back, earlier_work_order_id=wo,
               reason="coolant again after the pump")
    marks.withdraw(desk.r("advisor", at(D, "17:10")), back, reason="a heater hose, not the pump")
    # Another customer's visit, cancelled; then the customer is erased.
    cancelled = desk.open(new_vin(), ["noise"], at(D, "10:00"), plate=None)
    w.cancel(desk.r("advisor", at(D, "10:05")), cancelled, reason="customer left")
    erased = c.app.repository.get(cancelled).customer_id
    c.customers.erase(desk.r("manager", at(D, "10:10")), erased, reason="customer asked (PIPL)")
    return desk, erased


def _fresh(c: Container, view: WorkOrdersView, suffix: str, position: int) -> None:
    with c.pool.connection() as conn, conn.transaction():
        for statement in view.drop(suffix):
            conn.execute(statement)
        view.create(conn, suffix)
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (view.name + suffix,))
        conn.execute("INSERT INTO projection_positions (name, position) VALUES (%s, %s)",
                     (view.name + suffix, position))


def _rows(c: Container, suffix: str) -> list[tuple[Any, ...]]:
    with c.pool.connection() as conn:
        return conn.execute(f"SELECT * FROM wo_view{suffix} ORDER BY id").fetchall()


# The view is rebuilt from event 0, in one process and in partitions: a system of the module's
# own (as the application's role, its projections followed, as the session's are).
served, container, client = served_module("sc_wo_view", projections=True)


@pytest.fixture(scope="module")
def built(container: Container) -> dict[str, Any]:
    """The history, projected from just before it in batches of 1, 3 and 500 events."""
    start = head(container.app)
    desk, erased = _every_kind_of_event(container)
    view = WorkOrdersView(container.app.personal_data)
    for size in (1, 3, 500):
        _fresh(container, view, f"_f{size}", start)
        ProjectionRunner(container.app, container.pool, view, batch_size=size,
                         suffix=f"_f{size}").catch_up()
    return {"desk": desk, "erased": erased, "start": start,
            "rows": {size: _rows(container, f"_f{size}") for size in (1, 3, 500)}}


def test_the_history_has_every_event_the_doc_is_folded_from(container: Container,
                                                            built: dict[str, Any]) -> None:
    with container.pool.connection() as conn:
        topics = {row[0] for row in conn.execute(
            "SELECT DISTINCT topic FROM servicecore_events WHERE notification_id > %s",
            (built["start"],))}
    seen = {f"{cls.__module__}:{cls.__qualname__}" for cls in (*HANDLERS, *SETTLEMENT_EVENTS)}
    assert seen <= topics, seen - topics
    assert "domain.customer:Customer.Erased" in topics


def test_one_event_per_batch_and_one_batch_for_all_give_the_same_rows(
        built: dict[str, Any]) -> None:
    rows = built["rows"]
    assert len(rows[1]) == 4  # the visit, its follow-on, the car back, the cancelled visit
    assert rows[1] == rows[3] == rows[500]


def test_every_doc_equals_its_work_order_folded_from_domain_events(
        container: Container, built: dict[str, Any]) -> None:
    end = datetime(2100, 1, 1, tzinfo=UTC)
    docs = {row[0]: row[-1] for row in built["rows"][500]}
    by_status = {doc["status"]: doc for doc in docs.values()}
    assert set(by_status) == {"closed", "cancelled", "opened", "checked_in"}, set(by_status)
    for work_order_id, doc in docs.items():
        folded = work_order_as_of(container.app, work_order_id, end)
        assert folded is not None
        if doc["customer"]["id"] == str(built["erased"]):
            # The view writes every personal field as erased; a fold opens what was sealed.
            assert doc["customer"] == {"id": str(built["erased"]), "name": ERASED,
                                       "phone": ERASED, "wechat_id": ERASED}
            assert folded["customer"]["name"] == ERASED
            folded["customer"] = doc["customer"]
        assert folded == doc
    closed = by_status["closed"]
    # what the settled bill charges: the discount went with the reversed settlement
    assert closed["totals_basis"] == "bills"
    assert (closed["totals"]["customer"]["total"], closed["totals"]["customer"]["discount"]) \
        == (closed["settlement"]["customer_total"], "0.00") == ("1472.00", "0.00")
    # less the approved 20.00 credit (not the rejected one, not the cash handed back)
    assert (closed["totals"]["customer"]["allowances"], closed["totals"]["customer"]["due"]) \
        == ("20.00", "1452.00")
    credited = work_order_as_of(container.app, UUID(closed["id"]), at(D, "15:15"))
    assert credited is not None and credited["totals"]["customer"]["due"] == "1472.00"
    # while the first settlement stood, 1,472.00 of approved work less its 22.00 discount;
    # before any draft, the estimate
    first = work_order_as_of(container.app, UUID(closed["id"]), at(D, "14:15"))
    assert first is not None and first["totals_basis"] == "bills"
    assert (first["totals"]["customer"]["total"], first["totals"]["customer"]["discount"]) \
        == ("1450.00", "22.00")
    estimated = work_order_as_of(container.app, UUID(closed["id"]), at(D, "13:00"))
    assert estimated is not None and estimated["totals_basis"] == "estimate"
    assert estimated["totals"]["customer"]["total"] == "1472.00"
    assert [line["status"] for line in closed["lines"]] == [
        "approved", "approved", "moved", "declined", "declined"]
    assert closed["lines"][0]["unit_price"] == "280.00"
    assert [i["qty"] for i in closed["lines"][1]["issues"]] == ["2", "-1", "1", "-1"]
    assert len(closed["reversed_settlements"]) == 1 and closed["settlement"]["settled"]
    assert by_status["opened"]["follow_on_of"]["number"] == closed["number"]
    assert closed["insurance_assessment"] == {
        "insurer": "PICC", "claim_number": "C-1", "report_number": None,
        "approved_amount": "650.00", "deductible": "100.00"}
    before = work_order_as_of(container.app, UUID(closed["id"]), at(D, "12:29"))
    assert before is not None and "insurance_assessment" not in before
    back = by_status["checked_in"]
    assert back["comeback_of"] is None
    (withdrawn,) = back["comeback_marks_withdrawn"]
    assert (withdrawn["earlier_number"], withdrawn["reason"], withdrawn["withdrawn"]["reason"]) \
        == (closed["number"], "coolant again after the pump", "a heater hose, not the pump")


def test_the_erasure_in_a_batch_reads_as_erased_whatever_the_batch(
        built: dict[str, Any]) -> None:
    for rows in built["rows"].values():
        erased = [row for row in rows if row[-1]["customer"]["id"] == str(built["erased"])]
        assert len(erased) == 1 and erased[0][-1]["status"] == "cancelled"
        assert erased[0][-1]["customer"]["name"] == ERASED


def test_an_unknown_transcoded_value_is_refused_not_guessed() -> None:
    from projections.work_order_doc_values import plain

    assert plain({"a": [{"_type_": "decimal_str", "_data_": "1.50"}]}) == {"a": ["1.50"]}
    assert plain({"_type_": "uuid_hex", "_data_": "7951ec93f5034d3fa8fac3e386e6e6c5"}) == (
        "7951ec93-f503-4d3f-a8fa-c3e386e6e6c5")
    with pytest.raises(ValueError, match="audit"):
        plain({"_type_": "audit", "_data_": {}})
    assert WorkOrder.Opened in HANDLERS


def test_a_table_made_anew_keeps_its_docs_lz4_compressed_where_the_server_can(
        container: Container, built: dict[str, Any]) -> None:
    with container.pool.connection() as conn:
        if not lz4_available(conn):
            pytest.skip("this PostgreSQL was built without lz4")
        row = conn.execute("SELECT attcompression FROM pg_attribute WHERE attname = 'doc' "
                           "AND attrelid = 'wo_view_f500'::regclass").fetchone()
        assert row == ("l",)
        # Made again on the table that exists (as at every start): left as it is.
        WorkOrdersView(container.app.personal_data).create(conn, "_f500")
        assert conn.execute("SELECT count(*) FROM wo_view_f500").fetchone() == (4,)


# -- a rebuild in hash partitions of the stream id, one process per partition -----------------

def _customer_in_both_partitions(desk: Desk, when: datetime) -> tuple[UUID, list[UUID]]:
    """A customer whose visits are in both of two partitions (stream ids are random: visits
    are opened until each partition holds one)."""
    first = desk.open(new_vin(), ["squeal"], when)
    customer = desk.c.app.repository.get(first).customer_id
    visits = [first]
    while len({Partition(0, 2).holds(v) for v in visits}) < 2:
        visits.append(desk.open(new_vin(), ["squeal"], when, customer_id=customer))
    return customer, visits


def _erase(desk: Desk, customer: UUID, when: datetime) -> None:
    desk.c.customers.erase(desk.r("manager", when), customer, reason="customer asked (PIPL)")


def _live_rows(c: Container) -> list[tuple[Any, ...]]:
    return _rows(c, "")


def _positions(c: Container, prefix: str) -> dict[str, int]:
    with c.pool.connection() as conn:
        return {str(name): int(position) for name, position in conn.execute(
            "SELECT name, position FROM projection_positions WHERE starts_with(name, %s)",
            (prefix,))}


def test_a_rebuild_in_two_processes_gives_the_rows_of_a_rebuild_in_one(
        container: Container, built: dict[str, Any]) -> None:
    """Two partitions, the second in a spawned process, stopped at one head; meanwhile new
    events come (a line, a check-in, new visits, an erasure of a customer with visits in both
    partitions): they are applied once, after that head. An erasure before the head (in the
    history) also touches visits in both partitions."""
    desk = Desk(container)
    view = next(v for v in container.views if v.name == "work_orders")
    erased_before, before = _customer_in_both_partitions(desk, at(D, "13:00"))
    _erase(desk, erased_before, at(D, "13:05"))
    during_customer, during_visits = _customer_in_both_partitions(desk, at(D, "13:10"))
    helpers = PartitionHelpers(2)
    fill = helpers.fill(container, view, 4)  # small batches: several per partition
    seen: dict[str, Any] = {}

    def fill_while_events_come(head: int) -> int:
        seen["head"] = head
        wo = during_visits[0]
        desk.check_in(wo, 20_000, at(D, "13:20"))
        desk.labor(wo, 1, "BRK-PAD", "1.0", at(D, "13:21"))
        desk.open(new_vin(), ["new visit during the rebuild"], at(D, "13:22"))
        _erase(desk, during_customer, at(D, "13:25"))
        seen["events"] = fill(head)
        seen["partitions"] = _positions(container, "work_orders_rebuild:")
        return int(seen["events"])

    try:
        parted = rebuild(container.app, container.pool, view, batch_size=5,
                         fill=fill_while_events_come)
    finally:
        helpers.close()
    partitioned_rows = _live_rows(container)
    reached = head(container.app)
    assert seen["head"] < reached
    # each partition stopped at the head; their positions are gone once it is taken on
    assert set(seen["partitions"]) == {"work_orders_rebuild:0/2", "work_orders_rebuild:1/2"}
    assert all(0 < p <= seen["head"] for p in seen["partitions"].values()), seen
    assert _positions(container, "work_orders_rebuild") == {}
    assert _positions(container, "work_orders")["work_orders"] == reached

    single = rebuild(container.app, container.pool, view, batch_size=5)
    assert single["events"] == parted["events"]  # every event of the log counted once
    assert partitioned_rows == _live_rows(container)
    docs = {row[0]: row[-1] for row in partitioned_rows}
    for customer, visits in ((erased_before, before), (during_customer, during_visits)):
        assert len({Partition(0, 2).holds(v) for v in visits}) == 2
        for visit in visits:
            assert docs[visit]["customer"] == {"id": str(customer), "name": ERASED,
                                               "phone": ERASED, "wechat_id": ERASED}
    assert [line["op_code"] for line in docs[during_visits[0]]["lines"]] == ["BRK-PAD"]


def test_an_erasure_in_a_partition_changes_only_that_partitions_rows(
        container: Container, built: dict[str, Any]) -> None:
    start = head(container.app)
    customer, visits = _customer_in_both_partitions(Desk(container), at(D, "14:00"))
    view = WorkOrdersView(container.app.personal_data)
    _fresh(container, view, "_pe", start)
    ProjectionRunner(container.app, container.pool, view, suffix="_pe").catch_up()
    with container.pool.connection() as conn, conn.transaction():
        view.in_partition(Partition(1, 2))._erase(conn, "wo_view_pe", customer, {})
        names = dict(conn.execute("SELECT id, customer_name FROM wo_view_pe").fetchall())
    assert set(names) == set(visits)
    for visit, name in names.items():
        assert (name == ERASED) == Partition(1, 2).holds(visit), (visit, name)


def test_the_command_rebuilds_in_partitions_and_prints_its_json_line(
        container: Container, built: dict[str, Any], served: ServedScratch, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", served.app_url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_JWT_SECRET", JWT_SECRET)
    tables, counted = [], set()
    for partitions in ("3", "1"):
        monkeypatch.setenv("SERVICECORE_PROJECTION_REBUILD_PARTITIONS", partitions)
        capsys.readouterr()
        assert cli.main(["projections", "rebuild", "--name", "work_orders"]) == 0
        out, err = capsys.readouterr()
        (line,) = out.splitlines()
        figures = json.loads(line)
        assert figures["projection"] == "work_orders"
        assert figures["partitions"] == int(partitions)
        counted.add(figures["events"])
        tables.append(_live_rows(container))
        # this process's partition draws its own progress (the others', their processes)
        assert ("projection work_orders 1/3 [" in err) == (partitions == "3")
    assert len(counted) == 1
    assert tables[0] == tables[1]


def test_every_projection_rebuilt_two_at_once_with_the_work_orders_in_two_partitions(
        container: Container, built: dict[str, Any], served: ServedScratch, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The work-order view's rebuild runs in a process of its own, which starts its helper."""
    monkeypatch.setenv("DATABASE_URL", served.app_url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("SERVICECORE_PROJECTION_REBUILD_PARALLELISM", "2")
    monkeypatch.setenv("SERVICECORE_PROJECTION_REBUILD_PARTITIONS", "2")
    capsys.readouterr()
    assert cli.main(["projections", "rebuild"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {line["projection"]: line for line in lines}
    assert set(by_name) == {view.name for view in container.views}
    assert by_name["work_orders"]["partitions"] == 2
    assert {line["partitions"] for name, line in by_name.items() if name != "work_orders"} == {1}


def test_the_helpers_are_started_for_the_views_rebuilt_in_partitions(
        container: Container) -> None:
    """`projections rebuild` starts the helpers before it builds its views (by name)."""
    assert PARTITIONED_VIEWS == {v.name for v in container.views if v.partitioned_rebuild}
