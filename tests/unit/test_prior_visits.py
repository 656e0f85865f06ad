"""Visits imported from the previous system: validated field by field, kept on the vehicle's
stream once per store and `source_ref` (importing again stores nothing and answers the first
import), and never stored when refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.common import IllegalTransition, InvalidInput
from domain.prior_visit import prior_record
from domain.vehicle import Vehicle
from domain.vehicles import Vehicles
from domain.work_orders import vehicle_id
from tests.unit.support import VIN, events_stored, request

OTHER_VIN = "LFV2A21K3D4012345"
TODAY = date(2026, 5, 1)


def record(**overrides: Any) -> dict[str, Any]:
    return {"source_ref": "DMS-2021-004512", "date_in": "2021-06-03", "date_out": "2021-06-04",
            "mileage_in": 30_120, "kind": "maintenance", "pay_type": "customer",
            "complaints": ["30,000 km service"],
            "work": [{"op_code": "MNT-30K", "description": "30,000 km service"}],
            "parts": [{"part_number": "06L115562", "name": "oil filter", "qty": "1"}],
            "totals": {"total": "860.00"}, **overrides}


def manager() -> Any:
    return request("manager", at=datetime(2026, 5, 1, 2, 0, tzinfo=UTC))


def imported(app: ServiceCore) -> list[Vehicle.PriorVisitImported]:
    return [e for e in app.events.get(vehicle_id(VIN))
            if isinstance(e, Vehicle.PriorVisitImported)]


def test_a_visit_is_kept_on_the_vehicle_with_who_imported_it_and_registers_the_car() -> None:
    app = ServiceCore()
    answer = Vehicles(app).import_prior_visit(manager(), VIN, store_id="S01",
                                              record=record()).body
    assert answer["already_imported"] is False and answer["source_ref"] == "DMS-2021-004512"
    assert answer["imported_by"] == "manager-1" and answer["vin"] == VIN
    (event,) = imported(app)
    assert (event.date_in, event.mileage_in, event.pay_type) == ("2021-06-03", 30_120, "customer")
    assert event.parts == [{"part_number": "06L115562", "name": "oil filter", "qty": "1"}]
    assert event.totals == {"total": "860.00"}
    assert event.audit.user_id == "manager-1" and event.audit.store_id == "S01"
    assert app.repository.get(vehicle_id(VIN)).vin == VIN  # registered by its VIN alone


@settings(max_examples=25, deadline=None)
@given(repeats=st.integers(1, 4), mileage=st.integers(0, 3_000_000),
       other=st.fixed_dictionaries({"mileage_in": st.integers(0, 3_000_000),
                                    "complaints": st.lists(st.text(min_size=1, max_size=5),
                                                           max_size=2)}))
def test_importing_a_source_ref_again_stores_nothing_and_answers_the_first(
        repeats: int, mileage: int, other: dict[str, Any]) -> None:
    app = ServiceCore()
    vehicles = Vehicles(app)
    first = vehicles.import_prior_visit(manager(), VIN, store_id="S01",
                                        record=record(mileage_in=mileage)).body
    stored = events_stored(app)
    for _ in range(repeats):  # the same record, or the same reference with other contents
        again = vehicles.import_prior_visit(manager(), VIN, store_id="S01",
                                            record=record(**other)).body
        assert again == {**first, "already_imported": True}
    assert events_stored(app) == stored
    assert [e.mileage_in for e in imported(app)] == [mileage]


def test_the_same_reference_in_another_store_is_another_record() -> None:
    app = ServiceCore()
    vehicles = Vehicles(app)
    vehicles.import_prior_visit(manager(), VIN, store_id="S01", record=record())
    again = vehicles.import_prior_visit(manager(), VIN, store_id="S02", record=record()).body
    assert again["already_imported"] is False and len(imported(app)) == 2


def test_a_reference_taken_for_another_car_is_refused_and_stores_nothing() -> None:
    app = ServiceCore()
    vehicles = Vehicles(app)
    vehicles.import_prior_visit(manager(), VIN, store_id="S01", record=record())
    stored = events_stored(app)
    with pytest.raises(IllegalTransition) as refused:
        vehicles.import_prior_visit(manager(), OTHER_VIN, store_id="S01", record=record())
    assert refused.value.extra["field"] == "source_ref"
    assert events_stored(app) == stored


@pytest.mark.parametrize(("overrides", "field"), [
    ({"source_ref": "  "}, "source_ref"),
    ({"source_ref": "x" * 65}, "source_ref"),
    ({"date_in": "2021-02-30"}, "date_in"),
    ({"date_in": "03/06/2021"}, "date_in"),
    ({"date_in": "2026-05-02"}, "date_in"),  # in the future
    ({"date_out": "2021-06-02"}, "date_out"),  # before date in
    ({"mileage_in": -1}, "mileage_in"),
    ({"mileage_in": 3_000_001}, "mileage_in"),
    ({"mileage_in": "30120"}, "mileage_in"),
    ({"mileage_in": True}, "mileage_in"),
    ({"kind": "oil"}, "kind"),
    ({"pay_type": "oem"}, "pay_type"),
    ({"work": [{"op_code": "X"}]}, "work[0].description"),
    ({"parts": [{"part_number": "P1", "qty": "0"}]}, "parts[0].qty"),
    ({"parts": [{"part_number": "P1", "qty": "abc"}]}, "parts[0].qty"),
    ({"parts": [{"name": "filter", "qty": "1"}]}, "parts[0].part_number"),
    ({"totals": {"total": "-1"}}, "totals.total"),
    ({"totals": {"total": "1.234"}}, "totals.total"),
    ({"totals": {"vat": "1"}}, "totals"),
    ({"totals": {"total": "1e999999999"}}, "totals.total"),  # beyond Decimal's exponent range
    ({"parts": [{"part_number": "P1", "qty": "1E+999999999"}]}, "parts[0].qty"),
    ({"complaints": "noise"}, "complaints"),
])
def test_bad_input_is_refused_naming_the_field_and_stores_nothing(
        overrides: dict[str, Any], field: str) -> None:
    app = ServiceCore()
    with pytest.raises(InvalidInput) as refused:
        Vehicles(app).import_prior_visit(manager(), VIN, store_id="S01",
                                         record=record(**overrides))
    assert refused.value.extra.get("field") == field
    assert events_stored(app) == 0


def test_a_bad_vin_is_refused_and_stores_nothing() -> None:
    app = ServiceCore()
    with pytest.raises(InvalidInput) as refused:
        Vehicles(app).import_prior_visit(manager(), "LSVAU218XN2183295", store_id="S01",
                                         record=record())
    assert "check digit" in refused.value.detail and events_stored(app) == 0


@settings(max_examples=50, deadline=None)
@given(mileage=st.integers(0, 3_000_000), days=st.integers(0, 3_000),
       out=st.one_of(st.none(), st.integers(0, 30)))
def test_a_valid_record_keeps_its_dates_and_mileage(mileage: int, days: int,
                                                    out: int | None) -> None:
    day_in = date.fromordinal(TODAY.toordinal() - days)
    day_out = (None if out is None else
               date.fromordinal(min(TODAY.toordinal(), day_in.toordinal() + out)))
    kept = prior_record(record(date_in=day_in.isoformat(), mileage_in=mileage,
                               date_out=day_out.isoformat() if day_out else None), TODAY)
    assert (kept["date_in"], kept["mileage_in"]) == (day_in.isoformat(), mileage)
    assert kept["date_out"] == (day_out.isoformat() if day_out else None)


def test_a_cars_stream_takes_a_bounded_number_of_imported_visits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("domain.vehicle.MAX_IMPORTED_VISITS", 2)
    app = ServiceCore()
    vehicles = Vehicles(app)
    for ref in ("A", "B"):
        vehicles.import_prior_visit(manager(), VIN, store_id="S01", record=record(source_ref=ref))
    stored = events_stored(app)
    with pytest.raises(IllegalTransition, match="holds 2 imported visits"):
        vehicles.import_prior_visit(manager(), VIN, store_id="S01", record=record(source_ref="C"))
    assert events_stored(app) == stored


def test_a_csv_row_is_read_into_the_record_or_refused_naming_its_column() -> None:
    from servicecore.history_import import RowError, record_of

    vin, store, kept = record_of({
        "vin": VIN, "store_id": "S01", "source_ref": " R-1 ", "date_in": "2022-03-01",
        "mileage_in": "18,000", "complaints": "noise | rattle", "work": "BRK01;pads | wash",
        "parts": "P1;pads;2", "total": "500.00", "kind": "", "pay_type": ""})
    assert (vin, store, kept["mileage_in"], kept["complaints"]) == (
        VIN, "S01", 18_000, ["noise", "rattle"])
    assert kept["work"] == [{"op_code": "BRK01", "description": "pads"},
                            {"op_code": None, "description": "wash"}]
    assert kept["parts"] == [{"part_number": "P1", "name": "pads", "qty": "2"}]
    assert (kept["kind"], kept["pay_type"], kept["totals"]) == (
        "repair", "customer", {"total": "500.00"})
    for row, field in (({"mileage_in": "18k"}, "mileage_in"), ({"vin": ""}, "vin"),
                       ({"parts": "P1;2"}, "parts[0]")):
        with pytest.raises(RowError) as refused:
            record_of({"vin": VIN, "store_id": "S01", "source_ref": "R", "date_in": "2022-03-01",
                       "mileage_in": "1", **row})
        assert refused.value.field == field


def test_a_csv_line_too_long_or_a_mileage_of_thousands_of_digits_is_refused_by_number(
        tmp_path: Path) -> None:
    from servicecore.history_import import MAX_LINE, RowError, record_of, rows_of

    # int() refuses more than 4,300 digits with a ValueError: the row is refused, not the run.
    with pytest.raises(RowError) as refused:
        record_of({"vin": VIN, "store_id": "S01", "source_ref": "R", "date_in": "2022-03-01",
                   "mileage_in": "9" * 5_000})
    assert refused.value.field == "mileage_in"
    # A line of a million empty cells (a mangled export) is refused at its line, not split
    # into a million-entry row first.
    path = tmp_path / "history.csv"
    path.write_text("vin,store_id,source_ref,date_in,mileage_in\n"
                    f"{VIN},S01,R-1,2022-03-01,1000\n" + "," * (MAX_LINE + 1) + "\n",
                    encoding="utf-8")
    rows = rows_of(path)
    assert next(rows)[0] == 2
    with pytest.raises(RowError, match="line 3 is longer than"):
        next(rows)


def test_a_file_not_in_utf_8_is_refused_naming_the_first_line_that_is_not(
        tmp_path: Path) -> None:
    from servicecore.history_import import RowError, rows_of

    # An export of the old system in GBK: its first line in Chinese is not UTF-8.
    path = tmp_path / "history.csv"
    path.write_bytes("vin,store_id,source_ref,date_in,mileage_in,complaints\n"
                     f"{VIN},S01,R-1,2022-03-01,1000,noise\n"
                     f"{VIN},S01,R-2,2022-04-01,2000,刹车异响\n".encode("gbk"))
    with pytest.raises(RowError, match="line 3 is not UTF-8"):
        list(rows_of(path))


def test_the_command_line_reads_a_big_file_through_before_importing_without_holding_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse
    import tracemalloc

    from servicecore import container, history_import

    # 300 rows of some 100 kB each (long complaint texts): a file of 30 MB.
    path = tmp_path / "history.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("vin,store_id,source_ref,date_in,mileage_in,complaints\n")
        for n in range(300):
            f.write(f"{VIN},S01,R-{n},2022-03-01,1000,{'x' * 100_000}\n")

    class Read(Exception):
        """The file was read through: the run goes on to the database."""

    def build(*args: object, **kwargs: object) -> None:
        raise Read

    monkeypatch.setattr(container, "build", build)
    tracemalloc.start()
    try:
        with pytest.raises(Read):
            history_import._run(argparse.Namespace(file=path, user="migration"), None)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # a few rows at a time, not the 30 MB file


def test_a_file_of_one_endless_line_is_refused_having_read_one_lines_worth(
        tmp_path: Path) -> None:
    import tracemalloc

    from servicecore.history_import import MAX_LINE, RowError, check_file

    path = tmp_path / "history.csv"
    with path.open("w", encoding="utf-8") as f:  # 30 MB and no line break (a mangled export)
        f.write("vin,store_id,source_ref,date_in,mileage_in\n")
        for _ in range(30):
            f.write("x" * 1_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(RowError, match="line 2 is longer than"):
            check_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_LINE  # one line's worth, not the 30 MB


def test_a_file_not_in_utf_8_without_line_breaks_is_refused_having_read_a_little(
        tmp_path: Path) -> None:
    """The line that is not UTF-8 was looked for a whole line at a time: a GBK export of
    30 MB with no line break (or with only old Mac `\\r` breaks) was read whole to name it."""
    import tracemalloc

    from servicecore.history_import import MAX_LINE, RowError, check_file

    path = tmp_path / "history.csv"
    with path.open("wb") as f:
        f.write(b"vin,store_id,source_ref,date_in,mileage_in,complaints\n")
        for n in range(30_000):
            f.write(f"{VIN},S01,R-{n},2022-03-01,1000,刹车异响\r".encode("gbk") * 20)
    tracemalloc.start()
    try:
        with pytest.raises(RowError, match="line 2 is not UTF-8"):
            check_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_LINE  # a block at a time, not the 30 MB
    # Far down the file, past many blocks: named by its number as before.
    with path.open("wb") as f:
        f.write(b"vin,store_id,source_ref,date_in,mileage_in,complaints\n")
        f.write(f"{VIN},S01,R-1,2022-03-01,1000,刹车异响\n".encode() * 9_999)
        f.write(f"{VIN},S01,R-2,2022-03-01,1000,刹车异响\n".encode("gbk"))
    with pytest.raises(RowError, match="line 10001 is not UTF-8"):
        check_file(path)
