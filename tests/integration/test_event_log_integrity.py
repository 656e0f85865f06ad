"""The hash chain: every stored event linked in its own transaction, verified from outside.

Tampering needs the database owner's rights (disable the immutability trigger, change a row,
enable it again); the chain, recomputed by `servicecore audit verify`, names the first event
that no longer matches. These tests tamper, so they run on a database of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.integrity import GENESIS, link
from projections.hash_chain import chain_head
from servicecore import audit_chain, cli
from servicecore.container import Container, build
from servicecore.schema import EVENTS_TABLE, HASHES_TABLE, install
from tests.conftest import settings_for
from tests.integration.support import open_order, request
from tests.scratch_systems import scratch_system


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    with scratch_system(server_url, "sc_chain", tmp_path) as scratched:
        yield scratched


def _verify(url: str, *args: str, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    """`servicecore audit verify` as an operator runs it; its exit code and JSON answer."""
    monkeypatch.setenv("DATABASE_URL", url)
    code = cli.main(["audit", "verify", "--quiet", *args])
    out = capsys.readouterr().out.strip().splitlines()[-1]
    return code, json.loads(out)


def answer_stream(url: str, notification_id: int) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT originator_id FROM {EVENTS_TABLE} "
                           "WHERE notification_id = %s", (notification_id,)).fetchone()
    assert row is not None
    return str(row[0])


def opened_with_mileage(url: str, mileage: int) -> int:
    """The notification id of the `WorkOrder.Opened` event stored with that mileage."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT notification_id FROM {EVENTS_TABLE} WHERE topic LIKE %s "
            "AND position(%s in convert_from(state, 'UTF8')) > 0",
            ("%WorkOrder.Opened", f'"mileage":{mileage}')).fetchone()
    assert row is not None
    return int(row[0])


def _tamper(url: str, sql: str, *params: object) -> None:
    """What an operator with the owner's rights can do behind the application's back."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER USER")
        conn.execute(f"ALTER TABLE {HASHES_TABLE} DISABLE TRIGGER USER")
        conn.execute(sql, params)  # type: ignore[arg-type]
        conn.execute(f"ALTER TABLE {EVENTS_TABLE} ENABLE TRIGGER USER")
        conn.execute(f"ALTER TABLE {HASHES_TABLE} ENABLE TRIGGER USER")


def _open(system: Container, mileage: int) -> dict[str, Any]:
    wos = system.work_orders
    result = wos.open(request("S01"), store_id="S01", customer={"name": "王磊", "phone": "13800138000"},
                      vehicle={"vin": "LSVAU218XN2183294"}, mileage=mileage,
                      complaints=["engine warning light"])
    return result.body


def test_the_chain_links_every_event_as_python_recomputes_it(
        scratch: tuple[Container, str]) -> None:
    system, url = scratch
    for _ in range(3):
        open_order(system.work_orders, "S01")

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state,"
            f" h.hash FROM {EVENTS_TABLE} e JOIN {HASHES_TABLE} h USING (notification_id)"
            " ORDER BY 1").fetchall()
        total = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()
    assert total is not None and len(rows) == total[0] >= 10
    previous = GENESIS
    for number, stream, version, topic, state, stored in rows:
        previous = link(previous, number, stream, version, topic, bytes(state))
        assert bytes(stored) == previous


def test_a_changed_mileage_is_found_at_its_notification_id(
        scratch: tuple[Container, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    system, url = scratch
    _open(system, 28720)
    for _ in range(2):
        open_order(system.work_orders, "S01")
    assert _verify(url, capsys=capsys, monkeypatch=monkeypatch)[0] == 0
    target = opened_with_mileage(url, 28720)

    # The owner disables the trigger, turns 28720 km into 8720 km and enables it again.
    _tamper(url, f"UPDATE {EVENTS_TABLE} SET state = convert_to(replace(convert_from(state, "
                 f"'UTF8'), '\"mileage\":28720', '\"mileage\":8720'), 'UTF8') "
                 "WHERE notification_id = %s", target)
    assert opened_with_mileage(url, 8720) == target

    code, answer = _verify(url, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 1
    assert answer["first_break"]["notification_id"] == target
    assert answer["first_break"]["reason"] == "event changed"
    assert answer["to"] == target - 1
    # stderr says where: the event at that id as stored now, when its save was recorded,
    # and what held all the same.
    assert cli.main(["audit", "verify", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert (f"notification id {target} holds version 1 of stream {answer_stream(url, target)} "
            "(domain.work_order:WorkOrder.Opened); a save recorded an event there at ") in err
    assert (f"the links recompute up to notification id {target - 1}; no anchor kept outside "
            "the database matched") in err
    # From a later id (trusting the link before it) the rest still checks out.
    assert _verify(url, "--from", str(target + 1), capsys=capsys, monkeypatch=monkeypatch)[0] == 0
    # From past the head there is nothing to verify: refused, exit 2, no "ok".
    with psycopg.connect(url) as conn:
        head = chain_head(conn)
    monkeypatch.setenv("DATABASE_URL", url)
    assert cli.main(["audit", "verify", "--quiet", "--from", str(head + 1)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (f"--from ({head + 1}) is past the head of the log (notification id {head})"
            in captured.err)
    # Below the first id: refused as any bad number is (a --from of 0 or below had walked
    # every empty range of ids up to 1 first, -9223372036854775807 for ever).
    for below in ("0", "-9223372036854775807"):
        with pytest.raises(SystemExit) as refused:
            cli.main(["audit", "verify", "--quiet", "--from", below])
        assert refused.value.code == 2
        assert "argument --from" in capsys.readouterr().err


def test_a_rewritten_chain_is_caught_by_an_anchor_kept_outside(
        scratch: tuple[Container, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    system, url = scratch
    _open(system, 28720)
    monkeypatch.setenv("DATABASE_URL", url)
    assert cli.main(["audit", "anchor", "--note", "day-end S01"]) == 0
    kept = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["anchor"]
    target = opened_with_mileage(url, 28720)

    # A careful tamperer changes the event, recomputes every later link and drops the
    # stored anchors: the chain is consistent again, but no longer the one printed that day.
    _tamper(url, f"UPDATE {EVENTS_TABLE} SET state = convert_to(replace(convert_from(state, "
                 f"'UTF8'), '28720', '8720'), 'UTF8') WHERE notification_id = %s", target)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {HASHES_TABLE} DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE servicecore_anchors DISABLE TRIGGER USER")
        conn.execute("DELETE FROM servicecore_anchors")
        conn.execute(f"DELETE FROM {HASHES_TABLE} WHERE notification_id >= %s", (target,))
        install(conn)  # its back-fill relinks the events it finds without a link
        conn.execute(f"ALTER TABLE {HASHES_TABLE} ENABLE TRIGGER USER")
        conn.execute("ALTER TABLE servicecore_anchors ENABLE TRIGGER USER")
    # (`audit anchor` wrote the witness file too: tests/integration/test_chain_witness.py)
    monkeypatch.setenv("SERVICECORE_WITNESS_PATH", str(tmp_path / "elsewhere.jsonl"))
    assert _verify(url, capsys=capsys, monkeypatch=monkeypatch)[0] == 0

    code, answer = _verify(url, "--anchor", kept, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 1
    assert answer["first_break"]["reason"] == "anchor differs"
    assert answer["first_break"]["notification_id"] == int(kept.split(":")[0])


def test_a_missing_link_and_a_stored_anchor_are_checked(
        scratch: tuple[Container, str]) -> None:
    system, url = scratch
    for _ in range(2):
        open_order(system.work_orders, "S01")
    with psycopg.connect(url, autocommit=True) as conn:
        anchored = audit_chain.anchor(conn, "noon")
        good = audit_chain.verify(conn)
    assert good.ok and good.anchors_checked == 1
    assert good.head_hash == anchored["hash"]

    _tamper(url, f"DELETE FROM {HASHES_TABLE} WHERE notification_id = 3")
    with psycopg.connect(url, autocommit=True) as conn:
        broken = audit_chain.verify(conn)
    assert broken.broken is not None
    assert (broken.broken.notification_id, broken.broken.reason) == (3, "link missing")


def test_erasing_a_customer_keeps_the_chain_verifiable(
        scratch: tuple[Container, str]) -> None:
    system, url = scratch
    answer = open_order(system.work_orders, "S01")
    order = system.app.repository.get(UUID(answer["id"]))
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM customer_keys").fetchone() == (1,)

    # The customer asks to be forgotten: the key goes, the sealed bytes stay as they were.
    system.customers.erase(request("S01", role="manager"), order.customer_id,
                           reason="customer asked to be forgotten")

    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM customer_keys").fetchone() == (0,)
        erased = conn.execute(f"SELECT notification_id FROM {EVENTS_TABLE} "
                              "WHERE topic LIKE '%%Customer.Erased'").fetchone()
        result = audit_chain.verify(conn)
    assert erased is not None
    assert result.ok and result.last_id == erased[0] and result.checked == erased[0]


def test_events_stored_before_the_chain_existed_are_linked_once(
        scratch: tuple[Container, str]) -> None:
    system, url = scratch
    open_order(system.work_orders, "S01")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TRIGGER {EVENTS_TABLE}_chain ON {EVENTS_TABLE}")
    open_order(system.work_orders, "S01")  # stored without links, as by an older version
    with psycopg.connect(url, autocommit=True) as conn:
        assert not audit_chain.verify(conn).ok
        install(conn)
        install(conn)  # idempotent
        result = audit_chain.verify(conn)
    assert result.ok
    open_order(system.work_orders, "S01")
    with psycopg.connect(url, autocommit=True) as conn:
        assert audit_chain.verify(conn).ok


def _link_plan(conn: psycopg.Connection[Any]) -> str:
    rows = conn.execute(
        "EXPLAIN (VERBOSE, COSTS OFF) SELECT servicecore_chain_link(p, n, s, v, t, b) FROM "
        "(VALUES ('\\x00'::bytea, 1::bigint, gen_random_uuid(), 1::bigint, 't', '\\x01'::bytea))"
        " AS x(p, n, s, v, t, b)").fetchall()
    return "\n".join(row[0] for row in rows)


def test_the_link_is_inlined_and_an_older_store_gets_it_on_start(
        scratch: tuple[Container, str], tmp_path: Path) -> None:
    """Declared IMMUTABLE around convert_to (STABLE), the link function was never inlined and
    each call planned its body anew: half the chain trigger's time on a one-event save."""
    system, url = scratch
    with psycopg.connect(url, autocommit=True) as conn:
        plan = _link_plan(conn)
        assert "sha256(" in plan and "servicecore_chain_link" not in plan, plan
        # an event store installed before: the function as it was, the version before
        conn.execute("ALTER FUNCTION servicecore_chain_link(bytea, bigint, uuid, bigint, text,"
                     " bytea) IMMUTABLE")
        conn.execute("DELETE FROM servicecore_schema_version WHERE version >= 4")
        assert "servicecore_chain_link" in _link_plan(conn)
    system.close()
    again = build(settings_for(url, tmp_path / "again"))
    try:
        with psycopg.connect(url) as conn:
            assert "servicecore_chain_link" not in _link_plan(conn)
        open_order(again.work_orders, "S01")  # linked by the inlined function
        with psycopg.connect(url) as conn:
            checked = audit_chain.verify(conn)
            stored = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()
        assert stored is not None and stored[0] > 0
        assert checked.broken is None and checked.checked == stored[0], checked
    finally:
        again.close()
