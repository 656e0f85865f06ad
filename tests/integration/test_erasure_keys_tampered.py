"""Customers' keys changed behind the log's back: a key deleted with no erasure recorded (the
customer's data shredded, nobody named, no reason), and an erased customer's key put back
from a backup (the erasure undone). Neither touches a stored event, so the chain stays whole;
`audit verify` compares the keys with the customers' streams and names the customer.
These tests tamper with the owner's rights, so they run on a database of their own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.pii import ERASED
from projections.work_orders import WorkOrdersView
from servicecore import cli
from servicecore.container import Container
from tests.integration.support import open_order, request
from tests.scratch_systems import scratch_system
from workers.projection_runner import ProjectionRunner


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    with scratch_system(server_url, "sc_keys", tmp_path) as scratched:
        yield scratched


def _verify(url: str, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any], str]:
    monkeypatch.setenv("DATABASE_URL", url)
    code = cli.main(["audit", "verify", "--quiet"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.err


def _customer(system: Container, name: str, phone: str) -> UUID:
    opened = open_order(system.work_orders, "S01", customer={"name": name, "phone": phone})
    return UUID(opened["customer_id"])


def _apply_work_orders(system: Container) -> None:
    view = next(v for v in system.views if isinstance(v, WorkOrdersView))
    ProjectionRunner(system.app, system.pool, view).catch_up()


def test_a_key_deleted_without_an_erasure_is_named(
        scratch: tuple[Container, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    system, url = scratch
    _customer(system, "陈静", "13900000001")
    shredded = _customer(system, "王磊", "13900000002")
    code, answer, _ = _verify(url, capsys, monkeypatch)
    assert (code, answer["key_break"], answer["keys_checked"]) == (0, None, 2)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM customer_keys WHERE customer_id = %s", (shredded,))
    # The customer's name now reads as erased everywhere, yet no erasure was recorded.
    assert system.app.personal_data.open(shredded, "pii1:AAAA") == ERASED
    code, answer, err = _verify(url, capsys, monkeypatch)
    assert code == 1 and answer["ok"] is False and answer["first_break"] is None
    assert answer["key_break"] == {"customer_id": str(shredded), "erased_at": None,
                                   "reason": "key missing without an erasure"}
    assert f"customer {shredded}: key missing without an erasure" in err


def test_an_erased_customers_key_put_back_is_named_once_the_erasure_took_effect(
        scratch: tuple[Container, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    system, url = scratch
    customer = _customer(system, "陈静", "13900000003")
    with psycopg.connect(url, autocommit=True) as conn:
        backup = conn.execute("SELECT customer_id, key FROM customer_keys").fetchone()
    erased = system.customers.erase(request("S01", "manager"), customer,
                                    reason="customer request under PIPL art. 47")
    code, answer, _ = _verify(url, capsys, monkeypatch)
    assert (code, answer["key_break"]) == (0, None)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO customer_keys (customer_id, key) VALUES (%s, %s)", backup)
    # Until the work-orders view applied the erasure, its key may still be on its way out.
    code, answer, _ = _verify(url, capsys, monkeypatch)
    assert (code, answer["key_break"], answer["key_erasures_pending"]) == (0, None, 1)
    _apply_work_orders(system)  # deletes the key again: the erasure is mended...
    code, answer, _ = _verify(url, capsys, monkeypatch)
    assert (code, answer["key_break"], answer["key_erasures_pending"]) == (0, None, 0)
    with psycopg.connect(url, autocommit=True) as conn:  # ...and put back once more after it
        conn.execute("INSERT INTO customer_keys (customer_id, key) VALUES (%s, %s)", backup)
    code, answer, err = _verify(url, capsys, monkeypatch)
    assert code == 1 and answer["ok"] is False
    assert answer["key_break"] == {"customer_id": str(customer), "reason":
                                   "key kept after its erasure",
                                   "erased_at": erased.notification_id}
    assert f"customer {customer}: key kept after its erasure" in err


def _replace_key(url: str, customer: UUID, key: bytes) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE customer_keys SET key = %s WHERE customer_id = %s", (key, customer))


def _key(url: str, customer: UUID) -> bytes:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT key FROM customer_keys WHERE customer_id = %s",
                           (customer,)).fetchone()
    assert row is not None
    return bytes(row[0])


@pytest.mark.parametrize("replacement", ["another customer's key", "fresh random bytes",
                                         "one byte edited"])
def test_a_replaced_key_is_named(
        replacement: str, scratch: tuple[Container, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    system, url = scratch
    other = _customer(system, "陈静", "13900000004")
    replaced = _customer(system, "王磊", "13900000005")
    # the latest event sealing fields is the one checked
    system.customers.change_details(request("S01", "manager"), replaced, phones=["13900000006"],
                                    reason="new mobile number")
    key = {"another customer's key": _key(url, other), "fresh random bytes": os.urandom(32),
           "one byte edited": bytes([_key(url, replaced)[0] ^ 1]) + _key(url, replaced)[1:]}
    _replace_key(url, replaced, key[replacement])
    code, answer, err = _verify(url, capsys, monkeypatch)
    assert code == 1 and answer["ok"] is False and answer["first_break"] is None
    assert answer["key_break"] == {"customer_id": str(replaced), "erased_at": None,
                                   "reason": "key does not open its data (replaced?)"}
    assert answer["keys_opened"] == 1  # the other customer's key still opens their data
    assert f"customer {replaced}: key does not open its data (replaced?)" in err
    assert "王磊" not in err + json.dumps(answer, ensure_ascii=False)


def test_untouched_keys_open_their_data_and_an_erased_customer_needs_none(
        scratch: tuple[Container, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    system, url = scratch
    _customer(system, "陈静", "13900000007")
    _customer(system, "王磊", "13900000008")
    erased = _customer(system, "李娜", "13900000009")
    system.customers.erase(request("S01", "manager"), erased, reason="customer request")
    _apply_work_orders(system)
    code, answer, _ = _verify(url, capsys, monkeypatch)
    assert (code, answer["ok"], answer["key_break"]) == (0, True, None)
    assert (answer["keys_checked"], answer["keys_opened"]) == (3, 2)
