"""A bank statement file and its Idempotency-Key: the file as the bank exports it (GBK here,
so its Chinese text is no UTF-8) is the request, byte for byte.

Its import's answer is lost after the COMMIT (the proxy cuts the connection as the server
answers) and the file is sent again with the key: one import, the first answer. Then another
file with the same key, one that differs only in a payer's name, is refused (422, problem+json)
and imports nothing: it is never answered with the first file's statement, as it was while
the fingerprint of a body that is not JSON was its text with every byte that is no UTF-8
replaced by U+FFFD (so "王磊" and "李娜" in GBK were the same four replacement characters).
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

from fastapi.testclient import TestClient

from api.main import create_app
from servicecore.container import Container
from tests.integration.faults import FaultyProxy
from tests.integration.test_lost_acknowledgements import (  # noqa: F401  (fixtures)
    arm,
    assert_replayed,
    behind,
    proxy,
)
from tests.integration.test_lost_acknowledgements_families import count
from tests.integration.test_money_support import today

Auth = Callable[..., dict[str, str]]
PATH = "/reconciliation/statements/file"


def gbk_statement(reference: str, payer: str) -> bytes:
    return ("交易日期,交易金额,交易流水号,对方户名\n"
            f"{today()},1010.00,{reference},{payer}\n").encode("gbk")


def test_a_statement_file_is_imported_once_and_its_key_refuses_another_file(
        behind: Container, proxy: FaultyProxy, client: TestClient,  # noqa: F811
        database_url: str, store_id: str, auth: Auth) -> None:
    reference = f"42000{uuid4().hex[:12]}"
    first_file, other_file = gbk_statement(reference, "王磊"), gbk_statement(reference, "李娜")
    assert first_file != other_file
    headers = {**auth("finance", f"fin-{store_id}", [store_id]),
               "Idempotency-Key": f"statement-{reference}", "Content-Type": "text/csv"}
    params = {"store_id": store_id, "source": "bank", "account": "工行 1001-2345"}

    with TestClient(create_app(behind.api_context())) as api:
        arm(behind.app, proxy)
        first = api.post(PATH, content=first_file, params=params, headers=headers)
        assert proxy.cuts == 1
        again = api.post(PATH, content=first_file, params=params, headers=headers)
    elsewhere = client.post(PATH, content=first_file, params=params, headers=headers)
    assert first.status_code == 201, first.text
    assert_replayed(first, again, elsewhere)
    assert count(database_url, "Statement.Imported", first.json()["id"]) == 1
    assert count(database_url, "Statement.Imported", reference) == 1

    # Another file under the same key: refused, not answered with the first file's statement.
    reused = client.post(PATH, content=other_file, params=params, headers=headers)
    assert reused.status_code == 422, reused.text
    assert reused.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in reused.json()["detail"]
    assert count(database_url, "Statement.Imported", reference) == 1
    # The same file is still the same request: its answer again.
    assert_replayed(first, client.post(PATH, content=first_file, params=params,
                                       headers=headers))
