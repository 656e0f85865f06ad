"""A statement file as a bank exports it, read into rows: CSV in UTF-8 (with or without BOM),
UTF-16 with BOM, or GBK (GB 18030), comma or tab separated; or an XLSX workbook (first sheet).

What the rows mean (header names, amounts, dates) is domain.statement_format's business.
"""

from __future__ import annotations

import codecs
import io
from datetime import date, datetime
from typing import Any
from zipfile import BadZipFile

from domain.common import InvalidInput
from domain.statement_format import csv_rows

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls


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
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            return [[_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
    except unreadable as error:
        raise InvalidInput(f"the file cannot be read as an XLSX workbook ({error})") from None


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
