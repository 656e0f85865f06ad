"""A statement file as a bank exports it, read into rows: CSV in UTF-8 (with or without BOM),
UTF-16 with BOM, or GBK (GB 18030), comma or tab separated; or an XLSX workbook (first sheet).

What the rows mean (header names, amounts, dates) is domain.statement_format's business.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any
from zipfile import BadZipFile, ZipFile

from domain.common import InvalidInput
from domain.statement_format import HEADER_SEARCH, MAX_LINES, csv_rows

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls
# A workbook is a zip: a request body within the size limit can unpack to millions of rows (a
# 160 KB file to a million, 23 s of CPU and 480 MB here). A statement of the most lines it may
# hold unpacks to about 10 MB; the first sheet is read no further than these bounds.
MAX_UNPACKED = 32 * 1024 * 1024  # bytes of the workbook's parts, as the zip declares them
MAX_ROWS = 100_000  # rows of the first sheet, blank ones (styled, say) included
MAX_FILLED_ROWS = MAX_LINES + 2 * HEADER_SEARCH  # rows with a value: lines, titles, totals
MAX_COLUMNS = 100
# Cells as the sheets' XML holds them, counted before the workbook is parsed: the reader builds
# a whole row before `max_col` leaves out what is past MAX_COLUMNS, so one row of 1.5 million
# cells (an 81 KB file, within MAX_UNPACKED) took 13 s and 1 GB here. A statement of the most
# lines, with a few dozen columns, stays well within both.
MAX_CELLS_IN_A_ROW = 1_000
MAX_CELLS = 500_000
# The shared strings are read whole when the workbook opens: 1.8 million of them (a 79 KB file)
# took 44 s. A statement's text cells (references, names) are far fewer.
MAX_STRINGS = 200_000
# A document type declaration: no spreadsheet program writes one (OOXML has none), and its
# entities expand as the sheet is parsed: "&a7;", ten "&a6;" each ten "&a5;" …, made a cell of
# 100 MB from a 25 KB file (67 s, 900 MB; the parser's own limit allows 100 times the bytes read).
_ELEMENT = re.compile(rb"<(?:(?:[A-Za-z_][\w.-]*:)?(row|c|si)(?=[\s/>])|!(DOCTYPE|ENTITY))")
# The parts are counted as bytes of ASCII markup: a part in UTF-16 (which the XML parser reads,
# by its byte-order mark or its first bytes) or declared in another encoding passed every count
# unseen, its document type and its million-cell rows too. Spreadsheet programs write UTF-8.
_DECLARED = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
_HEAD = 1024  # bytes in which an XML declaration ends
_CHUNK = 1 << 20
_OVERLAP = 64  # longer than anything the pattern matches


def decode(data: bytes) -> str:
    """The text of a CSV file: a BOM says the encoding; else UTF-8, else GBK (as GB 18030)."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError:
                raise InvalidInput(f"the file starts with a {encoding} byte-order mark but is "
                                   f"not {encoding} text") from None
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("the file is neither UTF-8 nor GBK text, nor an XLSX workbook")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() \
            else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def xlsx_rows(data: bytes) -> list[list[str]]:
    """The first sheet's rows, every cell as text (dates as YYYY-MM-DD)."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    unreadable = (BadZipFile, InvalidFileException, KeyError, IndexError, ValueError, TypeError,
                  OSError, SyntaxError)  # SyntaxError: the XML parsers' errors
    try:
        with ZipFile(io.BytesIO(data)) as parts:
            unpacked = sum(part.file_size for part in parts.infolist())
            if unpacked > MAX_UNPACKED:
                raise InvalidInput(f"the workbook unpacks to {unpacked // 2**20} MiB, more than "
                                   f"a statement of {MAX_LINES} lines can: save only the "
                                   "statement")
            for part in parts.infolist():
                _count_elements(parts, part.filename)
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return _bounded_rows(book.worksheets[0].iter_rows(max_col=MAX_COLUMNS,
                                                              values_only=True))
        finally:
            book.close()
    except unreadable as error:
        raise InvalidInput(f"the file cannot be read as an XLSX workbook ({error})") from None


def _elements(parts: ZipFile, name: str) -> Iterator[bytes]:
    """The names of the rows, cells and shared strings of a part, as its XML streams in (no
    parse, no more than a chunk in memory)."""
    carry = b""
    with parts.open(name) as stream:
        first = stream.read(_CHUNK)
        _require_utf8(first[:_HEAD])
        while True:
            chunk, first = first or stream.read(_CHUNK), b""
            data = carry + chunk
            cut = len(data) if not chunk else max(0, len(data) - _OVERLAP)
            for found in _ELEMENT.finditer(data):
                if found.start() >= cut:
                    break
                yield found.group(1) or found.group(2)
            if not chunk:
                return
            carry = data[cut:]


def _require_utf8(head: bytes) -> None:
    """Refuse a part whose first bytes say it is XML in another encoding than UTF-8."""
    text = head.removeprefix(codecs.BOM_UTF8)
    declared = _DECLARED.match(text.split(b">", 1)[0] + b">")
    if text.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, b"<\x00", b"\x00<")) or (
            text.startswith(b"<?xml") and b">" not in text) or (
            declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8")):
        raise InvalidInput("the workbook's XML is not written in UTF-8, as spreadsheet "
                           "programs write it: save it again, or as CSV")


def _count_elements(parts: ZipFile, name: str) -> None:
    """Refuse a part with more cells, a row with more cells, or more shared strings than a
    statement can have."""
    cells = in_row = strings = 0
    for element in _elements(parts, name):
        if element in (b"DOCTYPE", b"ENTITY"):
            raise InvalidInput("the workbook declares a document type (<!DOCTYPE>), which no "
                               "spreadsheet program writes: save it again, or as CSV")
        if element == b"row":
            in_row = 0
        elif element == b"si":
            strings += 1
            if strings > MAX_STRINGS:
                raise InvalidInput(f"the workbook holds more than {MAX_STRINGS} texts: save "
                                   "only the statement")
        else:
            cells += 1
            in_row += 1
            if in_row > MAX_CELLS_IN_A_ROW:
                raise InvalidInput(f"a row of the workbook holds more than "
                                   f"{MAX_CELLS_IN_A_ROW} cells: save only the statement")
            if cells > MAX_CELLS:
                raise InvalidInput(f"a sheet of the workbook holds more than {MAX_CELLS} "
                                   "cells: save only the statement's rows and columns")


def _bounded_rows(values: Iterable[Sequence[Any]]) -> list[list[str]]:
    """The rows as text, refused as soon as there are more than a statement can hold."""
    rows: list[list[str]] = []
    filled = 0
    for row in values:
        cells = [_text(v) for v in row]
        filled += any(cells)
        if filled > MAX_FILLED_ROWS:
            raise InvalidInput(f"a statement holds at most {MAX_LINES} lines: split the file")
        if len(rows) == MAX_ROWS:
            raise InvalidInput(f"the first sheet has more than {MAX_ROWS} rows, blank ones "
                               "included: save only the statement's rows")
        rows.append(cells)
    return rows


def statement_rows(data: bytes, content_type: str | None = None) -> list[list[str]]:
    """The rows of a statement file; the content tells XLSX from CSV, whatever the type says."""
    if content_type and content_type.split(";")[0].strip().lower() == "multipart/form-data":
        raise InvalidInput("send the file itself as the request body (Content-Type text/csv "
                           f"or {XLSX}), not a form")
    if not data.strip():
        raise InvalidInput("the statement file is empty")
    if data.startswith(ZIP_MAGIC):
        return xlsx_rows(data)
    if data.startswith(OLE_MAGIC):
        raise InvalidInput("the file is an old Excel workbook (.xls): save it as .xlsx or CSV")
    return csv_rows(decode(data))
