"""`servicecore import-history FILE.csv`: the service history of the previous system, one
visit per row (README, "Importing service history"), through the same command as
`POST /vehicles/{vin}/prior-visits`.

Each row is its own save: a row that is refused stores nothing and is reported with its row
number (the header is row 1), the field and the reason; a row whose `source_ref` the store
has already imported is skipped. The report (JSON, on stdout) lists what was imported,
skipped and refused, and the run's correlation id, which every row's events and the run's
log lines carry (`GET /audit/events?correlation_id=` lists what a run stored); the exit code
is 1 when any row was refused, so a file is never half applied without saying so.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from servicecore.logs import system_run
from servicecore.settings import Settings

log = logging.getLogger(__name__)
COLUMNS = ("vin", "store_id", "source_ref", "date_in", "date_out", "mileage_in", "kind",
           "pay_type", "complaints", "work", "parts", "labor_total", "parts_total", "total")
REQUIRED = ("vin", "store_id", "source_ref", "date_in", "mileage_in")
ITEMS = "|"  # between a cell's items (complaints, work, parts)
FIELDS = ";"  # between an item's fields: op_code;description and part_number;name;qty
MAX_ROWS = 100_000
MAX_LINE = 1_000_000  # characters of one line: a row holds at most some 100 kB of fields
MAX_MILEAGE_DIGITS = 7
BLOCK = 1 << 16  # bytes read at a time to find the line that is not UTF-8


class RowError(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field, self.detail = field, detail


def _items(cell: str | None) -> list[str]:
    return [item.strip() for item in (cell or "").split(ITEMS) if item.strip()]


def _work(cell: str | None) -> list[dict[str, Any]]:
    done = []
    for item in _items(cell):
        code, _, description = item.partition(FIELDS) if FIELDS in item else ("", "", item)
        done.append({"op_code": code.strip() or None, "description": description.strip()})
    return done


def _parts(cell: str | None) -> list[dict[str, Any]]:
    used = []
    for n, item in enumerate(_items(cell)):
        fields = [f.strip() for f in item.split(FIELDS)]
        if len(fields) != 3:
            raise RowError(f"parts[{n}]", "a part is part_number;name;qty")
        used.append({"part_number": fields[0], "name": fields[1] or None, "qty": fields[2]})
    return used


def record_of(row: dict[str, str | None]) -> tuple[str, str, dict[str, Any]]:
    """A CSV row as the command takes it: (vin, store, record); RowError names the column."""
    cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
    for name in REQUIRED:
        if not cells.get(name):
            raise RowError(name, f"{name} is required")
    mileage = cells["mileage_in"].replace(",", "")
    if not mileage.isascii() or not mileage.isdigit() or len(mileage) > MAX_MILEAGE_DIGITS:
        raise RowError("mileage_in", "mileage_in must be a whole number of km")
    totals = {k: cells[c] for k, c in (("labor", "labor_total"), ("parts", "parts_total"),
                                       ("total", "total")) if cells.get(c)}
    record = {"source_ref": cells["source_ref"], "date_in": cells["date_in"],
              "date_out": cells.get("date_out") or None, "mileage_in": int(mileage),
              "kind": cells.get("kind") or "repair", "pay_type": cells.get("pay_type") or "customer",
              "complaints": _items(cells.get("complaints")), "work": _work(cells.get("work")),
              "parts": _parts(cells.get("parts")), "totals": totals or None}
    return cells["vin"], cells["store_id"], record


def _bounded_lines(f: IO[str]) -> Iterator[str]:
    """The file's lines, refusing one longer than `MAX_LINE` before the CSV reader splits it
    (a line of a million commas is a million cells), by its line number (its row number
    unless a quoted field before it spans lines). Each line is read at most `MAX_LINE` + 1
    characters at a time, so a file of gigabytes with no line break is refused having read
    one line's worth, not read whole into memory first."""
    n = 0
    while line := f.readline(MAX_LINE + 1):
        n += 1
        if len(line) > MAX_LINE:
            raise RowError("", f"line {n} is longer than {MAX_LINE:,} characters")
        yield line


def rows_of(path: Path) -> Iterator[tuple[int, dict[str, str | None]]]:
    """The file's rows with their row numbers (the header is row 1); UTF-8, a BOM allowed."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(_bounded_lines(f))
        try:
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise RowError(missing[0], f"the header lacks {', '.join(missing)}")
            for n, row in enumerate(reader, start=2):
                if n > MAX_ROWS + 1:
                    raise RowError("", f"a file holds at most {MAX_ROWS:,} rows")
                yield n, row
        except UnicodeDecodeError as exc:
            raise RowError("", _not_utf8(path)) from exc


def _not_utf8(path: Path) -> str:
    """Which line of the file is not UTF-8 (a GBK export, say): the decoder's own error
    names a position in the block it was reading. Read a block at a time, as the import
    reads (line by line, a file of gigabytes with no line break was read whole first)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    n = 1
    with path.open("rb") as f:
        while True:
            block = f.read(BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:  # its bytes: what the decoder held, and `block`
                n += exc.object[:exc.start].count(b"\n")
                return (f"line {n} is not UTF-8 (save the file as UTF-8: an export in GBK or "
                        "another encoding is not read)")
            if not block:
                return "the file is not UTF-8"
            n += block.count(b"\n")


def check_file(path: Path) -> int:
    """Read the whole file as the import will, keeping no row (a file of 100,000 rows of
    100 kB each is read without holding it): how many rows; raises as `rows_of` does."""
    count = 0
    for _ in rows_of(path):
        count += 1
    return count


def import_file(vehicles: Any, path: Path, user: str) -> dict[str, Any]:
    """Import every row it can; the report of what was imported, skipped and refused. A
    fault that is not the row's (the database gone) stops the import at that row, said in
    `stopped` (row, source_ref, error): that row may or may not be stored, and the file run
    again skips every row that was."""
    from domain.application import Request
    from domain.common import Caller, DomainError

    with system_run(user, role="manager") as run:  # one correlation id for every row's save
        report: dict[str, Any] = {"file": str(path), "correlation_id": run.correlation_id,
                                  "rows": 0, "imported": [], "skipped": [], "refused": []}
        for n, row in rows_of(path):
            report["rows"] += 1
            ref = (row.get("source_ref") or "").strip()
            try:
                vin, store, record = record_of(row)
                caller = Caller(user, "manager", ("*",), datetime.now(UTC), run.correlation_id)
                body = vehicles.import_prior_visit(Request(caller), vin, store_id=store,
                                                   record=record).body
            except RowError as exc:
                report["refused"].append({"row": n, "source_ref": ref, "field": exc.field,
                                          "detail": exc.detail})
                continue
            except DomainError as exc:
                report["refused"].append({"row": n, "source_ref": ref,
                                          "field": exc.extra.get("field") or (
                                              "vin" if "vin" in exc.extra else None),
                                          "detail": exc.detail})
                continue
            except Exception as exc:  # noqa: BLE001 (said in the report, and the run stops)
                error = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
                report["stopped"] = {"row": n, "source_ref": ref, "error": error}
                log.error("import-history %s stopped at row %d (%s): run the file again once "
                          "mended, the rows stored are skipped", path, n, error)
                break
            done = {"row": n, "source_ref": body["source_ref"], "vin": body["vin"]}
            report["skipped" if body["already_imported"] else "imported"].append(done)
        log.info("import-history %s: %d rows, %d imported, %d skipped, %d refused", path,
                 report["rows"], len(report["imported"]), len(report["skipped"]),
                 len(report["refused"]))
    return report


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from servicecore.container import build

    try:
        check_file(args.file)  # a file that cannot be read is refused before anything
    except (OSError, UnicodeDecodeError, csv.Error, RowError) as exc:
        print(json.dumps({"file": str(args.file), "error": str(exc)}, ensure_ascii=False))
        return 2
    container = build(settings)
    try:
        report = import_file(container.vehicles, args.file, args.user)
    finally:
        container.close()
    print(json.dumps({**report, "counts": {k: len(report[k]) for k in
                                           ("imported", "skipped", "refused")}},
                     ensure_ascii=False))
    return 1 if report["refused"] or "stopped" in report else 0


def add_commands(sub: Any) -> None:
    """Add `import-history` to the command line (argparse subparsers)."""
    run = sub.add_parser("import-history", help="import the previous system's service visits "
                         "from a CSV file (README, Importing service history)")
    run.add_argument("file", type=Path, help="UTF-8 CSV with a header row")
    run.add_argument("--user", required=True, help="who imports, kept on every record")
    run.set_defaults(run=_run)
