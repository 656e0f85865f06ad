"""The digest of the claim package sent to the OEM: its canonical form (keys sorted, compact,
UTF-8, timestamps as the API answers them), what it leaves out (the customer's personal data,
the OEM's steps, the citations, what a past moment cannot know) and what it keeps; and the
(re)submission that records it only for the work order and settlement it was built from."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.oem_claim import OemClaim
from domain.oem_claims import PACKAGE_TRIES, OemClaims, PackageMoved, SentPackage
from domain.settlement import Settlement
from domain.work_order import WorkOrder
from projections.claim_digest import canonical, digest
from tests.unit.support import events_stored, stored_before
from tests.unit.test_claim_write_off import CLERK, settled_warranty_visit

PACKAGE: dict[str, Any] = {
    "work_order": {"number": "WO-S01-2026-000001", "status": "settled"},
    "customer": {"id": "c-1", "name": "王伟", "phone": "13800000002"},
    "dates": {"opened": "2026-05-01T10:00:00+08:00"},
    "totals": {"billed": "150.00"},
    "problems": [{"kind": "missing_3c", "level": "error"},
                 {"kind": "serial_conflict", "level": "error"}],
    "complete": False, "oem_claim": {"status": "not_submitted"},
    "evidence": [{"notification_id": 7}], "serial_conflicts": [{"serial": "S-1"}],
    "serial_history": [],
}


def test_the_canonical_form_is_sorted_compact_utf8_json_with_utc_timestamps() -> None:
    expected = (b'{"customer":{"id":"c-1"},"dates":{"opened":"2026-05-01T02:00:00Z"},'
                b'"problems":[{"kind":"missing_3c","level":"error"}],'
                b'"totals":{"billed":"150.00"},'
                b'"work_order":{"number":"WO-S01-2026-000001","status":"settled"}}')
    assert canonical(PACKAGE) == expected
    assert digest(PACKAGE) == hashlib.sha256(expected).hexdigest()
    # the same moment written as the API answers it gives the same digest
    answered = {**PACKAGE, "dates": {"opened": "2026-05-01T02:00:00Z"}}
    assert digest(answered) == digest(PACKAGE)


@pytest.mark.parametrize("path", [("customer", "name"), ("customer", "phone"), ("oem_claim",),
                                  ("evidence",), ("serial_conflicts",), ("complete",)])
def test_what_the_digest_leaves_out_does_not_change_it(path: tuple[str, ...]) -> None:
    changed = copy.deepcopy(PACKAGE)
    *parents, last = path
    target = changed
    for key in parents:
        target = target[key]
    target[last] = "[erased]"
    changed["problems"] = changed["problems"][:1]  # a serial conflict, not known as of then
    assert digest(changed) == digest(PACKAGE)


@pytest.mark.parametrize("path", [("customer", "id"), ("totals", "billed"),
                                  ("work_order", "status"), ("dates", "opened")])
def test_what_the_package_says_changes_the_digest(path: tuple[str, str]) -> None:
    changed = copy.deepcopy(PACKAGE)
    changed[path[0]][path[1]] = "2026-05-02T10:00:00+08:00"
    assert digest(changed) != digest(PACKAGE)


def _package(work_order_version: int | None, settlement_version: int | None) -> SentPackage:
    return SentPackage(digest="ab" * 32, position=41, at=datetime(2026, 5, 1, 2, tzinfo=UTC),
                       work_order_version=work_order_version,
                       settlement_version=settlement_version)


def test_a_submission_records_the_package_built_for_the_streams_it_decides_on() -> None:
    app, wo, sid = settled_warranty_visit(submitted=False)
    versions = (app.repository.get(wo).version, app.repository.get(sid).version)
    builds: list[SentPackage] = []

    def moved_once() -> SentPackage:  # the first build read the work order a version back
        builds.append(_package(versions[0] - (not builds), versions[1]))
        return builds[-1]

    OemClaims(app).submit(CLERK, wo, oem_claim_number="VW-1", package=moved_once)
    [submitted] = list(app.events.get(OemClaim.create_id(wo)))
    assert len(builds) == 2 and isinstance(submitted, OemClaim.Submitted)
    assert (submitted.package_digest, submitted.package_position, submitted.package_at) == (
        "ab" * 32, 41, datetime(2026, 5, 1, 2, tzinfo=UTC))


def test_a_package_built_from_other_versions_is_refused_and_nothing_is_stored() -> None:
    app, wo, sid = settled_warranty_visit(submitted=False)
    assert isinstance(app.repository.get(wo), WorkOrder)
    assert isinstance(app.repository.get(sid), Settlement)
    before, builds = events_stored(app), []

    def stale() -> SentPackage:
        builds.append(_package(app.repository.get(wo).version, None))
        return builds[-1]

    with pytest.raises(PackageMoved):
        OemClaims(app).submit(CLERK, wo, oem_claim_number="VW-1", package=stale)
    assert len(builds) == PACKAGE_TRIES and events_stored(app) == before


def test_a_submission_stored_before_digests_were_recorded_reads_them_as_null() -> None:
    app, wo, _ = settled_warranty_visit()
    OemClaims(app).reject(CLERK, wo, reason_code=None, reason="photo missing")
    OemClaims(app).resubmit(CLERK, wo, changes="photo added", package=None)
    for event in app.events.get(OemClaim.create_id(wo)):
        if isinstance(event, OemClaim.Submitted | OemClaim.Resubmitted):
            old = stored_before(app, event, 1, "package_digest", "package_position",
                                "package_at")
            assert (old.package_digest, old.package_position, old.package_at) == (
                None, None, None)
