"""The repair class of a labor operation and of a visit, and the comeback SQL deciding the same
class as the domain rule."""

from __future__ import annotations

import duckdb
import pytest

from analytics.comebacks import _rank_case
from domain.repair_guarantee import GUARANTEES, RANK, class_of_op_code, class_of_visit

CODES = ["ENG-OH-2", "engoh", "GBX-OH", "TRN OH 1", "ASSY-BRK", "MNT-L2", "MNTL2X", "MNT20K",
         "MNT-10K", "BRK-PAD", "ENG-1", "TRN-FLUID", "OP", "", "assy"]


@pytest.mark.parametrize(("code", "repair_class"), [
    ("ENG-OH-2", "assembly"), ("ASSY-BRK", "assembly"), ("gbx oh", "assembly"),
    ("MNT-L2", "second_level"), ("MNT20K", "minor"), ("BRK-PAD", "minor"),
    ("TRN-FLUID", "minor"), ("OP", "minor")])
def test_op_code_class(code: str, repair_class: str) -> None:
    assert class_of_op_code(code) == repair_class


def test_a_visit_takes_its_longest_guarantee() -> None:
    assert class_of_visit(["OIL-CHG", "MNT-L2", "ENG-OH"]) == "assembly"
    assert class_of_visit(["OIL-CHG", "MNT-L2"]) == "second_level"
    assert class_of_visit([]) == "minor"


def test_guarantees_are_the_trade_periods() -> None:
    assert {g.repair_class: (g.days, g.km) for g in GUARANTEES} == {
        "assembly": (100, 20_000), "second_level": (30, 5_000), "minor": (10, 2_000)}


def test_the_sql_ranks_op_codes_as_the_domain_rule_does() -> None:
    case, params = _rank_case("op_code")
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (op_code VARCHAR)")
    conn.executemany("INSERT INTO t VALUES (?)", [[c] for c in CODES])
    got = dict(conn.execute(f"SELECT op_code, {case} FROM t", params).fetchall())
    assert got == {c: RANK[class_of_op_code(c)] for c in CODES}
