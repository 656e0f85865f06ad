"""The database restored from a backup taken before an anchor the witness file keeps: `audit
verify` fails, and says what that means (the log was put back, or cut, behind a head the
witness saw: the events after the backup are gone from it) and what to do, whether the
restored log still ends before the witnessed head or new commands have since been given
its notification ids."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from projections import chain_witness
from tests.integration.restore_support import restorable
from tests.integration.support import head, open_order
from tests.integration.test_chain_unwitnessed import _verify


@pytest.mark.parametrize("new_orders", [0, 4])
def test_a_log_restored_behind_a_witnessed_anchor_is_named_so(
        server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, auth: Callable[..., dict[str, str]],
        new_orders: int) -> None:
    store = "W" + uuid.uuid4().hex[:5].upper()
    witness = tmp_path / "witness.jsonl"  # SERVICECORE_WITNESS_PATH (tests/conftest.py)
    with restorable(server_url, "sc_restore_chain", tmp_path) as db:
        open_order(db.start().work_orders, store)
        with psycopg.connect(db.owner_url, autocommit=True) as conn:
            chain_witness.witness(conn, witness, "morning")
        db.take_backup()
        system = db.start()
        for _ in range(2):
            open_order(system.work_orders, store)
        with psycopg.connect(db.owner_url, autocommit=True) as conn:
            noon = chain_witness.witness(conn, witness, "noon")
        code, answer, _ = _verify(db.app_url, capsys=capsys, monkeypatch=monkeypatch)
        assert (code, answer["ok"], answer["witnessed_to"]) == (0, True, noon["notification_id"])

        db.restore()
        system = db.start()
        for _ in range(new_orders):
            open_order(system.work_orders, store)
        assert (head(system.app) > noon["notification_id"]) == bool(new_orders)
        code, answer, err = _verify(db.app_url, capsys=capsys, monkeypatch=monkeypatch)
        assert (code, answer["ok"]) == (1, False)
        assert answer["first_break"]["notification_id"] == noon["notification_id"]
        assert (f"the witnessed anchor {noon['anchor']} (anchored at" in err
                and "restored from a backup taken before it" in err), err
        assert "events stored after the backup" in err and "new witness file" in err, err
        assert answer["restored"] in err
        # The API's verify, against the server's witness file, says the same.
        with TestClient(create_app(system.api_context())) as client:
            page = client.get("/audit/chain/verify", headers=auth("auditor")).json()
        assert (page["ok"], page["first_break"]["notification_id"]) == (
            False, noon["notification_id"])
        assert page["restored"] == answer["restored"], page
