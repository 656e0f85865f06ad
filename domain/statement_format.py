"""Statement lines from the rows of a bank or payment-provider export, as banks write them.

A statement is a table: a header row naming the columns (in English, or in Chinese as Chinese
banks export them), then one row per transaction. Title rows above the header (bank, account,
period) and note rows (fewer than two filled cells) are not lines; neither are total rows
(合计, 总计, 小计). The columns a statement needs, and the names they go by:

| column | names |
|---|---|
| date | date, 交易日期, 记账日期, 入账日期, 交易时间, 日期 |
| amount | amount, 金额, 交易金额, 发生额 (signed: money in positive) — or a credit and a debit column: 收入, 贷方金额, 转入金额 … / 支出, 借方金额, 转出金额 … — or an amount and a direction (借贷标志: 借 out, 贷 in) |
| reference | reference, 交易流水号, 流水号, 凭证号, 交易参考号, 参考号, 业务流水号 |
| counterparty | counterparty, 对方户名, 对方账户名称, 对方名称, 对方单位, 交易对方 |

A header name may carry its unit in brackets: 金额(元), 收入金额（元）. Amounts may carry
thousands separators (1,234.56) and a currency sign (¥). A row whose money is zero (0.00, or a
zero printed with a sign, -0.00, as some banks' software does) moved no money: it is not a
line, as a totals row is not; an empty amount is refused. The JSON API refuses "-0" as input a
client typed and can correct; a bank's file is read as the bank wrote it. Dates are year first (2026-05-01,
2026/05/01, 20260501, 2026年5月1日), with or without a time.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

from domain.common import InvalidInput
from domain.money import TOO_LARGE

NAMES: dict[str, tuple[str, ...]] = {
    "date": ("date", "交易日期", "记账日期", "入账日期", "交易时间", "日期", "交易日"),
    "amount": ("amount", "金额", "交易金额", "发生额"),
    "credit": ("收入", "收入金额", "贷方金额", "贷方发生额", "转入金额", "存入金额", "存入",
               "credit"),
    "debit": ("支出", "支出金额", "借方金额", "借方发生额", "转出金额", "支取金额", "支取",
              "debit"),
    "direction": ("借贷标志", "借贷方向", "收支方向", "收/支", "收支"),
    "reference": ("reference", "交易流水号", "流水号", "凭证号", "交易参考号", "参考号",
                  "业务流水号"),
    "counterparty": ("counterparty", "对方户名", "对方账户名称", "对方名称", "对方单位",
                     "交易对方", "对方账户名"),
}
REQUIRED = ("date", "amount", "reference", "counterparty")
TOTALS = ("合计", "总计", "小计", "本页合计")
MONEY_IN = ("贷", "收", "收入", "入", "c", "cr", "credit")
MONEY_OUT = ("借", "支", "支出", "出", "d", "dr", "debit")
MAX_LINES = 20_000
# Bytes of a statement's lines written out as JSON (as the event stores them, and, without the
# payers, as the integration event carries them): the integration event must fit the relay's
# largest message (domain/message_size.py, 8 MiB by default), and a statement says "split the
# file" before the generic refusal would. 20,000 lines of 22-character references with a
# company's name as payer take 3.1 MB; lines of 200-character references and payers (the
# most a cell holds) would take 25 MB.
MAX_LINES_BYTES = 4 * 1024 * 1024
# Days from the first line's date to the last one's, at most: a year's statement. The statement's
# page lists the store's unreconciled payments over its dates (± 7 days), so a statement with
# one line in 2000 and one in 2099 listed every such payment the store ever took.
MAX_SPAN_DAYS = 366
HEADER_SEARCH = 30  # rows: a header further down is not looked for
# Characters of a date cell, its time included ("2026-05-01T10:22:33.123456+08:00" is 32): the
# date pattern is not read over a longer one. It backtracks on a date, blanks and more lines:
# a cell of 16,000 blanks took 16 s, holding the interpreter lock (the whole API process).
DATE_MAX = 64
# Characters of a kept text (reference, counterparty): a workbook's cell can unpack to
# megabytes, and the finance view indexes the reference (a btree row holds about 2,700 bytes:
# a longer one stopped the view on every batch). A payment's own references are 80 at most.
TEXT_MAX = 200
_THOUSANDS = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?")
# An amount once the separators and currency signs are gone: the API's grammar
# (domain.money.PLAIN_NUMBER) with a sign either way, as banks write money in and out.
# Decimal() also took "1_000", "1e3" and non-ASCII digits ("１００"), which no bank means.
_AMOUNT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[\sT].*)?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:[\sT]?\d{2}:?\d{2}(?::?\d{2})?)?$")
CENT = Decimal("0.01")


def described(column: str) -> str:
    """The column with the names it goes by, for an error message."""
    if column == "amount":
        return "amount (金额, or 收入 and 支出, or 借方金额 and 贷方金额)"
    return f"{column} ({', '.join(n for n in NAMES[column] if n != column)})"


def csv_rows(text: str) -> list[list[str]]:
    """The rows of CSV text; comma or tab separated."""
    text = text.lstrip("\ufeff")
    sample = "\n".join(text.splitlines()[:HEADER_SEARCH])
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    try:  # newline="": a line break inside a field, or a lone \r, is the csv module's to read
        return [list(row) for row in csv.reader(io.StringIO(text, newline=""),
                                                delimiter=delimiter)]
    except csv.Error as error:  # e.g. a field past the csv module's 128 KiB
        raise InvalidInput(f"the statement is not readable as CSV: {error}") from None


def _cell(value: str | None) -> str:
    text = (value or "").strip().strip("\ufeff").strip()
    if text.startswith('="') and text.endswith('"'):  # Excel's keep-as-text form
        text = text[2:-1].strip()
    return text


def _without_unit(text: str) -> str:
    """The header without a unit in brackets at its end: 金额(元), 金额（元） → 金额.

    In linear time: the regular expression it replaces, \\s*[(（][^)）]*[)）]\\s*$, was tried
    at every position of a cell that never ends in a bracket, so a title cell of 48,000 "("
    took 40 s of CPU (and a 128 KiB one minutes)."""
    body = text.rstrip()
    if not body.endswith((")", "）")):
        return text
    body = body[:-1]
    after = max(body.rfind(")"), body.rfind("）")) + 1  # the bracket holds no closing one
    opening = [i for i in (body.find("(", after), body.find("（", after)) if i >= 0]
    return body[:min(opening)].rstrip() if opening else text


def _name(header: str) -> str:
    return _without_unit(_cell(header)).replace(" ", "").lower()


def _columns(row: list[str]) -> dict[str, int]:
    """Which of our columns a row names, and where (the first of each)."""
    found: dict[str, int] = {}
    names = [_name(h) for h in row]
    for column, aliases in NAMES.items():
        for alias in aliases:
            if alias.lower() in names:
                found.setdefault(column, names.index(alias.lower()))
                break
    return found


def _missing(columns: dict[str, int]) -> list[str]:
    has_amount = "amount" in columns or {"credit", "debit"} <= columns.keys()
    return [c for c in REQUIRED if c not in columns and not (c == "amount" and has_amount)]


def _header(rows: list[list[str]]) -> tuple[int, dict[str, int]]:
    """The header row (index, columns): the first of the rows naming the most columns."""
    best: dict[str, int] = {}
    best_at = -1
    for index, row in enumerate(rows[:HEADER_SEARCH]):
        columns = _columns(row)
        if len(columns) > len(best):
            best, best_at = columns, index
        if not _missing(columns):
            return index, columns
    if len(best) < 2:
        raise InvalidInput("no header row found: a statement needs the columns "
                           + "; ".join(described(c) for c in REQUIRED),
                           missing=list(REQUIRED))
    missing = _missing(best)
    raise InvalidInput(f"the statement lacks columns: {'; '.join(described(c) for c in missing)}",
                       missing=missing, header_row=best_at + 1)


def _day(text: str, where: str) -> str:
    found = (_DATE.match(text) or _COMPACT_DATE.match(text)) if len(text) <= DATE_MAX else None
    try:
        if found is None:
            raise ValueError(text)
        return date(*(int(part) for part in found.groups()[:3])).isoformat()
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise InvalidInput(f"{where}: the date must be year first, e.g. 2026-05-01 "
                           f"(found {shown!r})", field="date") from None


def _amount(text: str, where: str) -> Decimal | None:
    """The amount of a cell, None if empty; thousands separators and currency signs dropped."""
    text = text.replace("¥", "").replace("￥", "").replace("元", "").strip()
    for code in ("RMB", "CNY"):
        text = text.removeprefix(code).removesuffix(code).strip()
    if not text:
        return None
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    shown = text if len(text) <= 40 else text[:40] + "…"  # a cell may be 200,000 characters
    if not _AMOUNT.fullmatch(text):
        raise InvalidInput(f"{where}: the amount is not a number: {shown!r}")
    number = Decimal(text)
    if abs(number) >= TOO_LARGE:
        raise InvalidInput(f"{where}: the amount is too large (at most {TOO_LARGE - 1:f})")
    if number != number.quantize(CENT):
        raise InvalidInput(f"{where}: the amount must have at most 2 decimals: {shown!r}")
    return number.quantize(CENT)


def _signed(cells: list[str], columns: dict[str, int], where: str) -> Decimal | None:
    """The line's money, money in positive; None for a line that moved none (0.00, or a zero
    a bank printed with a sign: -0.00). An empty amount is refused: the file is not read as
    the bank meant it."""

    def at(column: str) -> str:
        index = columns.get(column)
        return cells[index] if index is not None and index < len(cells) else ""

    if "amount" in columns:
        amount = _amount(at("amount"), where)
        if amount and "direction" in columns:
            flag = at("direction").lower()
            if flag in MONEY_OUT:
                amount = -abs(amount)
            elif flag in MONEY_IN:
                amount = abs(amount)
            elif flag:
                raise InvalidInput(f"{where}: the direction must be 借 or 贷 (found {flag!r})")
    else:
        money_in = _amount(at("credit"), where)
        money_out = _amount(at("debit"), where)
        amount = None if money_in is None and money_out is None else \
            abs(money_in or Decimal(0)) - abs(money_out or Decimal(0))
    if amount is None:
        raise InvalidInput(f"{where}: the amount must not be empty")
    return amount if amount != 0 else None


def _storable(text: str, where: str, column: str) -> str:
    """A cell kept as text: a NUL character (or an unpaired surrogate) would be stored in the
    event and then stop the finance view, whose text columns cannot hold it, on every batch;
    so would a reference too long for its index (`TEXT_MAX`)."""
    if len(text) > TEXT_MAX:
        raise InvalidInput(f"{where}: the {column} is longer than {TEXT_MAX} characters "
                           f"({len(text)})", field=column)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{where}: a cell holds an unpaired surrogate", field=column) from None
    if "\x00" in text:
        raise InvalidInput(f"{where}: a cell holds a NUL character", field=column)
    return text


def read_statement(rows: list[list[Any]]) -> list[dict[str, Any]]:
    """Statement lines (line_no 1, 2, …: date, amount, reference, counterparty) from rows."""
    at, columns = _header(rows)
    lines: list[dict[str, Any]] = []
    for number, row in enumerate(rows[at + 1:], start=at + 2):
        cells = [_cell(str(c) if c is not None else "") for c in row]
        filled = [c for c in cells if c]
        if len(filled) < 2 or filled[0].startswith(TOTALS):
            continue
        line_no = len(lines) + 1
        where = f"line {line_no} (row {number} of the file)"

        def at_column(column: str, cells: list[str] = cells) -> str:
            return cells[columns[column]] if columns[column] < len(cells) else ""

        try:
            amount = _signed(cells, columns, where)
            if amount is None:  # no money moved: nothing to reconcile, not a line
                continue
            lines.append({"line_no": line_no, "date": _day(at_column("date"), where),
                          "amount": amount,
                          "reference": _storable(at_column("reference"), where, "reference"),
                          "counterparty": _storable(at_column("counterparty"), where,
                                                    "counterparty")})
        except InvalidInput as error:
            error.extra.update(line=line_no, row=number)
            raise
        if len(lines) > MAX_LINES:
            raise InvalidInput(f"a statement holds at most {MAX_LINES} lines: split the file")
    if not lines:
        raise InvalidInput("the statement has no lines")
    written = len(json.dumps(lines, default=str, ensure_ascii=False, separators=(",", ":"))
                  .encode())
    if written > MAX_LINES_BYTES:
        raise InvalidInput(f"a statement's lines take at most {MAX_LINES_BYTES} bytes written "
                           f"out, as they are published (these {len(lines)} take {written}): "
                           "split the file", lines=len(lines))
    first, last = min(ln["date"] for ln in lines), max(ln["date"] for ln in lines)
    if (date.fromisoformat(last) - date.fromisoformat(first)).days > MAX_SPAN_DAYS:
        raise InvalidInput(f"a statement covers at most {MAX_SPAN_DAYS} days from its first "
                           f"date to its last (found {first} to {last}): split the file",
                           first=first, last=last)
    return lines
