"""CSV files that Excel on a Chinese Windows reads as UTF-8: with `bom=true` every CSV route
starts its file with the UTF-8 byte order mark, the rest byte for byte the file without it;
without it (the default) the file is as it always was."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_parts_api import head, new_part, post
from tests.integration.analytics_support import publish_analytics

Auth = Callable[..., dict[str, str]]
BOM = b"\xef\xbb\xbf"


def _both(client: TestClient, url: str, headers: dict[str, str],
          params: dict[str, str]) -> tuple[bytes, bytes]:
    plain = client.get(url, headers=headers, params={**params, "format": "csv"})
    marked = client.get(url, headers=headers, params={**params, "format": "csv",
                                                      "bom": "true"})
    for answer in (plain, marked):
        assert answer.status_code == 200, (url, answer.text)
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["content-disposition"].startswith("attachment; filename=")
    return plain.content, marked.content


def test_the_month_end_csv_files_carry_the_byte_order_mark_when_asked(
        container: Container, client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    finance = auth("finance", stores=[store_id])
    analyst = auth("analyst", stores=[store_id])
    # A delivery from a supplier with a Chinese name: journal lines for the month's files.
    number = new_part(client, clerk, min_stock=0, name="前刹车片")
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 2, "unit_cost": "200.00", "supplier": "博世汽车配件", "supplier_doc": "DN-1"}, 201)
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    wait = str(head(client))
    publish_analytics(container)
    for url, headers, params in (
            ("/ledger", finance, {"month": month, "store_id": store_id, "wait_for": wait}),
            ("/ledger/trial-balance", finance, {"month": month, "store_id": store_id}),
            ("/analytics/kpis/parts_turnover", analyst, {"store_id": store_id})):
        plain, marked = _both(client, url, headers, params)
        assert not plain.startswith(BOM), url
        assert marked == BOM + plain, url
        # Read as Excel reads a marked file (utf-8-sig): the same header and rows.
        rows = list(csv.reader(io.StringIO(marked.decode("utf-8-sig"), newline="")))
        assert rows == list(csv.reader(io.StringIO(plain.decode("utf-8"), newline="")))
        assert rows[0][0].isascii() and len(rows) > 1, (url, rows[:2])
    # The JSON answer ignores it.
    json_answer = client.get("/ledger/trial-balance", headers=finance,
                             params={"month": month, "store_id": store_id, "bom": "true"})
    assert json_answer.status_code == 200 and json_answer.json()["balanced"] is True
    refused = client.get("/ledger/trial-balance", headers=finance,
                         params={"month": month, "format": "csv", "bom": "maybe"})
    assert refused.status_code == 422, refused.text
