"""Bank statements as Chinese banks export them, uploaded over HTTP: a GBK CSV, a UTF-8 CSV with
a BOM and an XLSX workbook, each with Chinese headers, title and total rows; the lines they
import and the automatic matching on them; and the clear refusals of what cannot be read."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import Workbook

from api.statement_files import XLSX
from servicecore.container import Container
from tests.integration.support import Auth, head, post
from tests.integration.test_money_support import draft, ready_visit, req, today

CSV = "text/csv"


def paid_visit(container: Container, store_id: str, refs: tuple[str, str]) -> str:
    """A 450.00 customer bill, paid 300.00 by bank transfer and 150.00 by card."""
    work_order_id = ready_visit(container, store_id)
    settlement_id = draft(container, store_id, work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)
    for method, amount, ref in (("bank_transfer", "300.00", refs[0]),
                                ("bank_card", "150.00", refs[1])):
        container.settlements.pay(req(store_id), work_order_id=work_order_id, method=method,
                                  amount=amount, provider_ref=ref)
    return str(settlement_id)


def upload(client: TestClient, headers: dict[str, str], store_id: str, data: bytes,
           content_type: str, status: int = 201) -> dict[str, Any]:
    response = client.post("/reconciliation/statements/file", content=data,
                           params={"store_id": store_id, "source": "bank",
                                   "account": "工行 1001-2345"},
                           headers={**headers, "Content-Type": content_type})
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def imported_and_matched(client: TestClient, finance: dict[str, str], store_id: str,
                         data: bytes, content_type: str) -> list[tuple[Any, ...]]:
    """Upload, read the statement back, auto-match: the lines as (no, date, amount, ref,
    counterparty, matched payment)."""
    imported = upload(client, finance, store_id, data, content_type)
    url = f"/reconciliation/statements/{imported['id']}"
    # the matching proposals come from the finance read model: let it see the statement
    client.get(url, headers=finance, params={"wait_for": imported["notification_id"]})
    matched = post(client, f"{url}/auto-match", finance)
    assert matched["matched"] == 2
    view = client.get(url, headers=finance, params={"wait_for": matched["notification_id"]})
    assert view.status_code == 200, view.text
    doc = view.json()
    assert (doc["source"], doc["account"]) == ("bank", "工行 1001-2345")
    lines = sorted(doc["matched"] + doc["unmatched_lines"], key=lambda ln: ln["line_no"])
    return [(ln["line_no"], ln["date"], Decimal(ln["amount"]), ln["reference"],
             ln["counterparty"], ln["payment_id"] is not None) for ln in lines]


def expected(refs: tuple[str, str]) -> list[tuple[Any, ...]]:
    return [(1, today(), Decimal("300.00"), refs[0], "上海某某汽车租赁有限公司", True),
            (2, today(), Decimal("-12.50"), "FEE-1", "中国工商银行", False),
            (3, today(), Decimal("150.00"), refs[1], "王伟", True)]


def test_a_gbk_csv_from_the_bank_is_imported_and_matched(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    refs = (f"ICBC-{store_id}-1", f"POS-{store_id}-2")
    paid_visit(container, store_id, refs)
    finance = auth("finance", f"fin-{store_id}", [store_id])
    day = today().replace("-", "/")
    text = ("中国工商银行对公账户明细\n账号：1001 2345,,,,,,\n"
            "交易日期,摘要,收入金额(元),支出金额(元),余额(元),交易流水号,对方户名\n"
            f"{day} 09:12:01,转账,300.00,,\"1,300.00\",{refs[0]},上海某某汽车租赁有限公司\n"
            f"{day} 10:00:00,手续费,,12.50,\"1,287.50\",FEE-1,中国工商银行\n"
            f"{day} 11:30:45,POS,150.00,,\"1,437.50\",{refs[1]},王伟\n"
            "合计,,450.00,12.50,,,\n")
    assert imported_and_matched(client, finance, store_id, text.encode("gbk"), CSV) == \
        expected(refs)


def test_a_utf8_csv_with_a_bom_and_a_direction_column_is_imported_and_matched(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    refs = (f"CCB-{store_id}-1", f"POS-{store_id}-3")
    paid_visit(container, store_id, refs)
    finance = auth("finance", f"fin-{store_id}", [store_id])
    y, m, d = today().split("-")
    text = ("记账日期,金额（元）,借贷标志,凭证号,对方账户名称,摘要\r\n"
            f"{y}年{m}月{d}日,300.00,贷,{refs[0]},上海某某汽车租赁有限公司,货款\r\n"
            f"{y}年{m}月{d}日,12.50,借,FEE-1,中国工商银行,手续费\r\n"
            f"{y}年{m}月{d}日,150.00,贷,{refs[1]},王伟,刷卡\r\n")
    data = text.encode("utf-8-sig")
    assert data.startswith(b"\xef\xbb\xbf")
    assert imported_and_matched(client, finance, store_id, data, "text/csv; charset=utf-8") == \
        expected(refs)


def test_an_xlsx_workbook_is_imported_and_matched(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    refs = (f"BOC-{store_id}-1", f"POS-{store_id}-4")
    paid_visit(container, store_id, refs)
    finance = auth("finance", f"fin-{store_id}", [store_id])
    on = date.fromisoformat(today())
    book = Workbook()
    sheet = book.active
    sheet.append(["中国银行交易明细"])
    sheet.merge_cells("A1:G1")
    sheet.append([])
    sheet.append(["交易日期", "摘要", "借方发生额（支取）", "贷方发生额（收入）", "余额",
                  "交易流水号", "对方户名"])
    sheet.append([datetime(on.year, on.month, on.day, 9, 12), "转账", None, 300, 1300.0,
                  refs[0], "上海某某汽车租赁有限公司"])
    sheet.append([on, "手续费", 12.5, None, 1287.5, "FEE-1", "中国工商银行"])
    sheet.append([on, "POS", None, 150.0, 1437.5, refs[1], "王伟"])
    sheet.append(["合计", None, 12.5, 450, None, None, None])
    out = io.BytesIO()
    book.save(out)
    assert imported_and_matched(client, finance, store_id, out.getvalue(), XLSX) == \
        expected(refs)


def test_unreadable_files_and_missing_columns_are_422_naming_what_and_store_nothing(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    finance = auth("finance", f"fin-{store_id}", [store_id])
    before = head(container.app)
    no_counterparty = "交易日期,金额,交易流水号\n2026-05-01,1.00,X\n".encode("gbk")
    problem = upload(client, finance, store_id, no_counterparty, CSV, 422)
    assert problem["type"].endswith("/invalid-input") and problem["missing"] == ["counterparty"]
    assert "counterparty (对方户名" in problem["detail"]
    bad_line = ("交易日期,金额,交易流水号,对方户名\n2026-05-01,1.00,A,王伟\n"
                "05/02/2026,2.00,B,李娜\n").encode("utf-8-sig")
    problem = upload(client, finance, store_id, bad_line, CSV, 422)
    assert (problem["line"], problem["row"]) == (2, 3) and "year first" in problem["detail"]
    for data, says in ((b"\x80\x80\x81 not text", "neither UTF-8 nor GBK"),
                       (b"PK\x03\x04 a damaged workbook", "cannot be read as an XLSX workbook"),
                       (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "old Excel"),
                       (b"", "empty")):
        problem = upload(client, finance, store_id, data, XLSX, 422)
        assert says in problem["detail"], problem
    # CSV the csv module cannot read, as a file and as the JSON body's text
    too_wide = ("交易日期,金额,交易流水号,对方户名\n2026-05-01,1.00,X," + "y" * 140_000 + "\n")
    problem = upload(client, finance, store_id, too_wide.encode(), CSV, 422)
    assert "not readable as CSV" in problem["detail"], problem
    response = client.post("/reconciliation/statements", headers=finance, json={
        "csv": too_wide, "store_id": store_id, "account": "1001", "source": "bank"})
    assert response.status_code == 422 and "not readable as CSV" in response.text, response.text
    response = client.post("/reconciliation/statements/file", content=no_counterparty,
                           params={"store_id": store_id, "source": "bank"},
                           headers={**finance, "Content-Type": CSV})
    assert response.headers["content-type"] == "application/problem+json"
    # a token without the store, and a role that may not reconcile
    other = auth("finance", "fin-other", ["ZZ999"])
    assert upload(client, other, store_id, no_counterparty, CSV, 403)["status"] == 403
    advisor = auth("advisor", f"adv-{store_id}", [store_id])
    assert upload(client, advisor, store_id, no_counterparty, CSV, 403)["status"] == 403
    assert head(container.app) == before


def test_an_upload_retried_with_its_idempotency_key_is_stored_once(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    finance = auth("finance", f"fin-{store_id}", [store_id], **{"Idempotency-Key": store_id})
    book = Workbook()
    book.active.append(["交易日期", "金额", "交易流水号", "对方户名"])
    book.active.append([today(), 88, "R-1", "李娜"])
    out = io.BytesIO()
    book.save(out)
    first = upload(client, finance, store_id, out.getvalue(), XLSX)
    stored = head(container.app)
    response = client.post("/reconciliation/statements/file", content=out.getvalue(),
                           params={"store_id": store_id, "source": "bank",
                                   "account": "工行 1001-2345"},
                           headers={**finance, "Content-Type": XLSX})
    assert response.status_code == 201, response.text
    assert response.headers["Idempotent-Replayed"] == "true"
    assert response.json()["id"] == first["id"] and head(container.app) == stored
    # The same key and file for another account is another request, not a replay.
    other = client.post("/reconciliation/statements/file", content=out.getvalue(),
                        params={"store_id": store_id, "source": "bank",
                                "account": "建行 6217-0001"},
                        headers={**finance, "Content-Type": XLSX})
    assert other.status_code == 422, other.text
    assert other.json()["type"].endswith("idempotency-key-reused")
    assert head(container.app) == stored


def test_a_nul_character_in_a_file_is_422_and_the_finance_view_goes_on(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    """Found by the reliability audit: the JSON body refused a NUL character, the file did
    not; the statement was stored (201) and the finance view, whose text columns cannot hold
    NUL, failed on it on every attempt from then on (/health: projection-finance restarting)."""
    finance = auth("finance", f"fin-{store_id}", [store_id])
    before = head(container.app)
    for reference, counterparty in (("42\x0001", "王伟"), ("4201", "王\x00伟")):
        data = f"交易日期,金额,交易流水号,对方户名\n2026-05-01,1.00,{reference},{counterparty}\n"
        for encoded in (data.encode("utf-8"), data.encode("gbk")):
            problem = upload(client, finance, store_id, encoded, CSV, 422)
            assert (problem["line"], problem["row"]) == (1, 2) and "NUL" in problem["detail"]
    assert head(container.app) == before
    # the view still follows the log: a statement uploaded next is read back
    fine = upload(client, finance, store_id,
                  "交易日期,金额,交易流水号,对方户名\n2026-05-01,1.00,4201,王伟\n".encode(), CSV)
    view = client.get(f"/reconciliation/statements/{fine['id']}", headers=finance,
                      params={"wait_for": fine["notification_id"]})
    assert view.status_code == 200, view.text


def test_a_bank_line_of_negative_zero_imports_as_no_line_and_one_of_them_only_is_422(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    """A bank's `-0.00` is zero, not the JSON API's refused `-0`: the line moved no money and
    is left out, the transfer beside it imports; a file of nothing but such a line has no
    lines (422), and nothing is stored."""
    finance = auth("finance", f"fin-{store_id}", [store_id])
    header = "交易日期,交易金额,交易流水号,对方户名\n"
    zero = f"{today()},-0.00,INT-0,中国工商银行\n"
    imported = upload(client, finance, store_id,
                      (header + zero + f"{today()},88.00,T-1,李娜\n").encode("gbk"), CSV)
    assert imported["lines"] == 1
    doc = client.get(f"/reconciliation/statements/{imported['id']}", headers=finance,
                     params={"wait_for": imported["notification_id"]}).json()
    assert [(ln["line_no"], ln["amount"], ln["reference"]) for ln in doc["unmatched_lines"]] == [
        (1, "88.00", "T-1")]
    before = head(container.app)
    refused = upload(client, finance, store_id, (header + zero).encode("gbk"), CSV, status=422)
    assert refused["detail"] == "the statement has no lines"
    assert head(container.app) == before
