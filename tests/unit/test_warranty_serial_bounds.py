"""Bounds on a part line's serials, in memory: only ASCII serials and tags (checked before the
case is folded, so no letter of another script passes as an ASCII one), a bounded number of
corrections per line, and a stream stored before the bound still read whole."""

from __future__ import annotations

import pytest

from domain.application import ServiceCore
from domain.common import InvalidInput
from domain.warranty_evidence import WarrantyEvidence
from domain.work_order_evidence import MAX_SERIAL_CORRECTIONS, removed_part, serial_number
from projections.claim_checks import part_serials
from projections.evidence import Recorded
from tests.unit.support import events_stored, load, request
from tests.unit.test_warranty_evidence import warranty_part_issued

KEPT = {"serial": "INJ-0001", "disposition": "kept_for_return", "tag": "WT-77"}


@pytest.fixture
def app() -> ServiceCore:
    return ServiceCore()


@pytest.mark.parametrize("typed", [
    "ſN-1234",  # Latin small long s: upper case is S
    "ıNJ-0001",  # dotless i: upper case is I
    "\u212aAB-001",  # Kelvin sign: lower case is k
    "ﬁX-0001",  # the fi ligature: upper case is FI
    "straße-1",  # sharp s: upper case is SS
    "ＩＮＪ－ſ１",  # full-width, with a long s among them
    "INJ-٠١٢",  # Arabic-Indic digits
    "ΑΒΓ-123",  # Greek capitals that print as ABΓ
])
def test_a_serial_or_tag_of_other_letters_is_refused_before_its_case_is_folded(
        typed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        serial_number(typed)
    assert refused.value.extra["field"] == "serial"
    with pytest.raises(InvalidInput) as refused:
        removed_part({"serial": "OLD-0001", "disposition": "kept_for_return", "tag": typed})
    assert refused.value.extra["field"] == "tag"


def test_ascii_and_full_width_serials_are_kept_in_upper_case() -> None:
    assert serial_number(" inj-9001 ") == "INJ-9001"
    # as a Chinese input method types them: full-width letters, digits, '-', '.' and '/'
    assert serial_number("ｉｎｊ－９００１．Ａ／２") == "INJ-9001.A/2"
    assert removed_part({"serial": "old-1", "disposition": "kept_for_return",
                         "tag": "ｗｔ－７７"})["tag"] == "WT-77"


def test_the_long_s_serial_is_refused_through_the_command(app: ServiceCore) -> None:
    wo_id, line = warranty_part_issued(app)
    before = events_stored(app)
    with pytest.raises(InvalidInput):
        WarrantyEvidence(app).record_serials(request(), wo_id, line, fitted=["ſN-1234"],
                                             removed=[])
    assert events_stored(app) == before


def test_a_line_takes_a_bounded_number_of_corrections(app: ServiceCore) -> None:
    wo_id, line = warranty_part_issued(app)
    evidence = WarrantyEvidence(app)
    evidence.record_serials(request(), wo_id, line, fitted=["INJ-0"], removed=[KEPT])
    for n in range(1, MAX_SERIAL_CORRECTIONS + 1):
        evidence.record_serials(request(), wo_id, line, fitted=[f"INJ-{n}"], removed=[KEPT],
                                reason="serial misread")
    # The same serials again still store nothing, and are not refused.
    last = [f"INJ-{MAX_SERIAL_CORRECTIONS}"]
    assert evidence.record_serials(request(), wo_id, line, fitted=last, removed=[KEPT],
                                   reason="again").body["recorded"] is False
    before = events_stored(app)
    with pytest.raises(InvalidInput) as refused:
        evidence.record_serials(request(), wo_id, line, fitted=["INJ-X"], removed=[KEPT],
                                reason="serial misread once more")
    assert refused.value.extra["limit"] == MAX_SERIAL_CORRECTIONS
    assert refused.value.extra["line_id"] == line
    assert events_stored(app) == before
    assert load(app, wo_id).serials[line]["fitted"] == last


def _corrections(app: ServiceCore, count: int) -> list[Recorded]:
    """A line recorded `count` times, as a stream stored before corrections were bounded
    holds them (the event method applies them without the command's checks)."""
    wo_id, line = warranty_part_issued(app)
    wo = load(app, wo_id)
    audit = request().caller.audit("S01")
    for n in range(count):
        wo._serials_recorded(audit, line, [f"INJ-{n}"], [], "misread" if n else None, None)
    return [Recorded(n, wo_id, e.originator_version, e)
            for n, e in enumerate(wo.collect_events())]


def test_a_stream_stored_before_the_bound_reads_every_correction_in_order(
        app: ServiceCore) -> None:
    events = _corrections(app, 300)
    [read] = part_serials(events).values()
    assert read["fitted"] == ["INJ-299"]
    assert len(read["corrections"]) == 299
    assert [c["reason"] for c in read["corrections"]] == ["misread"] * 299
