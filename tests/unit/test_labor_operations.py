"""The labor-operation master, in memory: a manager registers a store's operations and changes
them with a reason; a labor line with an op code in the master takes its hours and rate where
the desk gives none, a price off the master is the manager's alone (with a reason, recorded on
the line), and a change of the master never touches a line already added."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.common import IllegalTransition, InvalidInput, NotFound, NotPermitted
from domain.integration_events import ROUTES
from domain.integration_payloads import PAYLOADS
from domain.labor_operation import LaborOperation, LaborOperationError
from domain.labor_operations import LaborOperations
from domain.work_order_lines import labor_line
from domain.work_orders import WorkOrders
from projections.claim_checks import over_flat_rate
from tests.unit.support import checked_in, events_stored, labor, request

RATES = {"customer": "300.00", "warranty": "180.00", "insurance": "260.00",
         "internal": "150.00"}


@pytest.fixture
def app() -> ServiceCore:
    return ServiceCore()


def register(app: ServiceCore, store_id: str = "S01", **overrides: Any) -> dict[str, Any]:
    return LaborOperations(app).register(request("manager"), **{
        "store_id": store_id, "op_code": "brk-pad", "description": "replace front pads",
        "flat_rate_hours_": "1.5", "rates": dict(RATES), **overrides}).body


def operation(app: ServiceCore, store_id: str = "S01", code: str = "BRK-PAD") -> Any:
    return app.repository.get(LaborOperation.create_id(store_id, code))


def add(wos: WorkOrders, wo_id: UUID, role: str = "advisor", **line: Any) -> dict[str, Any]:
    """A line of `line` only (no labor() defaults): what the desk sent."""
    body = wos.add_labor_line(request(role), wo_id, 1, {"op_code": "BRK-PAD", **line}).body
    return dict(wos.app.repository.get(wo_id).lines[body["line_id"]])


def test_an_operation_is_registered_per_store_with_its_op_code_as_kept(app: ServiceCore) -> None:
    assert register(app)["op_code"] == "BRK-PAD"
    kept = operation(app)
    assert (kept.store_id, kept.flat_rate_hours, kept.rates["warranty"]) == (
        "S01", Decimal("1.5"), Decimal("180.00"))
    assert (kept.skill, kept.level) == ("chassis", 1)  # what its prefix names for dispatch
    assert operation(app, code="BRK-PAD").active
    with pytest.raises(IllegalTransition):  # 409: once per store
        register(app, op_code="BRK-PAD")
    register(app, store_id="S02")  # the other store's master is its own
    register(app, op_code="ＸＹＺ　1", skill="engine", level=4)  # full width, as typed
    assert (operation(app, code="XYZ1").skill, operation(app, code="XYZ1").level) == (
        "engine", 4)
    register(app, op_code="WASH1")
    assert (operation(app, code="WASH1").skill, operation(app, code="WASH1").level) == (
        None, None)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"flat_rate_hours_": "0"}, "flat_rate_hours"),
    ({"flat_rate_hours_": "1.555"}, "flat_rate_hours"),
    ({"rates": {**RATES, "internal": None}}, "rates"),
    ({"rates": {**RATES, "goodwill": "1.00"}}, "rates"),
    ({"rates": {**RATES, "warranty": "180.001"}}, "rates.warranty"),
    ({"op_code": "BRK PAD/1"}, "op_code"),
    ({"description": "  "}, "description"),
    ({"skill": "chassis"}, "level"),
    ({"skill": "welding", "level": 2}, "skill"),
])
def test_bad_master_input_is_refused_naming_the_field_and_nothing_is_stored(
        app: ServiceCore, overrides: dict[str, Any], field: str) -> None:
    before = events_stored(app)
    with pytest.raises(InvalidInput) as refused:
        register(app, **overrides)
    assert refused.value.extra.get("field") == field
    assert events_stored(app) == before


def test_a_change_needs_a_reason_records_only_what_differs_and_nothing_is_a_409(
        app: ServiceCore) -> None:
    register(app)
    masters = LaborOperations(app)
    before = events_stored(app)
    with pytest.raises(InvalidInput) as refused:
        masters.change(request("manager"), "S01", "brk-pad", {"flat_rate_hours": "1.8"},
                       reason=" ")
    assert refused.value.extra.get("field") == "reason"
    assert events_stored(app) == before
    answer = masters.change(request("manager"), "S01", "brk-pad",
                            {"flat_rate_hours": "1.8", "rates": {"customer": "320.00",
                                                                 "warranty": "180.00"}},
                            reason="2026 labor time guide").body
    assert answer["changed"] == ["flat_rate_hours", "rates"]
    kept = operation(app)
    assert kept.rates == {**{k: Decimal(v) for k, v in RATES.items()},
                          "customer": Decimal("320.00")}
    history = list(app.events.get(kept.id))
    assert history[-1].changes == {"flat_rate_hours": Decimal("1.8"),
                                   "rates": {"customer": Decimal("320.00")}}
    assert history[-1].reason == "2026 labor time guide"
    assert history[-1].audit.role == "manager"
    with pytest.raises(LaborOperationError):
        masters.change(request("manager"), "S01", "BRK-PAD", {"flat_rate_hours": "1.80"},
                       reason="again")
    with pytest.raises(NotFound):
        masters.change(request("manager"), "S01", "NOPE", {"active": False}, reason="gone")


def test_a_line_takes_the_master_hours_rate_and_description_where_none_are_given(
        app: ServiceCore, wos: WorkOrders) -> None:
    register(app)
    wo_id = checked_in(wos)
    line = add(wos, wo_id, op_code="brk-pad")
    assert (line["op_code"], line["description"], line["hours"], line["unit_price"],
            line["gross"]) == ("BRK-PAD", "replace front pads", Decimal("1.5"),
                               Decimal("300.00"), Decimal("450.00"))
    assert line["labor_operation"] == {"flat_rate_hours": Decimal("1.5"),
                                       "hourly_rate": Decimal("300.00"), "skill": "chassis",
                                       "level": 1, "version": 1}
    assert line["price_override_reason"] is None
    warranty = add(wos, wo_id, pay_type="warranty", warranty={"coverage_code": "BASIC-3Y"},
                   description="pads under warranty", hours="1.50")
    assert (warranty["unit_price"], warranty["description"]) == (Decimal("180.00"),
                                                                 "pads under warranty")


def test_an_advisor_off_the_master_is_refused_and_nothing_is_stored(
        app: ServiceCore, wos: WorkOrders) -> None:
    register(app)
    wo_id = checked_in(wos)
    before = events_stored(app)
    for off in ({"hours": "2"}, {"hourly_rate": "280.00"}, {"hours": "1.5", "hourly_rate": "1"}):
        with pytest.raises(NotPermitted) as refused:
            add(wos, wo_id, **off)
        assert "manager" in str(refused.value)
    with pytest.raises(NotPermitted):  # a qc inspector (the foreman) does not price either
        wos.add_labor_line(request("qc_inspector"), wo_id, 1, {"op_code": "BRK-PAD",
                                                               "hours": "3"})
    assert events_stored(app) == before


def test_a_manager_overrides_with_a_reason_that_the_line_records(
        app: ServiceCore, wos: WorkOrders) -> None:
    register(app)
    wo_id = checked_in(wos)
    before = events_stored(app)
    with pytest.raises(InvalidInput) as refused:
        add(wos, wo_id, "manager", hours="2.5")
    assert refused.value.extra.get("field") == "price_override_reason"
    with pytest.raises(InvalidInput) as refused:  # nothing to override: no reason either
        add(wos, wo_id, "manager", hours="1.5", price_override_reason="just because")
    assert refused.value.extra.get("field") == "price_override_reason"
    assert events_stored(app) == before
    line = add(wos, wo_id, "manager", hours="2.5",
               price_override_reason="seized caliper bolts, OEM case 4411")
    assert (line["hours"], line["unit_price"], line["gross"]) == (
        Decimal("2.5"), Decimal("300.00"), Decimal("750.00"))
    assert line["price_override_reason"] == "seized caliper bolts, OEM case 4411"
    assert line["labor_operation"]["flat_rate_hours"] == Decimal("1.5")


def test_an_op_code_not_in_the_master_is_taken_as_typed_as_before(
        app: ServiceCore, wos: WorkOrders) -> None:
    register(app, store_id="S02")  # another store's master does not price S01's lines
    wo_id = checked_in(wos)
    body = wos.add_labor_line(request(), wo_id, 1, labor(op_code="BRK-PAD", hours="2"))
    line = app.repository.get(wo_id).lines[body.body["line_id"]]
    assert line == labor_line(body.body["line_id"], 1, labor(op_code="BRK-PAD", hours="2"))
    with pytest.raises(InvalidInput) as refused:
        wos.add_labor_line(request(), wo_id, 1, labor(price_override_reason="no master"))
    assert refused.value.extra.get("field") == "price_override_reason"
    with pytest.raises(InvalidInput) as refused:  # no master: hours are the desk's to give
        wos.add_labor_line(request(), wo_id, 1, {"op_code": "X1", "description": "x",
                                                 "hourly_rate": "1"})
    assert refused.value.extra.get("field") == "hours"


def test_a_change_of_the_master_never_rewrites_a_recorded_line(
        app: ServiceCore, wos: WorkOrders) -> None:
    register(app)
    wo_id = checked_in(wos)
    first = add(wos, wo_id)
    LaborOperations(app).change(request("manager"), "S01", "BRK-PAD",
                                {"flat_rate_hours": "2", "rates": {"customer": "350.00"}},
                                reason="new labor time guide")
    assert app.repository.get(wo_id).lines[first["line_id"]] == first
    second = add(wos, wo_id)
    assert (second["hours"], second["unit_price"], second["labor_operation"]["version"]) == (
        Decimal(2), Decimal("350.00"), 2)
    LaborOperations(app).change(request("manager"), "S01", "BRK-PAD", {"active": False},
                                reason="no longer sold")
    before = events_stored(app)
    with pytest.raises(LaborOperationError):  # withdrawn: 409
        add(wos, wo_id)
    assert events_stored(app) == before
    assert app.repository.get(wo_id).lines[second["line_id"]] == second


def test_repricing_a_master_line_off_its_rate_is_the_managers_with_a_reason(
        app: ServiceCore, wos: WorkOrders) -> None:
    register(app)
    wo_id = checked_in(wos)
    line_id = add(wos, wo_id)["line_id"]
    before = events_stored(app)
    with pytest.raises(NotPermitted):
        wos.reprice_line(request(), wo_id, line_id, unit_price="250.00", reason="loyal")
    with pytest.raises(InvalidInput):
        wos.reprice_line(request("manager"), wo_id, line_id, unit_price="250.00", reason=None)
    assert events_stored(app) == before
    wos.reprice_line(request(), wo_id, line_id, unit_price="300.00", reason=None)
    wos.reprice_line(request("manager"), wo_id, line_id, unit_price="250.00",
                     reason="loyal customer")
    assert app.repository.get(wo_id).lines[line_id]["unit_price"] == Decimal("250.00")


HOURS = st.sampled_from([None, "1.5", "1.50", "0.5", "2", "12.25"])
RATE = st.sampled_from([None, "300", "300.00", "299.99", "0", "450.00"])


@settings(max_examples=60, deadline=None)
@given(role=st.sampled_from(["advisor", "manager"]), hours=HOURS, rate=RATE,
       reason=st.sampled_from([None, "agreed with the customer"]))
def test_the_override_rule_holds_for_any_line(role: str, hours: str | None, rate: str | None,
                                              reason: str | None) -> None:
    """A line at the master's figures (given or left out) is taken from anyone, without a
    reason; one off them only from a manager with a reason; a refusal stores nothing."""
    app = ServiceCore()
    wos = WorkOrders(app)
    register(app)
    wo_id = checked_in(wos)
    want_hours = Decimal(hours) if hours else Decimal("1.5")
    want_rate = Decimal(rate) if rate else Decimal("300.00")
    off = (want_hours, want_rate) != (Decimal("1.5"), Decimal("300.00"))
    line = {k: v for k, v in (("hours", hours), ("hourly_rate", rate),
                              ("price_override_reason", reason)) if v is not None}
    before = events_stored(app)
    if off and role != "manager":
        with pytest.raises(NotPermitted):
            add(wos, wo_id, role, **line)
    elif off != bool(reason):
        with pytest.raises(InvalidInput):
            add(wos, wo_id, role, **line)
    else:
        added = add(wos, wo_id, role, **line)
        assert (added["hours"], added["unit_price"]) == (want_hours, want_rate)
        assert added["price_override_reason"] == reason
        assert added["labor_operation"]["flat_rate_hours"] == Decimal("1.5")
        return
    assert events_stored(app) == before


def test_claimed_hours_beyond_the_master_are_a_claim_problem() -> None:
    def labor_of(line_id: str, hours: str, master: str | None, ref: str | None = None,
                 ) -> dict[str, Any]:
        return {"line_id": line_id, "op_code": "BRK-PAD", "flat_rate_hours": Decimal(hours),
                "master_flat_rate_hours": None if master is None else Decimal(master),
                "price_override_reason": "seized bolts" if master else None,
                "authorization_ref": ref}

    job = {"job_no": 1, "labor": [labor_of("L1", "1.5", "1.5"), labor_of("L2", "2.5", None),
                                  labor_of("L3", "2.5", "1.5"), labor_of("L4", "1.0", "1.5"),
                                  labor_of("L5", "3", "1.5", ref="AUTH-1")]}
    found = over_flat_rate(job)
    assert [(p["line_id"], p["level"], p["missing"]) for p in found] == [
        ("L3", "error", ["authorization_ref"]), ("L5", "warning", [])]
    assert "1.5 h" in found[0]["detail"] and "seized bolts" in found[0]["detail"]


def test_the_master_is_published_on_the_workshop_topic_with_its_reasons(
        app: ServiceCore) -> None:
    register(app)
    LaborOperations(app).change(request("manager"), "S01", "BRK-PAD",
                                {"rates": {"warranty": "190.00"}}, reason="OEM rate 2026")
    registered, changed = app.events.get(LaborOperation.create_id("S01", "BRK-PAD"))
    assert ROUTES["LaborOperation"].topic == "workshop"
    assert PAYLOADS["LaborOperation"]["Registered"](registered)["rates"]["customer"] == Decimal(
        "300.00")
    assert PAYLOADS["LaborOperation"]["Changed"](changed) == {
        "changes": {"rates": {"warranty": Decimal("190.00")}}, "reason": "OEM rate 2026"}
