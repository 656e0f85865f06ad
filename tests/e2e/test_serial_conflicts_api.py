"""Part serials across visits over HTTP: a failed part removed on two visits and a part
recorded on two vehicles are flagged on both claims and listed for the warranty administrator,
the same car's fitted part removed on its next visit is its history, a correction clears the
flag; the part serials view rebuilt by command equals the live one."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.test_money_api import Auth
from tests.e2e.test_parts_api import get, post
from tests.e2e.test_warranty_evidence_api import injector_visit
from tests.integration.test_parts_support import wait_for_projection

CAR_X, CAR_Y = "LSVAU2181N2183295", "LSVAU2183N2183296"
KEYS = {"part_serials": "work_order_id, serial", "part_serial_visits": "work_order_id"}


def _kept(serial: str, tag: str) -> dict[str, str]:
    return {"serial": serial, "disposition": "kept_for_return", "tag": tag}


def three_visits(client: TestClient, auth: Auth, store_id: str) -> dict[str, Any]:
    """Car X's injector visit A; car Y's visit B that records A's removed and fitted serials;
    car X's later visit C that removes the injector fitted on A."""
    tech = auth("technician", "tech-" + store_id, [store_id])
    tag = uuid.uuid4().hex[:6].upper()
    s = {name: f"{name}-{tag}" for name in ("F1", "F2", "R1", "N3")}
    visits = {}
    for name, car, body in (
            ("A", CAR_X, {"fitted": [s["F1"], s["F2"]], "removed": [_kept(s["R1"], "T-A1")]}),
            # B: the failed part A removed is claimed again, and A's new part is on car Y
            ("B", CAR_Y, {"fitted": [s["F1"]], "removed": [_kept(s["R1"], "T-B1")]}),
            # C: car X's injector fitted on A fails and is removed: the part's life
            ("C", CAR_X, {"fitted": [s["N3"]], "removed": [_kept(s["F2"], "T-C1")]})):
        wo, wo_id, line = injector_visit(client, auth, store_id, car)
        recorded = post(client, f"{wo}/lines/{line}/serials", tech, body)
        number = get(client, f"/work-orders/{wo_id}", tech,
                     wait_for=recorded["notification_id"])["number"]
        visits[name] = {"url": wo, "id": wo_id, "line": line, "number": number}
    return {"serials": s, **visits}


def claim(client: TestClient, auth: Auth, store_id: str, wo_id: str,
          **params: Any) -> dict[str, Any]:
    return get(client, f"/work-orders/{wo_id}/warranty-claim",  # type: ignore[no-any-return]
               auth("auditor", "aud-" + store_id, [store_id]), **params)


def flagged(found: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    return sorted((c["serial"], c["kind"], c["side"], c["other"]["number"], c["other"]["side"])
                  for c in found["serial_conflicts"])


def test_a_part_claimed_twice_or_on_two_cars_is_flagged_and_listed(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    v = three_visits(client, auth, store_id)
    s, a, b, c = v["serials"], v["A"], v["B"], v["C"]
    wait_for_projection(container, "part_serials")
    # Visit B's claim is built, names visit A on both serials, and is not complete.
    on_b = claim(client, auth, store_id, b["id"])
    assert flagged(on_b) == sorted([(s["F1"], "other_vehicle", "fitted", a["number"], "fitted"),
                                    (s["R1"], "removed_twice", "removed", a["number"],
                                     "removed")])
    assert {c["other"]["work_order_id"] for c in on_b["serial_conflicts"]} == {a["id"]}
    assert on_b["complete"] is False
    assert sorted(p["serial"] for p in on_b["problems"] if p["kind"] == "serial_conflict") \
        == sorted([s["F1"], s["R1"]])
    # The visit whose records the conflicts cite are in the package's evidence.
    assert {e["stream_id"] for e in on_b["evidence"]} >= {a["id"], b["id"]}
    # Visit A is flagged the same way (either entry may be the wrong one), and shows the
    # removal of its fitted F2 on car X's later visit as that part's history, not a conflict.
    on_a = claim(client, auth, store_id, a["id"])
    assert flagged(on_a) == sorted([(s["F1"], "other_vehicle", "fitted", b["number"], "fitted"),
                                    (s["R1"], "removed_twice", "removed", b["number"],
                                     "removed")])
    assert [(h["serial"], h["kind"], h["other"]["number"], h["other"]["side"])
            for h in on_a["serial_history"]] == [(s["F2"], None, c["number"], "removed")]
    # Visit C: the same car's part life is no conflict.
    on_c = claim(client, auth, store_id, c["id"])
    assert on_c["serial_conflicts"] == []
    assert [(h["serial"], h["side"], h["other"]["number"], h["other"]["side"])
            for h in on_c["serial_history"]] == [(s["F2"], "removed", a["number"], "fitted")]
    assert not [p for p in on_c["problems"] if p["kind"] == "serial_conflict"]
    page = client.get(f"/work-orders/{b['id']}/warranty-claim", params={"format": "html"},
                      headers=auth("auditor", "aud-" + store_id, [store_id])).text
    assert s["R1"] in page and a["number"] in page and "removed twice" in page
    page = client.get(f"/work-orders/{a['id']}/warranty-claim", params={"format": "html"},
                      headers=auth("auditor", "aud-" + store_id, [store_id])).text
    assert "same vehicle (the part&#x27;s life)" in page and c["number"] in page

    # The warranty administrator lists the period's conflicts: the earlier record first.
    admin = auth("advisor", "adv-" + store_id, [store_id])
    today = date.today()
    period: dict[str, Any] = {"from": (today - timedelta(days=1)).isoformat(),
              "to": (today + timedelta(days=1)).isoformat()}
    listed = get(client, "/audit/serial-conflicts", admin, store_id=store_id, **period)
    assert listed["count"] == 2
    assert sorted((x["serial"], x["kind"], x["first"]["number"], x["then"]["number"],
                   x["then"]["vin"]) for x in listed["conflicts"]) == sorted([
        (s["F1"], "other_vehicle", a["number"], b["number"], CAR_Y),
        (s["R1"], "removed_twice", a["number"], b["number"], CAR_Y)])
    # Another period, another store, another role, a period backwards.
    long_ago: dict[str, Any] = {"from": "2020-01-01", "to": "2020-01-31"}
    assert get(client, "/audit/serial-conflicts", admin, store_id=store_id,
               **long_ago)["count"] == 0
    get(client, "/audit/serial-conflicts", admin, 403, store_id="S-ELSEWHERE", **period)
    get(client, "/audit/serial-conflicts", auth("technician", "tech-" + store_id, [store_id]),
        403, **period)
    get(client, "/audit/serial-conflicts", admin, 422,
        **{"from": period["to"], "to": period["from"]})

    # Visit B's serials were mistyped: corrected with a reason, the flags are gone on both.
    tech = auth("technician", "tech-" + store_id, [store_id])
    fixed = post(client, f"{b['url']}/lines/{b['line']}/serials", tech, {
        "fitted": [f"F9-{s['F1']}"], "removed": [_kept(f"R9-{s['R1']}", "T-B1")],
        "reason": "serials read from the wrong injector box"})
    at = fixed["notification_id"]
    assert claim(client, auth, store_id, b["id"], wait_for=at)["serial_conflicts"] == []
    on_a = claim(client, auth, store_id, a["id"], wait_for=at)
    assert (on_a["serial_conflicts"], len(on_a["serial_history"])) == ([], 1)
    assert get(client, "/audit/serial-conflicts", admin, store_id=store_id, wait_for=at,
               **period)["count"] == 0


def _tables(container: Container) -> dict[str, list[str]]:
    with container.pool.connection() as conn:
        return {table: [row[0] for row in conn.execute(
            f"SELECT t::text FROM {table} t ORDER BY {key}").fetchall()]
            for table, key in KEYS.items()}


def test_a_rebuild_of_the_part_serials_view_equals_the_live_one(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        store_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    v = three_visits(client, auth, store_id)
    post(client, f"{v['B']['url']}/lines/{v['B']['line']}/serials",
         auth("technician", "tech-" + store_id, [store_id]), {
             "fitted": ["X9-" + v["serials"]["F1"]],
             "removed": [_kept("X9-" + v["serials"]["R1"], "T-B2")],
             "reason": "a correction replaces the line's rows"})
    wait_for_projection(container, "part_serials")
    live = _tables(container)
    with container.pool.connection() as conn:
        on_b = conn.execute("SELECT serial, side FROM part_serials WHERE work_order_id = %s "
                            "ORDER BY serial", (v["B"]["id"],)).fetchall()
    # The correction replaced the line's rows.
    assert on_b == [("X9-" + v["serials"]["F1"], "fitted"),
                    ("X9-" + v["serials"]["R1"], "removed")]
    for name, value in (("DATABASE_URL", database_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "7")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["projections", "rebuild", "--name", "part_serials"]) == 0
    assert '"projection": "part_serials"' in capsys.readouterr().out
    rebuilt = _tables(container)
    for table in KEYS:
        assert rebuilt[table] == live[table], table


def test_an_erasure_shreds_the_customer_and_leaves_the_visits_free_text(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """README "Captions, reasons and erasure": personal data is the customer's name, phones
    and WeChat id; a caption or a correction's reason describes the part and stays readable,
    like the complaint and the 3C."""
    tech = auth("technician", "tech-" + store_id, [store_id])
    wo, wo_id, line = injector_visit(client, auth, store_id, CAR_X)
    tag = uuid.uuid4().hex[:6].upper()
    post(client, f"{wo}/lines/{line}/serials", tech, {"fitted": [f"E1-{tag}"]})
    post(client, f"{wo}/lines/{line}/serials", tech, {
        "fitted": [f"E2-{tag}"], "reason": "label misread on the box"})
    post(client, f"{wo}/evidence", tech, {
        "line_id": line, "kind": "photo", "sha256": "ab" * 32, "media_type": "image/jpeg",
        "size": 1024, "uri": "s3://evidence/e.jpg", "caption": "cracked nozzle"}, 201)
    before = claim(client, auth, store_id, wo_id)
    assert before["customer"]["name"] == "王伟"
    post(client, f"/customers/{before['customer']['id']}/erasure",
         auth("manager", "mgr-" + store_id, [store_id]), {"reason": "PIPL request"})
    after = claim(client, auth, store_id, wo_id)
    assert (after["customer"]["name"], after["customer"]["phone"]) == ("[erased]", "[erased]")
    [job] = after["jobs"]
    assert [e["caption"] for e in job["evidence_refs"]] == ["cracked nozzle"]
    assert [c["reason"] for c in job["parts"][0]["serials"]["corrections"]] == [
        "label misread on the box"]
    assert job["complaint"] == "rough idle"
