"""A statement file's cells are read within bounds of their own: a file inside the request-body
limit cannot hold the server (a date cell the date pattern backtracks on) nor store far more
than it carries (a workbook cell that unpacks to megabytes of reference)."""

from __future__ import annotations

import io
import secrets
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from api.statement_files import XLSX
from domain.statement_format import TEXT_MAX
from tests.e2e.test_api_contract import log_head, problem
from tests.scratch_systems import served_module

Auth = Callable[..., dict[str, str]]
HEADER = ["交易日期", "金额", "交易流水号", "对方户名"]
# `a5` is a million "R": ten `a4`, each ten `a3`, …
ENTITIES = "<!DOCTYPE worksheet [<!ENTITY a0 \"RRRRRRRRRR\">" + "".join(
    f'<!ENTITY a{n} "{f"&a{n - 1};" * 10}">' for n in range(1, 6)) + "]>"
# A system of the module's own: on the code before these bounds, a refused line was stored and
# stopped the finance view for good, which would have stopped it for every later test too.
served, container, client = served_module("sc_statement_cells", projections=True)


def _upload(client: TestClient, auth: Auth, store_id: str, data: bytes,
            content_type: str) -> Any:
    return client.post("/reconciliation/statements/file",
                       params={"store_id": store_id, "source": "bank", "account": "工行 1001"},
                       headers={**auth("finance", "fin-1", [store_id]),
                                "Content-Type": content_type}, content=data)



def _workbook(cells: list[str], big: str, head: str = "", encoding: str = "utf-8") -> bytes:
    """An XLSX of the header and one line `cells`, whose cell "BIG" holds `big` instead: as a
    bank's software may write it (openpyxl itself cuts a text at Excel's 32,767 characters);
    `head` before the sheet's root element, the sheet written in `encoding`."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(cells)
    saved = io.BytesIO()
    book.save(saved)
    written = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved.getvalue())) as source, \
            zipfile.ZipFile(written, "w", zipfile.ZIP_DEFLATED) as target:
        for part in source.infolist():
            written_part = source.read(part.filename).replace(b"BIG", big.encode())
            if b"BIG" in source.read(part.filename):
                written_part = written_part.replace(b"<worksheet", head.encode() + b"<worksheet")
                written_part = written_part.decode().encode(encoding)
            target.writestr(part, written_part, zipfile.ZIP_DEFLATED)
    return written.getvalue()


def test_a_date_cell_the_date_pattern_backtracks_on_is_422_at_once(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """Found by hand: the date pattern took spaces after the day either as blanks before a time
    or as the blank that starts it, and a time as the rest of its line; a cell of a date, blanks
    and two more lines was tried every way, each reading the rest of the cell: 16,000 blanks
    took 16 s, and a 128 KiB cell (the CSV reader's bound) would take most of an hour. The
    matching holds the interpreter lock: the whole API process answered nothing meanwhile, not
    even /health. A date cell longer than any date with its time is not read as a date."""
    before = log_head(client)
    cell = "2026-05-01" + " " * 30_000 + "\nx\ny"
    body = ",".join(HEADER) + "\n" + f'"{cell}",1.00,R-1,王伟\n'
    refused = _upload(client, auth, store_id, body.encode(), "text/csv")
    found = problem(refused, 422, "invalid-input")
    assert (found["line"], found["row"]) == (1, 2)
    assert found["detail"].startswith("line 1 (row 2 of the file): the date must be year first")
    assert len(refused.content) < 1_000  # the cell is not echoed back whole
    assert log_head(client) == before


def test_a_date_with_its_time_is_still_read(client: TestClient, auth: Auth,
                                            store_id: str) -> None:
    body = ",".join(HEADER) + "\n" + "2026年05月01日 10:22:33,1.00,R-date-time,王伟\n" \
        + "2026-05-02T10:22:33.123456+08:00,2.00,R-date-iso,王伟\n"
    imported = _upload(client, auth, store_id, body.encode(), "text/csv")
    assert imported.status_code == 201, imported.text
    assert imported.json()["lines"] == 2


@pytest.mark.parametrize(("column", "cells"), [
    ("reference", ["2026-05-01", "1.00", "BIG", "王伟"]),
    ("counterparty", ["2026-05-01", "1.00", "R-1", "BIG"]),
])
def test_a_workbook_cell_of_megabytes_is_422_and_stores_nothing(
        client: TestClient, auth: Auth, store_id: str, column: str, cells: list[str]) -> None:
    """Found by hand: a 34 KB workbook whose reference cell unpacks to 30 MB was imported: a
    30 MB statement event from a request of a thousandth of that, which the finance view then
    failed to index on every batch (below). A kept text is at most TEXT_MAX characters."""
    before = log_head(client)
    data = _workbook(cells, "R" * 3_000_000)
    assert len(data) < 16 * 1024
    refused = _upload(client, auth, store_id, data, XLSX)
    found = problem(refused, 422, "invalid-input")
    assert (found["line"], found["row"], found["field"]) == (1, 2, column)
    assert found["detail"] == f"line 1 (row 2 of the file): the {column} is longer than " \
        f"{TEXT_MAX} characters (3000000)"
    assert log_head(client) == before


def test_a_reference_too_long_for_its_index_is_422_and_the_finance_view_goes_on(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """Found by hand: a line's reference of 3,000 characters (one ordinary POST of the JSON
    API's `csv`, or a file) was stored (201), and the finance view indexes (store_id,
    reference): "index row size 3024 exceeds btree version 4 maximum 2704" on every batch from
    then on, so no statement, payment or ledger entry after it reached the view (/health
    "unavailable", the projections restarting; the next statement's page 404)."""
    finance = auth("finance", "fin-1", [store_id])
    before = log_head(client)
    reference = secrets.token_hex(1_600)  # 3,200 characters that do not compress
    refused = client.post("/reconciliation/statements", headers=finance, json={
        "store_id": store_id, "source": "bank", "account": "工行 1001",
        "csv": f"date,amount,reference,counterparty\n2026-05-01,1.00,{reference},王伟\n"})
    found = problem(refused, 422, "invalid-input")
    assert (found["line"], found["field"]) == (1, "reference")
    assert log_head(client) == before
    longest = f"{uuid.uuid4().hex}-" + "9" * (TEXT_MAX - 33)
    fine = _upload(client, auth, store_id, (",".join(HEADER) + f"\n2026-05-01,1.00,{longest},王伟\n"
                                            ).encode(), "text/csv")
    assert fine.status_code == 201, fine.text
    view = client.get(f"/reconciliation/statements/{fine.json()['id']}", headers=finance,
                      params={"wait_for": fine.json()["notification_id"]})
    assert view.status_code == 200, view.text
    assert [line["reference"] for line in view.json()["unmatched_lines"]] == [longest]


def test_a_statement_of_the_most_lines_a_json_body_holds_is_imported(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """A JSON body of 200,000 characters of CSV (within `csv`'s bound) holds 15,000 lines of
    a date and an amount, 1.3 MB written out: refused while a Kafka message took 1 MiB, it is
    imported now that the relay's messages take 8 MiB (a statement's lines at most 4 MiB:
    tests/integration/test_statement_relay.py refuses a larger one)."""
    before = log_head(client)
    csv = "date,amount,reference,counterparty\n" + "20260501,1,,\n" * 15_000
    assert len(csv) <= 200_000
    done = client.post("/reconciliation/statements", headers=auth("finance", "fin-1",
                                                                  [store_id]), json={
        "store_id": store_id, "source": "bank", "account": "工行 1001", "csv": csv})
    assert done.status_code == 201, done.text
    assert done.json()["lines"] == 15_000
    assert log_head(client) > before


def test_a_workbook_declaring_entities_is_422_before_they_expand(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """Found by hand: a sheet's document type declared `a0` as ten characters and each `a<n>`
    as ten `a<n-1>`, and a cell held `&a5;`: the parser expanded it to a 1 MB reference, which
    was imported from a 5 KB file. `&a7;` after 20 MB of blanks in a comment (25 KB zipped)
    made a cell of 100 MB, 67 s and 900 MB, within the parser's own limit of 100 times the
    bytes read. The sheets are counted before they are parsed; a declaration is refused there."""
    before = log_head(client)
    data = _workbook(["2026-05-01", "1.00", "BIG", "王伟"], "&a5;", head=ENTITIES)
    assert len(data) < 16 * 1024
    refused = _upload(client, auth, store_id, data, XLSX)
    assert problem(refused, 422, "invalid-input")["detail"] == (
        "the workbook declares a document type (<!DOCTYPE>), which no spreadsheet program "
        "writes: save it again, or as CSV")
    assert log_head(client) == before


@pytest.mark.parametrize(("head", "big"), [
    (ENTITIES, "&a5;"),  # imported a 1 MB reference
    ("", "R-1</t></is></c>" + '<c t="n"><v>1</v></c>' * 2_000 + '<c t="inlineStr"><is><t>'),
])
def test_a_workbook_sheet_in_utf_16_is_422_not_read_past_its_counts(
        client: TestClient, auth: Auth, store_id: str, head: str, big: str) -> None:
    """Found by hand: the parts are counted as bytes of ASCII markup, and a sheet written in
    UTF-16 (which the XML parser reads as well) passed every count unseen: a document type
    and its entities, a row of 2,000 cells (past the 1,000 a row may hold; the count exists
    because a row of a million cells took 13 s and 1 GB to build). Both were imported."""
    before = log_head(client)
    data = _workbook(["2026-05-01", "1.00", "BIG", "王伟"], big, head=head, encoding="utf-16")
    refused = _upload(client, auth, store_id, data, XLSX)
    assert problem(refused, 422, "invalid-input")["detail"] == (
        "the workbook's XML is not written in UTF-8, as spreadsheet programs write it: save it "
        "again, or as CSV")
    assert log_head(client) == before
