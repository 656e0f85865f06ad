"""The rows a batch holds in memory: a row put has every column of its table, in the table's
order, NULL where the handler said nothing, and nothing that is no column; an event's values
read the same on every read, converted ones made once."""

from __future__ import annotations

from decimal import Decimal

import duckdb

from analytics.events import Event
from analytics.fold import COLUMNS, Fold
from analytics.set_based import _texts


def test_a_row_put_has_the_columns_of_its_table_and_nothing_else() -> None:
    fold = Fold(duckdb.connect())
    fold.current = 42
    row = fold.put("dim_store", {"store_id": "S01", "not_a_column": 1})
    assert list(row) == list(COLUMNS["dim_store"])
    assert row["store_id"] == "S01" and row["first_seen"] is None
    assert row["last_notification_id"] == 42
    again = fold.put("dim_store", {"store_id": "S02"})
    assert again is not row and row["store_id"] == "S01"  # each row its own dict
    assert fold.get("dim_store", "S02") is again and fold.changed["dim_store"] == {
        ("S01",), ("S02",)}


def test_an_event_converts_a_value_once_and_reads_scalars_as_stored() -> None:
    event = Event(1, "wo-1", "domain.work_order:WorkOrder.LineAdded", {
        "line": {"gross": {"_type_": "decimal_str", "_data_": "12.50"}}, "job_no": 2})
    assert event.job_no == 2
    line = event.line
    assert line == {"gross": Decimal("12.50")} and event.line is line


def test_the_states_joined_by_the_reader_are_the_text_column() -> None:
    states = [b'{"a":1}', b'{"b":"\xc3\xa9"}']
    assert _texts(states, b"".join(states)).to_pylist() == ['{"a":1}', '{"b":"é"}']
    assert _texts(states, b"not these").to_pylist() == ['{"a":1}', '{"b":"é"}']
    assert _texts(states).to_pylist() == ['{"a":1}', '{"b":"é"}']
