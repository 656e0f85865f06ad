"""Service history from the previous system over HTTP and on the command line, on PostgreSQL:
imported once per store and `source_ref`, shown in the vehicle file as imported (never as a work
order), counted by the next service due and by the warranty claim's odometer check; bad rows
reported by their row numbers with nothing stored for them."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.scope_dataset import event_count
from tests.e2e.test_api_contract import problem
from tests.e2e.test_money_api import Auth, ready_for_settlement
from tests.e2e.test_parts_api import get, head, post
from tests.integration.audit_support import new_vin


def visit(store_id: str, **overrides: Any) -> dict[str, Any]:
    return {"store_id": store_id, "source_ref": "DMS-2023-0815", "date_in": "2023-08-15",
            "date_out": "2023-08-15", "mileage_in": 45_000, "kind": "maintenance",
            "pay_type": "customer", "complaints": ["40,000 km service"],
            "work": [{"op_code": "MNT-40K", "description": "40,000 km service"}],
            "parts": [{"part_number": "06L115562", "name": "oil filter", "qty": "1"}],
            "totals": {"labor": "300.00", "parts": "560.00", "total": "860.00"},
            **overrides}


def vehicle_file(client: TestClient, vin: str, headers: dict[str, str]) -> Any:
    return get(client, f"/vehicles/{vin}", headers, wait_for=head(client))


def test_an_imported_visit_is_in_the_vehicle_file_once_and_counts_for_the_next_service(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    vin = new_vin()
    # The manager brings over a 2023 maintenance visit of a car the new system has not seen.
    first = post(client, f"/vehicles/{vin}/prior-visits", manager, visit(store_id), 201)
    assert first["already_imported"] is False and first["imported_by"] == "mgr-" + store_id
    # The same record again (a re-run of the migration): nothing stored, the first answer.
    before = event_count(container)
    again = post(client, f"/vehicles/{vin}/prior-visits", manager,
                 visit(store_id, mileage_in=1), 201)
    assert again == {**first, "already_imported": True}
    assert event_count(container) == before
    # The vehicle file lists it apart from the work orders, marked as imported.
    car = vehicle_file(client, vin, advisor)
    assert car["visits"] == []
    [imported] = car["prior_visits"]
    assert (imported["imported"], imported["source_ref"], imported["date_in"],
            imported["mileage_in"], imported["kind"]) == (
        True, "DMS-2023-0815", "2023-08-15", 45_000, "maintenance")
    assert imported["parts"] == [{"part_number": "06L115562", "name": "oil filter",
                                  "qty": "1"}]
    assert imported["imported_by"] == "mgr-" + store_id
    # The next service counts from it: 12 months or 10,000 km after the imported maintenance.
    due = car["next_service"]
    assert (due["last_service_on"], due["last_service_km"]) == ("2023-08-15", 45_000)
    assert due["due_on"] == "2024-08-15"
    # Its history says what it is: an imported visit, not a work order.
    events = get(client, f"/vehicles/{vin}/history", manager)["items"]
    assert [e["event"] for e in events] == ["Vehicle.Registered",
                                                 "Vehicle.PriorVisitImported"]


def test_bad_input_is_422_naming_the_field_and_only_a_manager_imports(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    vin = new_vin()
    before = event_count(container)
    for overrides, field in (({"date_in": "2023-02-30"}, "date_in"),
                             ({"mileage_in": -5}, "mileage_in"),
                             ({"date_in": "2099-01-01"}, "date_in"),
                             ({"date_out": "2023-08-01"}, "date_out"),
                             ({"parts": [{"part_number": "P1", "qty": "0"}]}, "parts.0.qty"),
                             ({"totals": {"total": "1.234"}}, "totals.total")):
        answer = client.post(f"/vehicles/{vin}/prior-visits", headers=manager,
                             json=visit(store_id, **overrides))
        refused = problem(answer, 422, "invalid-input")
        named = refused.get("field") or ".".join(
            str(part) for part in refused["errors"][0]["loc"][1:])  # a nested body field
        assert named == field, (overrides, answer.text)
    bad_vin = client.post("/vehicles/LSVAU218XN2183295/prior-visits", headers=manager,
                          json=visit(store_id))
    assert bad_vin.status_code == 422
    advisor = client.post(f"/vehicles/{vin}/prior-visits", json=visit(store_id),
                          headers=auth("advisor", "adv-" + store_id, [store_id]))
    assert advisor.status_code == 403
    assert event_count(container) == before
    # The same reference of the store for another car: 409, nothing stored.
    post(client, f"/vehicles/{vin}/prior-visits", manager, visit(store_id), 201)
    stored = event_count(container)
    taken = client.post(f"/vehicles/{new_vin()}/prior-visits", headers=manager,
                        json=visit(store_id))
    assert problem(taken, 409, "illegal-transition")["field"] == "source_ref"
    # Another store's manager, naming their own store, does not reach this store's car.
    elsewhere = client.post(f"/vehicles/{vin}/prior-visits",
                            headers=auth("manager", "mgr-x", [store_id + "X"]),
                            json=visit(store_id + "X", source_ref="X-1"))
    problem(elsewhere, 404, "not-found")
    assert event_count(container) == stored


def test_the_odometer_check_refuses_a_reading_below_an_imported_visit(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wound_back, fine = new_vin(), new_vin()
    # The old system saw one car at 45,000 km in 2023, the other at 20,000 km.
    post(client, f"/vehicles/{wound_back}/prior-visits", manager,
         visit(store_id, source_ref="DMS-A"), 201)
    post(client, f"/vehicles/{fine}/prior-visits", manager,
         visit(store_id, source_ref="DMS-B", mileage_in=20_000), 201)
    # Both come back for a warranty repair at 30,010 km.
    _, claimed = ready_for_settlement(client, auth, store_id, warranty_labor=True,
                                      vin=wound_back)
    _, other = ready_for_settlement(client, auth, store_id, warranty_labor=True, vin=fine)
    claim = get(client, f"/work-orders/{claimed}/warranty-claim", auditor)
    [odometer] = [p for p in claim["problems"] if p["kind"] == "mileage"]
    assert odometer["level"] == "error" and claim["complete"] is False
    assert odometer["detail"] == (
        "mileage in 30,010 km is below the 45,000 km recorded on imported visit DMS-A of "
        "2023-08-15: an OEM rejects a claim whose odometer went back")
    earlier = odometer["earlier"]
    assert (earlier["imported"], earlier["source_ref"], earlier["date_in"], earlier["km"],
            earlier["work_order_id"]) == (True, "DMS-A", "2023-08-15", 45_000, None)
    fine_claim = get(client, f"/work-orders/{other}/warranty-claim", auditor)
    assert "mileage" not in {p["kind"] for p in fine_claim["problems"]}


COLUMNS = ["vin", "store_id", "source_ref", "date_in", "date_out", "mileage_in", "kind",
           "pay_type", "complaints", "work", "parts", "labor_total", "parts_total", "total"]


def _import(path: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    """`servicecore import-history` as an operator runs it; its exit code and JSON report."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("SERVICECORE_JWT_SECRET", JWT_SECRET)
    code = cli.main(["import-history", str(path), "--user", "migration-2026"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_the_command_line_imports_a_file_reports_bad_rows_by_number_and_skips_repeats(
        client: TestClient, auth: Auth, container: Container, store_id: str, database_url: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    car, other = new_vin(), new_vin()
    rows = [
        [car, store_id, "R-1", "2022-03-01", "2022-03-01", "18,000", "maintenance", "", 
         "20,000 km service", "MNT-20K;20,000 km service", "06L115562;oil filter;1",
         "200.00", "300.00", "500.00"],
        [car, store_id, "R-2", "2023-13-01", "", "25000", "repair", "", "", "", "", "", "",
         ""],                                                      # row 3: no such month
        [other, store_id, "R-3", "2023-05-02", "", "31000", "repair", "warranty",
         "engine misfire | rough idle", "ENG-COIL;replace coil", "06H905115;coil;2",
         "", "", ""],
        ["LSVAU218XN2183295", store_id, "R-4", "2023-05-02", "", "1000", "", "", "", "", "",
         "", "", ""],                                              # row 5: bad check digit
        [car, store_id, "R-5", "2023-06-01", "", "26000", "", "", "", "", "P1;pads;0", "",
         "", ""],                                                  # row 6: no quantity
        [car, store_id, "R-1", "2022-03-01", "", "18000", "", "", "", "", "", "", "", ""],
    ]
    path = tmp_path / "history.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    before = event_count(container)
    code, report = _import(path, database_url, tmp_path, monkeypatch, capsys)
    assert code == 1  # some rows were refused: the exit says so
    assert report["counts"] == {"imported": 2, "skipped": 1, "refused": 3}
    assert [(r["row"], r["source_ref"]) for r in report["imported"]] == [(2, "R-1"), (4, "R-3")]
    assert [(r["row"], r["source_ref"]) for r in report["skipped"]] == [(7, "R-1")]
    assert [(r["row"], r["field"]) for r in report["refused"]] == [
        (3, "date_in"), (5, "vin"), (6, "parts[0].qty")]
    # Two cars registered, two visits imported, two references taken: nothing of the bad rows.
    assert event_count(container) - before == 6
    # the run's correlation id leads an auditor to all it stored
    stored = get(client, "/audit/events", auth("auditor", "aud-history", [store_id]),
                 wait_for=head(client), correlation_id=report["correlation_id"])
    assert stored["total"] == 6
    car_file = vehicle_file(client, car, advisor)
    assert [v["source_ref"] for v in car_file["prior_visits"]] == ["R-1"]
    [kept] = car_file["prior_visits"]
    assert (kept["mileage_in"], kept["imported_by"], kept["totals"]) == (
        18_000, "migration-2026", {"labor": "200.00", "parts": "300.00", "total": "500.00"})
    assert kept["work"] == [{"op_code": "MNT-20K", "description": "20,000 km service"}]
    [warranty] = vehicle_file(client, other, advisor)["prior_visits"]
    assert (warranty["pay_type"], warranty["complaints"]) == (
        "warranty", ["engine misfire", "rough idle"])
    # The file again, once its bad rows are fixed: what was imported is skipped.
    rows[1][3], rows[3][0], rows[4][10] = "2023-12-01", new_vin(), "P1;pads;1"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    code, report = _import(path, database_url, tmp_path, monkeypatch, capsys)
    assert code == 0 and report["counts"] == {"imported": 3, "skipped": 3, "refused": 0}
    assert [r["row"] for r in report["imported"]] == [3, 5, 6]


def test_a_row_of_absurd_numbers_is_refused_by_number_and_the_file_goes_on_once(
        container: Container, store_id: str, database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    car = new_vin()
    blank = [""] * 8
    rows = [[car, store_id, "A-1", "2022-03-01", "", "18000", *blank],
            [car, store_id, "A-2", "2022-04-01", "", "9" * 5_000, *blank],  # row 3
            [car, store_id, "A-3", "2022-05-01", "", "20000", *blank[:-1], "1e999999999"],
            [car, store_id, "A-4", "2022-06-01", "", "21000", *blank]]
    path = tmp_path / "history.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([COLUMNS, *rows])
    before = event_count(container)
    code, report = _import(path, database_url, tmp_path, monkeypatch, capsys)
    # The rows around them are imported; each of them is refused by its row and column.
    assert code == 1
    assert [(r["row"], r["field"]) for r in report["refused"]] == [(3, "mileage_in"),
                                                                  (4, "totals.total")]
    assert [r["row"] for r in report["imported"]] == [2, 5]
    assert event_count(container) - before == 5  # the car, two visits, two references
    # Run again: nothing more is stored, the imported rows are skipped.
    code, report = _import(path, database_url, tmp_path, monkeypatch, capsys)
    assert [r["row"] for r in report["skipped"]] == [2, 5]
    assert event_count(container) - before == 5


def test_a_database_fault_mid_file_stops_there_saying_so_and_the_file_again_doubles_nothing(
        container: Container, store_id: str, tmp_path: Path) -> None:
    import psycopg

    from servicecore.history_import import import_file

    path = tmp_path / "history.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for n in range(5):
            writer.writerow([new_vin(), store_id, f"F-{n}", "2023-05-02", "", "31000", "", "",
                             "", "", "", "", "", ""])

    class AnswerLost:
        """The third row's save commits, and the connection drops before its answer."""
        calls = 0

        def import_prior_visit(self, *args: Any, **kwargs: Any) -> Any:
            answer = container.vehicles.import_prior_visit(*args, **kwargs)
            self.calls += 1
            if self.calls == 3:
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return answer

    before = event_count(container)
    first = import_file(AnswerLost(), path, "migration-2026")
    assert [r["row"] for r in first["imported"]] == [2, 3]
    assert (first["stopped"]["row"], first["stopped"]["source_ref"]) == (4, "F-2")
    assert first["stopped"]["error"].startswith("OperationalError: server closed")
    again = import_file(container.vehicles, path, "migration-2026")
    assert "stopped" not in again
    assert [r["row"] for r in again["skipped"]] == [2, 3, 4]  # the row that did commit too
    assert [r["row"] for r in again["imported"]] == [5, 6]
    assert event_count(container) - before == 5 * 3  # car, visit, reference: each once
