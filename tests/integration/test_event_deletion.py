"""Events deleted with their links: the chain alone cannot tell a deleted event from a changed
one, and a deleted tail leaves a shorter chain that is consistent in itself. Every save records
its notification ids in the command registry (insert-only, in the save's own statement), so
`audit verify` names an id the registry holds that the log no longer does.
These tests tamper with the owner's rights, so they run on a database of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from domain.common import Audit
from domain.counter import DocumentCounter
from domain.integrity import link
from projections.audit import stored_command
from projections.chain_registry import break_place
from projections.hash_chain import chain_head
from servicecore import audit_chain
from servicecore.container import Container, build
from servicecore.schema import EVENTS_TABLE, HASHES_TABLE
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.support import open_order


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    with scratch_database(server_url, "sc_gone") as url:
        system = build(settings_for(url, tmp_path))
        try:
            for _ in range(3):
                open_order(system.work_orders, "S01")
            yield system, url
        finally:
            system.close()


def _delete(url: str, condition: str) -> list[int]:
    """The owner removes events and their links; the ids removed."""
    with psycopg.connect(url, autocommit=True) as conn:
        ids = [row[0] for row in conn.execute(
            f"SELECT notification_id FROM {EVENTS_TABLE} WHERE {condition} ORDER BY 1")]
        for table in (EVENTS_TABLE, HASHES_TABLE):
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            conn.execute(f"DELETE FROM {table} WHERE notification_id = ANY(%s)", (ids,))
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    return ids


def _verify(url: str, start: int = 1, end: int | None = None) -> audit_chain.Verification:
    with psycopg.connect(url, autocommit=True) as conn:
        return audit_chain.verify(conn, start, end)


def _head(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return chain_head(conn)


def drawn_gap(url: str) -> int:
    """A notification id drawn and never used (as by a save rolled back): a gap in the log."""
    with psycopg.connect(url, autocommit=True) as conn:
        gap = conn.execute(f"SELECT nextval('{EVENTS_TABLE}_notification_id_seq')").fetchone()
    assert gap is not None
    return int(gap[0])


def slip_into_gap(url: str, gap_id: int, *, linked: bool, relinked: bool) -> None:
    """A copy of the event after `gap_id` put into the gap (as version 10,000), the tables'
    triggers off meanwhile; `linked`: with the link the chain gives it there; `relinked`: every
    later link recomputed too."""
    with psycopg.connect(url, autocommit=True) as conn:
        for table in (EVENTS_TABLE, HASHES_TABLE):
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        copied = conn.execute(f"SELECT originator_id, topic, state FROM {EVENTS_TABLE} "
                              "WHERE notification_id = %s", (gap_id + 1,)).fetchone()
        assert copied is not None
        stream, topic, state = copied[0], copied[1], bytes(copied[2])
        conn.execute(f"INSERT INTO {EVENTS_TABLE} (notification_id, originator_id, "
                     "originator_version, topic, state) VALUES (%s, %s, %s, %s, %s)",
                     (gap_id, stream, 10_000, topic, state))
        if linked:
            row = conn.execute(f"SELECT hash FROM {HASHES_TABLE} WHERE notification_id < %s "
                               "ORDER BY notification_id DESC LIMIT 1", (gap_id,)).fetchone()
            assert row is not None
            previous = link(bytes(row[0]), gap_id, stream, 10_000, topic, state)
            conn.execute(f"INSERT INTO {HASHES_TABLE} VALUES (%s, %s)", (gap_id, previous))
            later = conn.execute(
                f"SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM {EVENTS_TABLE} WHERE notification_id > %s ORDER BY 1",
                (gap_id,)).fetchall() if relinked else []
            for number, originator, version, kind, stored in later:
                previous = link(previous, number, originator, version, kind, bytes(stored))
                conn.execute(f"UPDATE {HASHES_TABLE} SET hash = %s WHERE notification_id = %s",
                             (previous, number))
        for table in (EVENTS_TABLE, HASHES_TABLE):
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


@pytest.mark.parametrize("voided", [False, True])
def test_deleting_the_last_events_and_their_links_is_found(
        scratch: tuple[Container, str], voided: bool) -> None:
    _, url = scratch
    if voided:  # a lookup found a save not stored: a registry row without ids, the latest
        with psycopg.connect(url, autocommit=True) as conn:
            assert stored_command(conn, uuid4()) is None
    assert _verify(url).ok
    head = _verify(url).last_id
    removed = _delete(url, f"notification_id > {head - 2}")
    assert removed == [head - 1, head]

    found = _verify(url)
    assert found.broken is not None
    assert (found.broken.notification_id, found.broken.reason) == (head - 1, "event deleted")
    with psycopg.connect(url, autocommit=True) as conn:  # where, for `audit verify`'s stderr
        assert break_place(conn, head - 1).startswith(
            f"notification id {head - 1} holds no event; a save recorded an event there at ")
    # A range (as GET /audit/chain/verify pages) up to the head finds them too: the head
    # counts the registry's last id, so the range reaches the deleted tail.
    assert _head(url) == head
    ranged = _verify(url, head - 3, _head(url))
    assert ranged.broken is not None
    assert (ranged.broken.notification_id, ranged.broken.reason) == (head - 1, "event deleted")


def test_deleting_an_event_in_the_middle_is_named_at_its_own_id(
        scratch: tuple[Container, str]) -> None:
    _, url = scratch
    head = _verify(url).last_id
    middle = head // 2
    _delete(url, f"notification_id = {middle}")

    found = _verify(url)
    assert found.broken is not None
    assert (found.broken.notification_id, found.broken.reason) == (middle, "event deleted")
    # a verification starting after it sees the chain alone, intact there
    assert _verify(url, middle + 2).ok
    # a range holding it names it at its own id (the registry read over the range alone);
    # a range before it does not
    ranged = _verify(url, middle, middle)
    assert ranged.broken is not None
    assert (ranged.broken.notification_id, ranged.broken.reason) == (middle, "event deleted")
    assert _verify(url, 1, middle - 1).ok


def test_two_events_swapped_are_named_at_the_first(scratch: tuple[Container, str]) -> None:
    _, url = scratch
    head = _verify(url).last_id
    first, second = head // 2, head // 2 + 1
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER USER")
        for old, new in ((first, -1), (second, first), (-1, second)):
            conn.execute(f"UPDATE {EVENTS_TABLE} SET notification_id = %s "
                         "WHERE notification_id = %s", (new, old))
        conn.execute(f"ALTER TABLE {EVENTS_TABLE} ENABLE TRIGGER USER")

    found = _verify(url)
    assert found.broken is not None
    assert (found.broken.notification_id, found.broken.reason) == (first, "event changed")


def test_a_tail_cut_off_and_its_ids_given_out_again_is_found(
        scratch: tuple[Container, str], tmp_path: Path) -> None:
    """The owner cuts the last events off with their links and sets the sequence back: the
    next save is given their ids, and the chain, linked on from the cut, is whole again, every
    id in the log and in the registry. But two saves recorded those ids."""
    _, url = scratch
    head = _verify(url).last_id
    _delete(url, f"notification_id > {head - 2}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SELECT setval('{EVENTS_TABLE}_notification_id_seq', %s)", (head - 2,))
    restarted = build(settings_for(url, tmp_path))  # no aggregate cached past the cut
    try:
        opened = open_order(restarted.work_orders, "S01")
    finally:
        restarted.close()
    assert opened["notification_id"] > head  # the next visit took the ids cut off, and more

    for found in (_verify(url), _verify(url, head, head)):
        assert found.broken is not None
        assert (found.broken.notification_id, found.broken.reason) == (
            head - 1 if found.first_id == 1 else head, "event replaced")
        # when the id was first recorded, and when again: the cut lies between
        assert found.broken.stored is not None and found.broken.computed is not None
        assert found.broken.stored < found.broken.computed
    assert _verify(url).last_id == opened["notification_id"]  # the chain alone holds


def test_a_sequence_set_back_puts_no_save_into_a_gap(scratch: tuple[Container, str]) -> None:
    """A save that lost a conflict drew three ids; the owner sets the sequence back to them.
    The next visit's three events would fit there, each linked from the head: a break at an
    event nobody changed. The chain trigger refuses an id before its head instead, as a
    conflict, and the command is tried again past it."""
    system, url = scratch
    gap = [drawn_gap(url) for _ in range(3)]
    audit = Audit("mgr-1", "manager", "S09", datetime.now(UTC), "sequence-set-back")
    system.app.save(DocumentCounter(series="work-order", store_id="S09", year=2026,
                                    audit=audit))  # one event after the gap: the head
    head = _verify(url).last_id
    assert head == gap[-1] + 1
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SELECT setval('{EVENTS_TABLE}_notification_id_seq', %s)", (gap[0] - 1,))

    assert open_order(system.work_orders, "S01")["notification_id"] > head
    found = _verify(url)
    assert found.ok, found.broken
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE} WHERE notification_id "
                            "= ANY(%s)", (gap,)).fetchone() == (0,)


@pytest.mark.parametrize("linked", [False, True], ids=["without-link", "with-its-link"])
def test_an_event_slipped_into_a_gap_is_found_at_its_id(scratch: tuple[Container, str],
                                                        linked: bool) -> None:
    """Notification ids have gaps (a save that lost a conflict had drawn one). An event put in
    one with no link breaks the chain there; put in with the link the chain gives it there and
    every later link recomputed, the chain is whole again, but no save recorded that id."""
    system, url = scratch
    gap_id = drawn_gap(url)
    open_order(system.work_orders, "S01")
    assert _verify(url).ok
    slip_into_gap(url, gap_id, linked=linked, relinked=linked)

    reason = "event no save recorded" if linked else "link missing"
    for found in (_verify(url), _verify(url, gap_id - 1, gap_id + 1)):
        assert found.broken is not None
        assert (found.broken.notification_id, found.broken.reason) == (gap_id, reason)


def test_a_log_from_before_the_registry_is_not_asked_about_it(server_url: str,
                                                               tmp_path: Path) -> None:
    """Events appended before the command registry existed have no rows in it."""
    with scratch_database(server_url, "sc_old") as url:
        system = build(settings_for(url, tmp_path))
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, "
                             "topic, state) SELECT gen_random_uuid(), 1, 'domain.x:Old', "
                             "'\\x00'::bytea FROM generate_series(1, 5)")
            assert _verify(url).ok
            open_order(system.work_orders, "S01")  # the first save the registry records
            found = _verify(url)
            assert found.ok and found.checked > 5
        finally:
            system.close()
