"""A part line's serials over HTTP at their bounds: a serial typed with a letter of another
script is refused (problem+json) while a full-width one is kept as ASCII, and a line's
corrections stop at the limit, which the refusal names; the claim package shows every one."""

from __future__ import annotations

from fastapi.testclient import TestClient

from domain.work_order_evidence import MAX_SERIAL_CORRECTIONS
from tests.e2e.test_money_api import Auth
from tests.e2e.test_parts_api import get, post
from tests.e2e.test_warranty_evidence_api import injector_visit, problem

KEPT = {"serial": "INJ-0001", "disposition": "kept_for_return", "tag": "WT-2026-0117"}


def test_serials_are_ascii_and_corrections_are_bounded(client: TestClient, auth: Auth,
                                                       store_id: str) -> None:
    tech = auth("technician", "tech-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wo, wo_id, line = injector_visit(client, auth, store_id)
    serials = f"{wo}/lines/{line}/serials"
    # A Latin long s upper-cases to S: refused, as is a tag of Cyrillic letters.
    long_s = problem(client.post(serials, headers=tech, json={"fitted": ["ſN-1234"]}), 422)
    assert long_s["field"] == "serial"
    cyrillic = problem(client.post(serials, headers=tech, json={"removed": [
        {**KEPT, "tag": "WТ-2026-0117"}]}), 422)  # the Т is Cyrillic
    assert cyrillic["field"] == "tag"
    # Full-width, as a Chinese input method types it: kept as ASCII.
    first = post(client, serials, tech, {"fitted": ["ｓｎ－１２３４"], "removed": [KEPT]})
    assert first["fitted"] == ["SN-1234"]
    # The corrections up to the limit are recorded; one more is 422 naming the limit.
    for n in range(1, MAX_SERIAL_CORRECTIONS + 1):
        last = post(client, serials, tech, {"fitted": [f"SN-{n:04}"], "removed": [KEPT],
                                     "reason": "serial misread"})
    refused = problem(client.post(serials, headers=tech, json={
        "fitted": ["SN-9999"], "removed": [KEPT], "reason": "serial misread again"}), 422)
    assert (refused["limit"], refused["line_id"]) == (MAX_SERIAL_CORRECTIONS, line)
    assert str(MAX_SERIAL_CORRECTIONS) in refused["detail"]
    # Nothing of the refused record shows; the claim lists every correction.
    view = get(client, wo, tech, wait_for=last["notification_id"])
    shown = next(ln for ln in view["lines"] if ln["line_id"] == line)["serials"]
    assert shown["fitted"] == [f"SN-{MAX_SERIAL_CORRECTIONS:04}"]
    assert shown["corrections"] == MAX_SERIAL_CORRECTIONS
    claim = get(client, f"/work-orders/{wo_id}/warranty-claim", auditor)
    part = claim["jobs"][0]["parts"][0]["serials"]
    assert len(part["corrections"]) == MAX_SERIAL_CORRECTIONS
    assert part["fitted"] == [f"SN-{MAX_SERIAL_CORRECTIONS:04}"]
