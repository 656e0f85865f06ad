"""The settlements' `bills_json` written by DuckDB: the text the loader's Python writes, and its cost.

A fold of the analytic tables wholly in SQL would have to write each `Settlement.Drafted`'s bills
as the text `json.dumps(json_ready(bills))` gives (analytics/fold_work_orders.py): key order as
stored, `", "` and `": "` between items, every stored decimal as its text, every character from
DEL up as `\\uXXXX` (a surrogate pair above U+FFFF). `BILLS_TEXT` does it in one DuckDB
expression over the stored state. This script compares it with the Python text on every
`Settlement.Drafted` of a history and on made-up bills with awkward strings, and times both
(CPU seconds of this process, DuckDB on one thread).

    python -m bench.analytics_bills_sql --history-url URL

Prints JSON; nothing is saved (bench/README "Loading faster, twelfth step").
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import duckdb
import orjson
import psycopg
import pyarrow as pa

from analytics.events import json_ready

UNWRAP = r'\{"_type_":"decimal_str","_data_":("(?:[^"\\]|\\.)*")\}'  # a stored decimal
TOKENS = r'"(?:[^"\\]|\\.)*"|[^"]+'  # a JSON string, or what lies between two
ESCAPED = ("CASE WHEN unicode(c) < 127 THEN c "
           "WHEN unicode(c) < 65536 THEN printf('\\u%04x', unicode(c)) "
           "ELSE printf('\\u%04x\\u%04x', 55296 + ((unicode(c) - 65536) >> 10), "
           "56320 + ((unicode(c) - 65536) & 1023)) END")
BILLS_TEXT = (
    "array_to_string(list_transform(regexp_extract_all(regexp_replace("
    f"json_extract(state, '$.bills')::VARCHAR, '{UNWRAP}', '\\1', 'g'), '{TOKENS}'), "
    "lambda t: CASE WHEN t[1] <> '\"' THEN replace(replace(t, ',', ', '), ':', ': ') "
    "WHEN strlen(t) = length(t) AND NOT contains(t, chr(127)) THEN t "
    f"ELSE array_to_string(list_transform(string_split(t, ''), lambda c: {ESCAPED}), '') END), '')")

AWKWARD = ["a,b:c", 'say "hi", ok', "back\\slash", "汽车保养", "emoji 😀 done", "del\x7fx",
           "ctl\x01\b\f\n\r\t", '{"_type_":"decimal_str","_data_":"1"}', "/path", "ü"]


def made_up() -> list[str]:
    """States whose bills hold each awkward string as a payer's name and a description."""
    def decimal(text: str) -> dict[str, str]:
        return {"_type_": "decimal_str", "_data_": text}

    return [orjson.dumps({"audit": {"at": "2025-05-06T01:00:00+00:00"}, "bills": {"customer": {
        "kind": "customer", "payer": {"name": text}, "lines": [{
            "line_id": "L1", "description": text, "qty": decimal("0.8"), "job_no": 1,
            "rate": 1.5, "warranty": None, "approved": True, "tags": [], "extra": {}}],
        "total": decimal("12.00")}}}).decode() for text in AWKWARD]


def python_texts(states: Sequence[str]) -> tuple[list[str], float]:
    started = time.process_time()
    texts = [json.dumps(json_ready(orjson.loads(s)["bills"])) for s in states]
    return texts, time.process_time() - started


def sql_texts(conn: duckdb.DuckDBPyConnection, states: Sequence[str]) -> tuple[list[str], float]:
    conn.register("states", pa.table({"i": range(len(states)), "state": list(states)}))
    started = time.process_time()
    found = conn.execute(f"SELECT {BILLS_TEXT} FROM states ORDER BY i").fetchall()
    seconds = time.process_time() - started
    conn.unregister("states")
    return [row[0] for row in found], seconds


def compare(conn: duckdb.DuckDBPyConnection, states: Sequence[str]) -> dict[str, Any]:
    expected, python = python_texts(states)
    found, sql = sql_texts(conn, states)
    differ = [i for i, (a, b) in enumerate(zip(expected, found, strict=True)) if a != b]
    return {"bills": len(states), "differ": len(differ),
            "first_difference": [expected[differ[0]], found[differ[0]]] if differ else None,
            "python_us_per_bill": round(python / max(len(states), 1) * 1e6, 1),
            "sql_us_per_bill": round(sql / max(len(states), 1) * 1e6, 1)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.analytics_bills_sql", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--history-url", required=True, help="a database holding a history")
    args = p.parse_args(argv)
    with psycopg.connect(args.history_url) as pg:
        states = [bytes(row[0]).decode() for row in pg.execute(
            "SELECT state FROM servicecore_events WHERE topic LIKE '%%:Settlement.Drafted' "
            "ORDER BY notification_id")]
    conn = duckdb.connect(config={"threads": 1})
    report = {"made_up": compare(conn, made_up()), "history": compare(conn, states)}
    print(json.dumps(report, indent=1, ensure_ascii=False))
    return 0 if not report["made_up"]["differ"] and not report["history"]["differ"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
