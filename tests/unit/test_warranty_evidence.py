"""Part serials and evidence references on a work order, in memory: what is recorded, what is
refused (and stores nothing), corrections with a reason, and the serial count bound by what
was issued whatever the clerk and the desk do (a hypothesis state machine)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.application import ServiceCore
from domain.common import DomainError, InvalidInput, NotFound
from domain.integration_payloads import PAYLOADS
from domain.warranty_evidence import WarrantyEvidence
from domain.work_order import WorkOrder
from domain.work_order_evidence import MAX_EVIDENCE, serial_number
from domain.work_order_state import WorkOrderError
from domain.work_orders import WorkOrders
from tests.unit.support import (
    approved_job,
    checked_in,
    clerk,
    events_stored,
    issue_parts,
    load,
    part,
    request,
    stock_part,
)

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
KEPT = {"serial": "inj-0001", "disposition": "kept_for_return", "tag": "WT-77"}


def warranty_part_issued(app: ServiceCore, qty: str = "2") -> tuple[UUID, str]:
    """A checked-in visit with a warranty part line of `qty` injectors, approved and issued."""
    wos = WorkOrders(app)
    stock_part(app, qty="10")
    wo_id = checked_in(wos)
    approved_job(wos, wo_id)
    line_id = str(wos.add_part_line(request(), wo_id, 1, part(
        qty=qty, pay_type="warranty", warranty={"coverage_code": "C-22"})).body["line_id"])
    wos.authorize_line(request(), wo_id, line_id, decision="approved", channel="phone")
    issue_parts(wos, wo_id, line_id)
    return wo_id, line_id


@pytest.fixture
def app() -> ServiceCore:
    return ServiceCore()


def test_serials_are_recorded_normalised_and_corrected_only_with_a_reason(
        app: ServiceCore) -> None:
    wo_id, line = warranty_part_issued(app)
    evidence = WarrantyEvidence(app)
    first = evidence.record_serials(request("technician"), wo_id, line, fitted=[" inj-9001 "],
                                    removed=[KEPT]).body
    assert first["recorded"] is True and first["fitted"] == ["INJ-9001"]
    assert first["removed"] == [{"serial": "INJ-0001", "disposition": "kept_for_return",
                                 "tag": "WT-77"}]
    # The same again stores nothing; something else without a reason is 409 naming what is there.
    before = events_stored(app)
    again = evidence.record_serials(request(), wo_id, line, fitted=["INJ-9001"], removed=[KEPT])
    assert again.body["recorded"] is False and events_stored(app) == before
    with pytest.raises(WorkOrderError) as refused:
        evidence.record_serials(request(), wo_id, line, fitted=["INJ-9002"], removed=[KEPT])
    assert refused.value.extra["recorded"]["fitted"] == ["INJ-9001"]
    assert events_stored(app) == before
    # With a reason it is a correction: a second event naming what it replaces.
    evidence.record_serials(request(), wo_id, line, fitted=["INJ-9002"], removed=[KEPT],
                            reason="typo on the fitted serial")
    wo = load(app, wo_id)
    assert wo.serials[line]["fitted"] == ["INJ-9002"]
    stored = [e for e in app.repository.event_store.get(wo_id)
              if isinstance(e, WorkOrder.SerialsRecorded)]
    assert [(e.fitted, e.reason) for e in stored] == [
        (["INJ-9001"], None), (["INJ-9002"], "typo on the fitted serial")]
    assert stored[1].previous == {"fitted": ["INJ-9001"], "removed": [
        {"serial": "INJ-0001", "disposition": "kept_for_return", "tag": "WT-77"}]}


@pytest.mark.parametrize(("fitted", "removed", "field"), [
    ([], [], "fitted"),  # nothing given
    (["AB"], [], "serial"),  # too short
    (["A" * 41], [], "serial"),  # too long
    (["INJ 01"], [], "serial"),  # a space
    (["-INJ01"], [], "serial"),  # must begin with a letter or digit
    (["序列号123"], [], "serial"),  # not letters and digits of the serial alphabet
    (["INJ-1", "inj-1"], [], "serial"),  # the same serial twice (case aside)
    (["INJ-1"], [{"serial": "INJ-1", "disposition": "scrapped"}], "serial"),  # fitted = removed
    (["INJ-1", "INJ-2", "INJ-3"], [], "fitted"),  # 3 fitted, 2 issued
    ([], [{"serial": "OLD-1", "disposition": "kept_for_return"}], "tag"),  # kept: tag needed
    ([], [{"serial": "OLD-1", "disposition": "scrapped", "tag": "WT-1"}], "tag"),
    ([], [{"serial": "OLD-1", "disposition": "lost"}], "disposition"),
])
def test_bad_serials_are_refused_and_store_nothing(app: ServiceCore, fitted: list[str],
                                                   removed: list[dict[str, Any]],
                                                   field: str | None) -> None:
    wo_id, line = warranty_part_issued(app)
    before = events_stored(app)
    with pytest.raises(InvalidInput) as refused:
        WarrantyEvidence(app).record_serials(request(), wo_id, line, fitted=fitted,
                                             removed=removed)
    assert refused.value.extra.get("field") == field
    assert events_stored(app) == before


def test_a_serial_belongs_to_one_line_and_returns_keep_the_count(app: ServiceCore) -> None:
    wo_id, line = warranty_part_issued(app)
    wos, evidence = WorkOrders(app), WarrantyEvidence(app)
    second = str(wos.add_part_line(request(), wo_id, 1, part(qty="1")).body["line_id"])
    wos.authorize_line(request(), wo_id, second, decision="approved", channel="phone")
    issue_parts(wos, wo_id, second)
    evidence.record_serials(request(), wo_id, line, fitted=["INJ-1", "INJ-2"], removed=[])
    with pytest.raises(InvalidInput) as clash:
        evidence.record_serials(request(), wo_id, second, fitted=["INJ-2"], removed=[])
    assert clash.value.extra["line_id"] == line
    # Returning a part would leave 1 issued against 2 recorded serials: refused until corrected.
    with pytest.raises(WorkOrderError):
        wos.return_part(clerk(), wo_id, line, qty="1", reason="one was not needed")
    evidence.record_serials(request(), wo_id, line, fitted=["INJ-1"], removed=[],
                            reason="one injector went back to stock")
    wos.return_part(clerk(), wo_id, line, qty="1", reason="one was not needed")
    assert load(app, wo_id).lines[line]["issued_qty"] == Decimal(1)
    # Only part lines carry serials; a line the work order lacks is 404.
    with pytest.raises(InvalidInput):
        evidence.record_serials(request(), wo_id, "L1", fitted=["X-100"], removed=[])
    with pytest.raises(NotFound):
        evidence.record_serials(request(), wo_id, "L99", fitted=["X-100"], removed=[])


def test_evidence_is_a_checked_reference_bounded_per_work_order(app: ServiceCore) -> None:
    wo_id, line = warranty_part_issued(app)
    evidence = WarrantyEvidence(app)
    photo = {"kind": "photo", "sha256": SHA.upper(), "media_type": "Image/JPEG",
             "size": 2_400_000, "uri": "s3://evidence/S01/inj.jpg"}
    added = evidence.add_evidence(request("technician"), wo_id, line_id=line, **photo).body
    assert (added["evidence_id"], added["job_no"]) == ("E1", 1)
    wo = load(app, wo_id)
    assert wo.evidence[0]["sha256"] == SHA  # kept in lower case
    before = events_stored(app)
    for bad in ({"sha256": "abc"}, {"media_type": "jpeg"}, {"media_type": "application/pdf"},
                {"size": 0}, {"size": 200 * 1024 * 1024}, {"uri": "has a space"},
                {"kind": "video"}, {"caption": "x" * 501}):
        with pytest.raises(InvalidInput):
            evidence.add_evidence(request(), wo_id, line_id=line, **(photo | bad))
    with pytest.raises(InvalidInput):  # neither job nor line; a job the visit lacks
        evidence.add_evidence(request(), wo_id, **photo)
    with pytest.raises(InvalidInput):
        evidence.add_evidence(request(), wo_id, job_no=7, **photo)
    with pytest.raises(WorkOrderError):  # the same file on the same line again
        evidence.add_evidence(request(), wo_id, line_id=line, **photo)
    assert events_stored(app) == before
    # The same file on the job itself is another reference; withdrawn needs a reason.
    evidence.add_evidence(request(), wo_id, job_no=1, **photo)
    with pytest.raises(InvalidInput):
        evidence.withdraw_evidence(request(), wo_id, "E2", reason="")
    with pytest.raises(NotFound):
        evidence.withdraw_evidence(request(), wo_id, "E9", reason="wrong car")
    evidence.withdraw_evidence(request(), wo_id, "E2", reason="same photo twice")
    with pytest.raises(WorkOrderError):
        evidence.withdraw_evidence(request(), wo_id, "E2", reason="same photo twice")
    assert [e["withdrawn"] for e in load(app, wo_id).evidence] == [False, True]


@pytest.mark.parametrize("uri", [
    "s3://evidence/S01/inj\u202egpj.exe",  # shown as …/injexe.jpg
    "s3://evidence/S01/\u200binj.jpg",  # a zero-width space
    "s3://evidence/S01/inj.jpg\u2066", "s3://evidence\u00a0S01/inj.jpg",
    "s3://evidence/S01/inj\u2028.jpg", "s3://evidence/S01/inj.jpg\ufeff"])
def test_a_location_with_invisible_or_direction_characters_is_refused(
        app: ServiceCore, uri: str) -> None:
    """The claim shows the OEM where each file is kept: what it reads is what it fetches."""
    wo_id, line = warranty_part_issued(app)
    before = events_stored(app)
    with pytest.raises(InvalidInput, match="uri"):
        WarrantyEvidence(app).add_evidence(
            request("technician"), wo_id, line_id=line, kind="photo", sha256=SHA,
            media_type="image/jpeg", size=1000, uri=uri)
    assert events_stored(app) == before
    # letters of any script are a location's own
    WarrantyEvidence(app).add_evidence(request("technician"), wo_id, line_id=line,
                                       kind="photo", sha256=SHA, media_type="image/jpeg",
                                       size=1000, uri="s3://证据/S01/喷油嘴.jpg")


def test_a_work_order_holds_a_bounded_number_of_references(app: ServiceCore) -> None:
    wo_id, _ = warranty_part_issued(app)
    wo = load(app, wo_id)
    audit = request().caller.audit("S01")
    for n in range(MAX_EVIDENCE):
        wo.add_evidence(audit, job_no=1, line_id=None, kind="other", sha256=f"{n:064x}",
                        media_type="application/pdf", size=10, uri=f"key/{n}", caption=None)
    with pytest.raises(InvalidInput) as refused:
        wo.add_evidence(audit, job_no=1, line_id=None, kind="other", sha256="f" * 64,
                        media_type="application/pdf", size=10, uri="key/x", caption=None)
    assert refused.value.extra["limit"] == MAX_EVIDENCE


def test_serial_numbers_keep_their_alphabet() -> None:
    assert serial_number(" 06a-906/032.b ") == "06A-906/032.B"
    for bad in ("", "ab", "a b c", "abc-", "x\x00y", None):
        with pytest.raises(InvalidInput):
            serial_number(bad)


SERIALS = st.lists(st.sampled_from(["S-1", "S-2", "S-3", "S-4", "S-5", "bad serial"]),
                   max_size=5)


class SerialsAgainstIssues(RuleBasedStateMachine):
    """Issues, returns and serial records in any order: a line's recorded serials never
    outnumber what is issued to it, no serial is on it twice, and a refusal stores nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.app = ServiceCore()
        self.wo_id, self.line = warranty_part_issued(self.app, qty="4")
        self.wos, self.evidence = WorkOrders(self.app), WarrantyEvidence(self.app)

    def _tried(self, command: Any) -> None:
        before = events_stored(self.app)
        try:
            command()
        except DomainError:
            assert events_stored(self.app) == before

    @rule(qty=st.integers(1, 4))
    def return_parts(self, qty: int) -> None:
        self._tried(lambda: self.wos.return_part(clerk(), self.wo_id, self.line, qty=qty,
                                                 reason="not needed after all"))

    @rule(qty=st.integers(1, 4))
    def issue(self, qty: int) -> None:
        self._tried(lambda: issue_parts(self.wos, self.wo_id, self.line, qty=qty))

    @rule(fitted=SERIALS, removed=SERIALS, reason=st.sampled_from([None, "serial misread"]))
    def record(self, fitted: list[str], removed: list[str], reason: str | None) -> None:
        gone = [{"serial": s.replace("S-", "R-"), "disposition": "scrapped"} for s in removed]
        self._tried(lambda: self.evidence.record_serials(
            request(), self.wo_id, self.line, fitted=fitted, removed=gone, reason=reason))

    @invariant()
    def serials_fit_the_issue(self) -> None:
        wo = load(self.app, self.wo_id)
        recorded = wo.serials.get(self.line, {"fitted": [], "removed": []})
        issued = wo.lines[self.line]["issued_qty"]
        assert len(recorded["fitted"]) <= issued and len(recorded["removed"]) <= issued
        every = [*recorded["fitted"], *(r["serial"] for r in recorded["removed"])]
        assert len(every) == len(set(every))


SerialsAgainstIssues.TestCase.settings = settings(max_examples=40, stateful_step_count=15,
                                                  deadline=None)
test_serials_never_outnumber_the_issued_parts = SerialsAgainstIssues.TestCase


def test_the_integration_events_carry_serials_and_a_fingerprint_not_a_location(
        app: ServiceCore) -> None:
    wo_id, line = warranty_part_issued(app)
    evidence = WarrantyEvidence(app)
    evidence.record_serials(request(), wo_id, line, fitted=["INJ-1"], removed=[KEPT])
    evidence.add_evidence(request(), wo_id, line_id=line, kind="photo", sha256=SHA,
                          media_type="image/jpeg", size=10, uri="s3://bucket/private/1.jpg",
                          caption="陈静's car")
    stored = list(app.repository.event_store.get(wo_id))
    [serials] = [e for e in stored if isinstance(e, WorkOrder.SerialsRecorded)]
    [added] = [e for e in stored if isinstance(e, WorkOrder.EvidenceAdded)]
    assert PAYLOADS["WorkOrder"]["SerialsRecorded"](serials)["removed"] == [
        {"serial": "INJ-0001", "disposition": "kept_for_return", "tag": "WT-77"}]
    assert PAYLOADS["WorkOrder"]["EvidenceAdded"](added) == {
        "evidence_id": "E1", "job_no": 1, "line_id": line, "kind": "photo", "sha256": SHA,
        "media_type": "image/jpeg", "size": 10}
