"""An insurer's bills in DuckDB, however its name was typed: the settlements keep the name as
typed and its key, the loader keeps the insurer master (`dim_insurer`, `dim_insurer_name`), and
a join groups the bills by the master's insurer. A name given to the insurer after its bills
were loaded groups them too, without a settlement row being written again, and the tables stay
equal to a load from event 0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from fastapi.testclient import TestClient

from analytics.verify import files_to_verify, verify_files
from domain.insurer import insurer_key
from servicecore.container import Container
from tests.e2e.test_parts_api import Auth, post
from tests.e2e.test_receivables_insurers import settled_claim
from tests.integration.analytics_support import load_and_publish
from tests.scratch_systems import served_module

# README "Analytics", "By insurer" (with the typed names listed, for one store)
BY_INSURER = """
    SELECT coalesce(i.code, s.insurer_key) AS insurer, count(*) AS bills,
           sum(s.insurance_total) AS billed, list(DISTINCT s.insurer ORDER BY s.insurer) AS typed
    FROM fact_settlements s
    LEFT JOIN dim_insurer_name n ON n.name_key = s.insurer_key
    LEFT JOIN dim_insurer i ON i.insurer_id = n.insurer_id
    WHERE s.status = 'settled' AND s.insurer IS NOT NULL AND s.store_id = ?
    GROUP BY 1 ORDER BY 1"""


# A log of this module's own: the test loads the whole log three times and verifies it against
# a load from event 0, which on the session's log (every earlier test's events) takes minutes.
served, container, client = served_module("sc_insurers")


def _query(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of the loader's file, opened read-only between loads."""
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


def test_an_insurers_bills_group_by_the_master_however_they_were_typed(
        client: TestClient, auth: Auth, container: Container, store_id: str,
        tmp_path: Path) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    code, short = "AN" + store_id, f"中国平安{store_id}"
    english, other, stranger = f"Ping An {store_id}", f"平安产险{store_id}", f"太平洋{store_id}"
    settled_claim(client, auth, store_id, short, "ZG-1")  # before the master knows it
    made = post(client, "/insurers", manager, {
        "code": code, "name": f"中国平安财产保险股份有限公司{store_id}", "short_name": short,
        "aliases": [english]}, 201)
    settled_claim(client, auth, store_id, f" PING  an {store_id}", "PA-1")
    settled_claim(client, auth, store_id, other, "PA-2")  # a name of no insurer yet
    settled_claim(client, auth, store_id, stranger, "TP-1")
    path = tmp_path / "analytics.duckdb"
    load_and_publish(container, path)

    # The settlements keep the names as typed (trimmed), each with its key.
    typed = _query(path, """SELECT insurer, insurer_key FROM fact_settlements
                            WHERE store_id = ? ORDER BY insurer""", store_id)
    assert typed == sorted((name, insurer_key(name)) for name in (
        short, f"PING an {store_id}", other, stranger))
    assert _query(path, "SELECT insurer_id, code, short_name, active FROM dim_insurer "
                  "WHERE code = ?", code) == [(made["id"], code, short, True)]
    # Grouped through the master: its two names are one insurer; the others their own.
    assert _query(path, BY_INSURER, store_id) == sorted([
        (code, 2, 1400, [f"PING an {store_id}", short]),
        (insurer_key(other), 1, 700, [other]), (insurer_key(stranger), 1, 700, [stranger])])
    rows_before = _query(path, """SELECT settlement_id, last_notification_id FROM fact_settlements
                                  WHERE store_id = ? ORDER BY 1""", store_id)

    # The manager gives the insurer the third name: the bill loaded before groups under it,
    # its row as it was.
    post(client, f"/insurers/{code}/aliases", manager,
         {"add": [other], "reason": "typed so on the claims desk"})
    load_and_publish(container, path)
    assert _query(path, BY_INSURER, store_id) == sorted([
        (code, 3, 2100, sorted([f"PING an {store_id}", short, other])),
        (insurer_key(stranger), 1, 700, [stranger])])
    assert _query(path, """SELECT settlement_id, last_notification_id FROM fact_settlements
                           WHERE store_id = ? ORDER BY 1""", store_id) == rows_before
    # A short name let go by a rename names no insurer any more: its bill is its own again.
    client.patch(f"/insurers/{code}", headers=manager,
                 json={"short_name": f"平安财险{store_id}", "reason": "the insurer's new brand"})
    load_and_publish(container, path)
    assert _query(path, "SELECT insurer_id FROM dim_insurer_name WHERE name_key = ?",
                  insurer_key(short)) == [(None,)]
    assert [row[:2] for row in _query(path, BY_INSURER, store_id)] == sorted([
        (code, 2), (insurer_key(short), 1), (insurer_key(stranger), 1)])

    # The tables (the master's included) equal a load from event 0 in other batches.
    check = verify_files(container.app, files_to_verify(path), zone="Asia/Shanghai",
                         batch_size=5000)
    assert check.ok, check.as_dict()
