"""Failed-part custody (旧件管理) over HTTP: the two injectors a warranty job replaced are tagged
and kept, one requested by the OEM, shipped and received, the other scrapped by a manager
without the OEM's instruction; steps out of order are 409 naming the custody status, bad input
422, other roles 403, none of them storing anything; the claim package shows each part's tags
and lists what the OEM would charge back; the overdue list names the untagged line and the
tags held too long; the view rebuilt from the events equals the live one."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.desk_clock import today
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.e2e.test_warranty_evidence_api import injector_visit
from tests.integration.audit_support import new_vin
from tests.integration.test_parts_support import wait_for_projection
from tests.scratch_systems import served_module

served, container, client = served_module("sc_failed_parts", projections=True)


def _refused(client: TestClient, url: str, headers: dict[str, str], body: Any,
             status: int) -> dict[str, Any]:
    before = head(client)
    answer = client.post(url, headers=headers, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert head(client) == before  # nothing stored
    return answer.json()  # type: ignore[no-any-return]


def _claim(client: TestClient, wo_id: str, headers: dict[str, str]) -> dict[str, Any]:
    return get(client, f"/work-orders/{wo_id}/warranty-claim",  # type: ignore[no-any-return]
               headers, wait_for=head(client))


def _custody(claim: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in claim["problems"] if p["kind"] == "custody"]


def test_two_failed_injectors_from_tag_to_the_oem_and_to_scrap(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    warranty = auth("advisor", "warranty-admin", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    _, wo_id, line = injector_visit(client, auth, store_id, vin=new_vin())
    # Issued and not tagged: the package warns that the failed part is not in custody.
    claim = _claim(client, wo_id, auditor)
    assert claim["jobs"][0]["parts"][0]["custody"] == []
    assert claim["jobs"][0]["causal_part"]["custody"] == []
    [untagged] = _custody(claim)
    assert (untagged["level"], untagged["line_id"], untagged["missing"]) == (
        "warning", line, ["tag"])
    # Refused, storing nothing: a tag with a space, a labor line, a line the visit lacks,
    # a cashier.
    tag = {"work_order_id": wo_id, "line_id": line, "tag_number": "wt-0117",
           "location": "warranty cage B2"}
    bad = _refused(client, "/failed-parts", clerk, {**tag, "tag_number": "WT 0117"}, 422)
    assert bad["field"] == "tag_number"
    labor = _refused(client, "/failed-parts", clerk, {**tag, "line_id": "L2"}, 422)
    assert labor["field"] == "line_id"
    assert _refused(client, "/failed-parts", clerk, {**tag, "line_id": "L9"},
                    404)["line_id"] == "L9"
    _refused(client, "/failed-parts", auth("cashier", "cash", [store_id]), tag, 403)
    # The parts clerk tags the first injector; a retry with the same key stores nothing twice.
    keyed = {**clerk, "Idempotency-Key": "tag-" + wo_id}
    first = client.post("/failed-parts", headers=keyed, json=tag)
    assert first.status_code == 201, first.text
    held = first.json()
    assert (held["tag_number"], held["custody_status"], held["part_number"], held["causal"],
            held["location"]) == ("WT-0117", "held", claim["jobs"][0]["parts"][0][
                "part_number"], False, "warranty cage B2")
    again = client.post("/failed-parts", headers=keyed, json=tag)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == held["id"]
    # A tag number is the store's once: the same number again is 409.
    taken = _refused(client, "/failed-parts", warranty, {**tag, "tag_number": "WT-0117"}, 409)
    assert taken["tag_number"] == "WT-0117" and taken["custody_status"] == "held"
    other = post(client, "/failed-parts", warranty, {**tag, "tag_number": "WT-0118",
                                                     "causal": True}, 201)
    part = f"/failed-parts/{held['id']}"
    # Held: not shipped before the OEM asks; moved, then requested, shipped, received.
    early = _refused(client, f"{part}/shipment", clerk,
                     {"shipment_ref": "SF1", "shipped_on": today().isoformat()}, 409)
    assert early["custody_status"] == "held"
    moved = post(client, f"{part}/move", clerk, {"location": "returns bay 3", "note": "full"})
    assert moved["location"] == "returns bay 3"
    # A desk holding the tag's old version (If-Match) is told it moved on.
    stale = _refused(client, f"{part}/move", {**clerk, "If-Match": '"1"'},
                     {"location": "cage A1"}, 412)
    assert stale["current"] == moved["version"]
    post(client, f"{part}/return-request", warranty, {"request_ref": "RR-2026-0042"})
    shipped = post(client, f"{part}/shipment", clerk,
                   {"shipment_ref": "SF1234567890", "shipped_on": today().isoformat()})
    assert shipped["custody_status"] == "shipped"
    # Shipped never goes back: no move, no new request, no scrap; a clerk cannot mark it lost.
    for step, body in (("move", {"location": "cage"}), ("return-request",
                                                         {"request_ref": "RR-2"}),
                       ("scrap", {"instruction_ref": "VW-S-1"})):
        assert _refused(client, f"{part}/{step}", clerk, body,
                        409)["custody_status"] == "shipped"
    _refused(client, f"{part}/loss", clerk, {"reason": "not found"}, 403)
    received = post(client, f"{part}/receipt", warranty, {"receipt_ref": "VW-RCV-7781"})
    assert received["custody_status"] == "received_by_oem"
    assert _refused(client, f"{part}/loss", manager, {"reason": "not found"},
                    409)["custody_status"] == "received_by_oem"
    # The second: a clerk may not scrap it without the OEM's instruction, a manager may.
    second = f"/failed-parts/{other['id']}"
    _refused(client, f"{second}/scrap", clerk, {"reason": "housing cracked"}, 403)
    assert _refused(client, f"{second}/scrap", manager, {}, 422)["field"] == "reason"
    post(client, f"{second}/scrap", manager, {"reason": "housing cracked, leaking fuel"})
    # The package: each tag with its custody; the scrap without instruction is an error.
    claim = _claim(client, wo_id, auditor)
    tags = {t["tag_number"]: t for t in claim["jobs"][0]["parts"][0]["custody"]}
    assert {n: (t["custody_status"], t["causal"]) for n, t in tags.items()} == {
        "WT-0117": ("received_by_oem", False), "WT-0118": ("scrapped", True)}
    assert tags["WT-0117"]["shipment_ref"] == "SF1234567890"
    assert tags["WT-0117"]["tagged"]["by"] == "clerk-" + store_id
    assert len(claim["jobs"][0]["causal_part"]["custody"]) == 2
    [scrapped] = _custody(claim)
    assert (scrapped["level"], scrapped["tag_number"], scrapped["custody_status"]) == (
        "error", "WT-0118", "scrapped")
    assert claim["complete"] is False
    page = client.get(f"/work-orders/{wo_id}/warranty-claim?format=html", headers=auditor)
    assert "WT-0117 (received by oem, returns bay 3)" in page.text
    # The list: by custody status, in the caller's stores only.
    answer = client.get("/failed-parts", headers=warranty, params={
        "store_id": store_id, "status": "scrapped", "wait_for": head(client)})
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert [(t["tag_number"], t["reason"], t["changed_by"]) for t in listed["items"]] == [
        ("WT-0118", "housing cracked, leaking fuel", "mgr-" + store_id)]
    elsewhere = auth("parts_clerk", "far", [store_id + "X"])
    assert get(client, "/failed-parts", elsewhere, wait_for=head(client))["total"] == 0
    assert client.get("/failed-parts?status=gone", headers=clerk).status_code == 422


def test_the_overdue_list_names_untagged_lines_and_tags_held_too_long(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    _, untagged_wo, _ = injector_visit(client, auth, store_id, vin=new_vin())
    _, held_wo, held_line = injector_visit(client, auth, store_id, vin=new_vin())
    held = post(client, "/failed-parts", clerk, {
        "work_order_id": held_wo, "line_id": held_line, "tag_number": "WT-" + held_wo[:8],
        "location": "cage"}, 201)

    def listed(app: TestClient) -> list[tuple[str, str, str | None]]:
        found = get(app, "/audit/failed-parts/overdue", auditor, store_id=store_id,
                    wait_for=head(client), limit=500)["items"]
        return [(r["kind"], r["work_order_id"], r["tag_number"]) for r in found
                if r["work_order_id"] in (untagged_wo, held_wo)]

    # Within the windows (the defaults: days), nothing of these visits is overdue.
    assert listed(client) == []
    # With no window at all, the untagged line is, and the tag still held.
    strict = dataclasses.replace(container.api_context(), failed_part_tag_days=0,
                                 failed_part_retention_days=0)
    with TestClient(create_app(strict)) as now:
        assert sorted(listed(now)) == sorted([
            ("untagged", untagged_wo, None), ("held_too_long", held_wo, held["tag_number"])])
        # Requested by the OEM, the tag is no longer idle on the shelf.
        post(client, f"/failed-parts/{held['id']}/return-request", clerk,
             {"request_ref": "RR-9"})
        assert listed(now) == [("untagged", untagged_wo, None)]
    # The list is the auditor's and the managers' (and the warranty desk's), not the counter's.
    refused = client.get("/audit/failed-parts/overdue", headers=clerk)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_a_rebuild_of_the_failed_parts_view_equals_the_live_one(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        store_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    _, wo_id, line = injector_visit(client, auth, store_id, vin=new_vin())
    for n, step in enumerate(("held", "requested", "lost")):
        made = post(client, "/failed-parts", clerk, {
            "work_order_id": wo_id, "line_id": line, "tag_number": f"R{n}-{wo_id[:8]}",
            "location": "cage"}, 201)
        if step != "held":
            post(client, f"/failed-parts/{made['id']}/return-request", clerk,
                 {"request_ref": "RR-1"})
        if step == "lost":
            post(client, f"/failed-parts/{made['id']}/loss", manager,
                 {"reason": "dropped in transit"})
    wait_for_projection(container, "failed_parts")

    def tables() -> list[list[str]]:
        with container.pool.connection() as conn:
            return [[row[0] for row in conn.execute(
                f"SELECT t::text FROM {table} t ORDER BY t::text").fetchall()]
                for table in ("failed_parts", "failed_part_lines")]

    live = tables()
    assert len(live[0]) >= 3 and live[1]
    for name, value in (("DATABASE_URL", database_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "3")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["projections", "rebuild", "--name", "failed_parts"]) == 0
    assert '"projection": "failed_parts"' in capsys.readouterr().out
    assert tables() == live
    assert cli.main(["audit", "views", "--view", "failed_parts"]) == 0
    assert '"ok": true' in capsys.readouterr().out
