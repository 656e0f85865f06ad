"""Statement lines from the rows of bank exports: English or Chinese headers, title and total
rows, credit / debit columns, direction flags, amounts and dates as banks write them."""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook

from api.statement_files import decode, statement_rows
from domain.common import InvalidInput
from domain.statement_format import csv_rows, read_statement

D = Decimal


def lines(rows: list[list[str]]) -> list[tuple[str, Decimal, str, str]]:
    return [(ln["date"], ln["amount"], ln["reference"], ln["counterparty"])
            for ln in read_statement(rows)]


def test_a_chinese_bank_export_with_title_rows_income_and_expense_columns_and_a_total() -> None:
    rows = [["中国工商银行 账户明细"], ["账号：1001 2345 6789", "", ""], [],
            ["交易日期", "摘要", "收入金额(元)", "支出金额(元)", "余额", "交易流水号", "对方户名"],
            ["2026-05-01 10:22:33", "转账", "1,234.56", "", "5,000.00", '="0012345"', "王伟"],
            ["2026/05/02", "手续费", "", "12.50", "4,987.50", "F-2", "中国工商银行"],
            ["20260503", "转账", "¥300.00", "", "", "T-3", "上海某某汽车租赁有限公司"],
            ["合计", "", "1,534.56", "12.50", "", "", ""],
            ["以上数据仅供参考"]]
    assert lines(rows) == [
        ("2026-05-01", D("1234.56"), "0012345", "王伟"),
        ("2026-05-02", D("-12.50"), "F-2", "中国工商银行"),
        ("2026-05-03", D("300.00"), "T-3", "上海某某汽车租赁有限公司")]
    assert [ln["line_no"] for ln in read_statement(rows)] == [1, 2, 3]


def test_an_amount_with_a_debit_credit_flag_and_year_month_day_in_chinese() -> None:
    rows = [["记账日期", "金额（元）", "借贷标志", "凭证号", "对方账户名称"],
            ["2026年5月4日", "88.00", "贷", "V-1", "李娜"],
            ["2026年05月04日", "20.00", "借", "V-2", "电费"]]
    assert lines(rows) == [("2026-05-04", D("88.00"), "V-1", "李娜"),
                           ("2026-05-04", D("-20.00"), "V-2", "电费")]


def test_english_headers_keep_working_and_tabs_separate_too() -> None:
    assert lines(csv_rows("date,amount,reference,counterparty\n2026-05-01,-5.00,X,Y\n")) == [
        ("2026-05-01", D("-5.00"), "X", "Y")]
    assert lines(csv_rows("Date\tAmount\tReference\tCounterparty\n2026-05-01\t5\tX\tY\n")) == [
        ("2026-05-01", D("5.00"), "X", "Y")]


def test_line_breaks_of_every_kind_and_inside_quoted_fields_read_as_csv_does() -> None:
    # \r\n (Windows), a lone \r (old Mac exports), and a quoted counterparty that spans lines
    for text in ("date,amount,reference,counterparty\r\n2026-05-01,5,X,Y\r\n",
                 "date,amount,reference,counterparty\r2026-05-01,5,X,Y\r",
                 'date,amount,reference,counterparty\n2026-05-01,5,X,"Y\r\nLtd"\n'):
        assert [(d, a, r) for d, a, r, _ in lines(csv_rows(text))] == [
            ("2026-05-01", D("5.00"), "X")], repr(text)
    assert lines(csv_rows('date,amount,reference,counterparty\n2026-05-01,5,X,"Y\r\nLtd"\n')
                 )[0][3].split() == ["Y", "Ltd"]


def test_text_the_csv_module_cannot_read_is_refused_not_a_crash() -> None:
    # a bare \r inside a field (what the fuzzer sent) reads as a line break, not an error
    assert csv_rows("a\rb,c") == [["a"], ["b", "c"]]
    with pytest.raises(InvalidInput, match="not readable as CSV"):  # a field past 128 KiB
        csv_rows("date,amount,reference,counterparty\n" + "x" * 140_000 + ",1,X,Y\n")


@pytest.mark.parametrize(("rows", "says"), [
    ([["交易日期", "金额", "交易流水号"], ["2026-05-01", "1.00", "X"]],
     "lacks columns: counterparty (对方户名"),
    ([["交易日期", "收入", "对方户名", "流水号"], ["2026-05-01", "1.00", "Y", "X"]],
     "lacks columns: amount (金额, or 收入 and 支出"),
    ([["账户明细"], ["a", "b"]], "no header row found"),
    ([["交易日期", "金额", "流水号", "对方户名"], ["05/01/2026", "1.00", "X", "Y"]],
     "line 1 (row 2 of the file): the date must be year first"),
    ([["交易日期", "金额", "流水号", "对方户名"], ["2026-05-01", "1,00", "X", "Y"]],
     "line 1 (row 2 of the file): the amount is not a number"),
    ([["交易日期", "金额", "流水号", "对方户名"], ["2026-05-01", "1.005", "X", "Y"]],
     "at most 2 decimals"),
    ([["交易日期", "收入", "支出", "流水号", "对方户名"], ["2026-05-01", "", "", "X", "Y"]],
     "the amount must not be empty"),
    ([["交易日期", "金额", "流水号", "对方户名"], ["2026-05-01", "", "X", "Y"]],
     "line 1 (row 2 of the file): the amount must not be empty"),
    ([["交易日期", "金额", "借贷标志", "流水号", "对方户名"],
      ["2026-05-01", "1.00", "?", "X", "Y"]], "the direction must be 借 or 贷"),
    ([["交易日期", "金额", "流水号", "对方户名"]], "the statement has no lines"),
])
def test_what_cannot_be_read_is_refused_saying_where(rows: list[list[str]], says: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(says)):
        read_statement(rows)


def test_a_refusal_names_the_missing_columns_and_the_line() -> None:
    with pytest.raises(InvalidInput) as missing:
        read_statement([["日期", "金额"], ["2026-05-01", "1.00"]])
    assert missing.value.extra["missing"] == ["reference", "counterparty"]
    with pytest.raises(InvalidInput) as bad:
        read_statement([["日期", "金额", "流水号", "对方户名"], ["2026-05-01", "1.00", "X", "Y"],
                        ["2026-13-01", "1.00", "X", "Y"]])
    assert (bad.value.extra["line"], bad.value.extra["row"]) == (2, 3)


def test_files_in_gbk_utf8_with_and_without_bom_and_utf16_read_the_same() -> None:
    text = "交易日期,金额,交易流水号,对方户名\n2026-05-01,1.00,X,王伟\n"
    expected = [["交易日期", "金额", "交易流水号", "对方户名"], ["2026-05-01", "1.00", "X", "王伟"]]
    for data in (text.encode("gbk"), text.encode("utf-8"), text.encode("utf-8-sig"),
                 text.encode("utf-16")):
        assert statement_rows(data) == expected
    with pytest.raises(InvalidInput, match="neither UTF-8 nor GBK"):
        decode(b"\x80\x80\x81 not text")
    with pytest.raises(InvalidInput, match="old Excel workbook"):
        statement_rows(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(InvalidInput, match="empty"):
        statement_rows(b"  \n")


def _rewritten_workbook(change: Callable[[str, bytes], bytes],
                        extra: dict[str, bytes] | None = None) -> bytes:
    """A one-row XLSX (a statement's header) with each part passed through `change` and the
    `extra` parts added, packed as tightly as zip goes."""
    book = Workbook()
    book.active.append(["交易日期", "金额", "交易流水号", "对方户名"])
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain.getvalue())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for part in src.infolist():
            dst.writestr(part.filename, change(part.filename, src.read(part.filename)))
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return out.getvalue()


def _inflated_workbook(rows: int, cells: str) -> bytes:
    """A small XLSX whose first sheet unpacks to `rows` rows of `cells` (no dimension element,
    so a reader cannot know the size before it reads)."""
    def change(name: str, data: bytes) -> bytes:
        if name != "xl/worksheets/sheet1.xml":
            return data
        text = re.sub(r"<dimension[^>]*/>", "", data.decode())
        return text.replace("</sheetData>", f"<row>{cells}</row>" * rows
                            + "</sheetData>").encode()

    return _rewritten_workbook(change)


def test_a_small_workbook_that_unpacks_to_a_million_rows_is_refused_before_it_is_read() -> None:
    bomb = _inflated_workbook(1_000_000, '<c t="n"><v>1</v></c><c t="n"><v>2</v></c>')
    assert len(bomb) < 256 * 1024  # within the request body limit
    with pytest.raises(InvalidInput, match="unpacks to 50 MiB"):
        statement_rows(bomb)


@pytest.mark.parametrize(("cells", "says"), [
    ('<c t="n"><v>1</v></c><c t="n"><v>2</v></c>', "at most 20000 lines"),
    ("", "more than 100000 rows, blank ones included"),
])
def test_a_sheet_longer_than_a_statement_is_refused_as_soon_as_that_is_known(
        cells: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        statement_rows(_inflated_workbook(120_000, cells))


@pytest.mark.parametrize(("rows", "cells", "says"), [
    # one row of 200,000 cells: the reader builds the whole row before it leaves out the
    # columns past 100 (1.5 million cells, an 81 KB file: 13 s and 1 GB)
    (1, '<c t="n"><v>1</v></c>' * 200_000, "a row of the workbook holds more than 1000 cells"),
    # many rows of up to 1,000 cells, fewer than a statement's lines, still past what one holds
    (700, '<c t="n"><v>1</v></c>' * 999, "holds more than 500000 cells"),
])
def test_a_sheet_with_more_cells_than_a_statement_is_refused_before_it_is_parsed(
        rows: int, cells: str, says: str) -> None:
    bomb = _inflated_workbook(rows, cells)
    assert len(bomb) < 256 * 1024  # within the request body limit
    with pytest.raises(InvalidInput, match=says):
        statement_rows(bomb)


def _workbook_with_texts(count: int) -> bytes:
    """A small XLSX with a shared-strings part of `count` texts (read whole when it opens)."""
    def change(name: str, data: bytes) -> bytes:
        if name == "[Content_Types].xml":
            return data.replace(b"</Types>", (
                b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                b"</Types>"))
        if name == "xl/_rels/workbook.xml.rels":
            return data.replace(b"</Relationships>", (
                b'<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/'
                b'officeDocument/2006/relationships/sharedStrings" '
                b'Target="sharedStrings.xml"/></Relationships>'))
        return data

    return _rewritten_workbook(change, {"xl/sharedStrings.xml": (
        b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main">' + b"<si><t>a</t></si>" * count + b"</sst>")})


def test_a_workbook_with_more_texts_than_a_statement_is_refused_before_it_opens() -> None:
    """1.8 million shared strings in a 79 KB file took 44 s to open."""
    assert len(statement_rows(_workbook_with_texts(1_000))) == 1
    bomb = _workbook_with_texts(300_000)
    assert len(bomb) < 256 * 1024
    with pytest.raises(InvalidInput, match="more than 200000 texts"):
        statement_rows(bomb)


def test_cells_are_counted_across_the_chunks_the_sheet_is_read_in() -> None:
    """Counted while the sheet (2 MB here) streams in 1 MiB chunks: rows of 1,000 cells pass
    wherever the chunks cut them, one more cell does not."""
    wide = '<c t="n"><v>2</v></c>' * 1_000
    assert len(statement_rows(_inflated_workbook(100, wide))) == 101
    with pytest.raises(InvalidInput, match="more than 1000 cells"):
        statement_rows(_inflated_workbook(100, wide + '<c t="n"><v>3</v></c>'))


@pytest.mark.parametrize("cell", ["(" * 40_000, "金额(" + " " * 40_000 + "元"])
def test_a_long_title_cell_is_read_in_linear_time(cell: str) -> None:
    """Found by the reliability audit: the header search stripped a bracketed unit with a
    regular expression tried at every position of a cell that never ends in a bracket, so
    a title cell of 48,000 "(" took 40 s of CPU (a 128 KiB one, minutes) per upload."""
    rows = [[cell], ["交易日期", "金额(元)", "交易流水号", "对方户名（全称）"],
            ["2026-05-01", "1.00", "R-1", "王伟"]]
    started = time.process_time()
    assert lines(rows) == [("2026-05-01", D("1.00"), "R-1", "王伟")]
    assert time.process_time() - started < 1.0


@pytest.mark.parametrize("amount", ["1_000.00", "1e3", "１０００.00", "1\u00a0000.00",
                                    "１,０００.00", "100." + "0" * 5000 + "1"])
def test_an_amount_in_other_than_a_bank_s_notation_is_refused(amount: str) -> None:
    """Decimal() read "1_000.00", "1e3" and non-ASCII digits as 1000; no bank writes them. The
    cell is not echoed back whole."""
    with pytest.raises(InvalidInput) as refused:
        read_statement([["交易日期", "金额", "流水号", "对方户名"], ["2026-05-01", amount, "X", "Y"]])
    assert "line 1 (row 2 of the file)" in refused.value.detail
    assert len(refused.value.detail) < 200


@pytest.mark.parametrize(("amount", "read"), [("+1,010.00", "1010.00"), ("-12.5", "-12.50"),
                                              ("¥ 300", "300.00"), ("RMB1,234,567.80", "1234567.80"),
                                              (" 7.00 ", "7.00")])
def test_a_bank_s_notation_is_still_read(amount: str, read: str) -> None:
    rows = [["交易日期", "金额", "流水号", "对方户名"], ["2026-05-01", amount, "X", "Y"]]
    assert lines(rows)[0][1] == D(read)


def test_a_zero_line_a_bank_printed_with_a_minus_moved_no_money_and_is_no_line() -> None:
    """Some banks' software prints an empty side as -0.00 (a float zero with its sign). The
    JSON API refuses -0 a client typed; a bank's file is read as the bank wrote it: -0.00 is
    zero, a line of no money is not a line (nothing to reconcile), the other lines import and
    no amount is ever a signed zero."""
    header = ["交易日期", "金额", "流水号", "对方户名"]
    read = read_statement([header, ["2026-05-01", "-0.00", "Z", "银行"],
                           ["2026-05-01", "10.00", "A", "赵敏"], ["2026-05-02", "0", "Z2", "银行"]])
    assert [(ln["line_no"], ln["amount"], ln["reference"]) for ln in read] == [
        (1, D("10.00"), "A")]
    # credit and debit columns: -0.00 on the side that moved nothing is that side's zero
    both = ["交易日期", "收入", "支出", "流水号", "对方户名"]
    assert lines([both, ["2026-05-01", "-0.00", "25.00", "F", "银行"],
                  ["2026-05-01", "30.00", "-0.00", "T", "王伟"],
                  ["2026-05-01", "-0.00", "-0.00", "N", "银行"]]) == [
        ("2026-05-01", D("-25.00"), "F", "银行"), ("2026-05-01", D("30.00"), "T", "王伟")]
    with pytest.raises(InvalidInput, match="the statement has no lines"):
        read_statement([header, ["2026-05-01", "-0.00", "Z", "银行"]])


@given(cents=st.integers(min_value=-10**8, max_value=10**8),
       form=st.sampled_from(["{}", "¥{}", "{} 元", "RMB{}"]))
def test_no_amount_read_is_a_zero_and_every_other_keeps_its_sign(cents: int, form: str) -> None:
    text = f"{Decimal(cents) / 100:.2f}"
    if cents == 0:
        text = "-" + text  # the zero a bank prints with its sign
    read = read_statement([["date", "amount", "reference", "counterparty"],
                           ["2026-05-01", form.format(text), "R", "P"],
                           ["2026-05-01", "1.00", "S", "P"]])
    amounts = [ln["amount"] for ln in read]
    assert all(a != 0 and not (a.is_signed() and a >= 0) for a in amounts)
    assert amounts == ([D(cents) / 100] if cents else []) + [D("1.00")]
