"""The invoice-number backfill a serving process runs by itself: in the background, once per
database and version, as a supervised loop (started again with backoff while it fails, idle
once done), going on where a stopped run was, within a bounded report."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain import invoice_backfill
from domain.common import stable_id
from domain.invoice_backfill import backfill
from domain.invoice_number import InvoiceNumber, InvoiceNumberTaken
from servicecore import invoice_commands
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.faults import faulty_proxy
from tests.integration.kafka_support import wait_until
from tests.integration.support import head, load
from tests.integration.test_invoice_backfill import invoiced_the_old_way, stamp
from tests.integration.test_money_support import req
from tests.integration.test_red_invoice_numbers import invoiced, unique
from tests.log_lines import json_lines, of


def started(url: str, tmp_path: Path) -> Container:
    """A start that creates tables, with its backfill run to its end."""
    system = build(settings_for(url, tmp_path, in_process_projections=False))
    assert system.start_backfill().wait(timeout=120)
    return system


def backfill_state(system: Container) -> dict[str, Any]:
    return system.loop_states()["data-backfills"]


def kept(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT name, version, finished, report FROM data_backfills"
                            ).fetchall()


def test_a_serving_start_backfills_once_in_the_background_and_keeps_its_report(
        server_url: str, tmp_path: Path) -> None:
    store_id, number = "S01", unique()
    with scratch_database(server_url, "sc_invoices") as url:
        system = build(settings_for(url, tmp_path, in_process_projections=False))
        try:
            for _ in range(2):
                settlement_id, _ = invoiced(system, store_id, None)
                invoiced_the_old_way(system, store_id, settlement_id, number)
            reservation = InvoiceNumber.create_id(store_id, number)
            # the start itself wrote nothing: the backfill waits for the process to serve
            assert system.app.recorder.select_events(reservation) == []
        finally:
            system.close()

        heads = []
        for _ in range(2):  # started again, twice
            system = started(url, tmp_path)
            try:
                assert len(system.app.recorder.select_events(reservation)) == 1
                heads.append(head(system.app))
            finally:
                system.close()
            assert [(name, version, finished, r["reserved"], len(r["duplicates"]))
                    for name, version, finished, r in kept(url)] == [
                ("invoice-numbers", invoice_commands.VERSION, True, 1, 1)]
        assert heads[0] == heads[1]  # the second start wrote nothing


def test_a_backfill_that_fails_in_the_background_is_restarting_and_tried_again_until_done(
        server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a settlement stream that cannot be read")

    with scratch_database(server_url, "sc_invoices") as url:
        system = build(settings_for(url, tmp_path, in_process_projections=False))
        try:
            with monkeypatch.context() as patched:
                patched.setattr(invoice_backfill, "backfill", broken)
                done = system.start_backfill()
                wait_until(lambda: backfill_state(system)["state"] == "restarting", 30,
                           "the backfill to be restarting")
                state = backfill_state(system)
                assert "a settlement stream that cannot be read" in state["last_error"]
                status, body = asyncio.run(system.health_check.report())
                assert status == 503
                assert any(r.startswith("loop data-backfills is restarting after RuntimeError")
                           for r in body["reasons"])
                assert kept(url) == []
            # the same process tries again, without a restart, and is idle once done
            assert done.wait(timeout=120)
            wait_until(lambda: backfill_state(system)["state"] == "idle", 30,
                       "the backfill to be idle")
            assert backfill_state(system)["restarts"] >= 1
            _, body = asyncio.run(system.health_check.report())
            assert body["loops"]["data-backfills"]["state"] == "idle"
            assert not [r for r in body["reasons"] if "data-backfills" in r]
        finally:
            system.close()
        assert [(name, finished) for name, _, finished, _ in kept(url)] == [
            ("invoice-numbers", True)]


def test_a_start_with_the_database_away_backfills_once_it_is_back(
        server_url: str, tmp_path: Path) -> None:
    store_id, number = "S01", unique()
    with scratch_database(server_url, "sc_invoices") as url, faulty_proxy(url) as proxy:
        direct = build(settings_for(url, tmp_path, in_process_projections=False))
        # the backfill's own connection goes through the proxy; the event store's pool is open
        system = Container(direct.settings, proxy.url, direct.app, direct.pool, direct.views)
        try:
            old, _ = invoiced(system, store_id, None)
            invoiced_the_old_way(system, store_id, old, number)
            new, _ = invoiced(system, store_id, None)
            proxy.refuse_new()  # the database is away as the process starts serving
            done = system.start_backfill()
            wait_until(lambda: backfill_state(system)["state"] == "restarting", 30,
                       "the backfill to be restarting")
            assert not done.is_set()
            assert system.app.recorder.select_events(
                InvoiceNumber.create_id(store_id, number)) == []

            proxy.readmit()
            assert done.wait(timeout=120)
            wait_until(lambda: backfill_state(system)["state"] == "idle", 30,
                       "the backfill to be idle")
            held = load(system.app, InvoiceNumber, InvoiceNumber.create_id(store_id, number))
            assert held.settlement_id == old
            with pytest.raises(InvoiceNumberTaken):  # the old number cannot be used again
                system.settlements.record_invoice(req(store_id), new, bill="customer",
                                                  invoice_no=number)
        finally:
            system.close()
        assert [(name, finished) for name, _, finished, _ in kept(url)] == [
            ("invoice-numbers", True)]


def test_a_stopped_backfill_goes_on_from_its_position_at_the_next_run(
        server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_id = "S01"
    with scratch_database(server_url, "sc_invoices") as url:
        system = build(settings_for(url, tmp_path, in_process_projections=False))
        numbers = [unique() for _ in range(3)]
        try:
            for number in numbers:
                settlement_id, _ = invoiced(system, store_id, None)
                invoiced_the_old_way(system, store_id, settlement_id, number)
            with psycopg.connect(url, autocommit=True) as conn:
                # the process stops as the first batch ends
                assert invoice_commands.backfill_once(conn, system.app, lambda: True,
                                                      batch=1) is None
            [(_, _, finished, report)] = kept(url)
            assert (finished, report["uses"], report["reserved"]) == (False, 1, 1)
            read: list[int] = []
            select = system.app.recorder.select_notifications

            def reading(start: int, *args: Any, **kwargs: Any) -> Any:
                read.append(start)
                return select(start, *args, **kwargs)

            monkeypatch.setattr(system.app.recorder, "select_notifications", reading)
            with psycopg.connect(url, autocommit=True) as conn:
                done = invoice_commands.backfill_once(conn, system.app, batch=1)
        finally:
            system.close()
        assert done is not None
        assert read[0] == report["position"] + 1  # not from the start of the log
        assert (done["uses"], done["reserved"], done["held"]) == (3, 3, 0)
        assert [(finished, r["uses"]) for _, _, finished, r in kept(url)] == [(True, 3)]


def test_the_report_lists_a_bounded_number_of_duplicates_and_counts_the_rest(
        container: Container, store_id: str) -> None:
    number = unique()
    for _ in range(4):
        settlement_id, _ = invoiced(container, store_id, None)
        invoiced_the_old_way(container, store_id, settlement_id, number)

    report = backfill(container.app, stamp(store_id, "invoice-backfill"), batch=50, keep=1)

    assert len(report.duplicates) == 1
    assert report.unlisted_duplicates >= 2  # this store's third and fourth uses at least
    assert report.as_dict()["unlisted_duplicates"] == report.unlisted_duplicates


def test_a_number_reserved_as_typed_before_numbers_were_kept_is_reserved_again_once(
        server_url: str, tmp_path: Path) -> None:
    store_id, ascii_number = "S01", unique()
    typed = ascii_number.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})  # full-width
    with scratch_database(server_url, "sc_invoices") as url:
        system = started(url, tmp_path)  # version 2 done on an empty log
        try:
            # a bill invoiced with the number as an input method typed it, and its reservation
            # under that form, as commands wrote them before numbers were kept as ASCII
            old, _ = invoiced(system, store_id, None)
            invoiced_the_old_way(system, store_id, old, typed)
            settlement: Any = system.app.repository.get(old)
            as_typed = InvoiceNumber(
                id=stable_id("tax-invoice", store_id, typed), audit=stamp(store_id),
                invoice_no=typed, bill="customer", settlement_id=old,
                settlement_number=settlement.number or "",
                work_order_number=settlement.work_order_number)
            system.app.save(as_typed)
            assert as_typed.id != InvoiceNumber.create_id(store_id, ascii_number)
            new, _ = invoiced(system, store_id, None)
        finally:
            system.close()
        with psycopg.connect(url, autocommit=True) as conn:  # a database version 1 ran on
            conn.execute("UPDATE data_backfills SET version = 1")

        system = started(url, tmp_path)
        try:
            held = load(system.app, InvoiceNumber,
                        InvoiceNumber.create_id(store_id, ascii_number))
            assert (held.invoice_no, held.settlement_id) == (ascii_number, old)
            with pytest.raises(InvoiceNumberTaken) as refused:
                system.settlements.record_invoice(req(store_id), new, bill="customer",
                                                  invoice_no=ascii_number)
            assert refused.value.extra["settlement_id"] == str(old)
        finally:
            system.close()
        assert [(version, finished) for _, version, finished, _ in kept(url)] == [
            (invoice_commands.VERSION, True)]


def test_a_backfill_runs_lines_carry_the_correlation_id_its_reservations_were_stored_with(
        server_url: str, tmp_path: Path) -> None:
    store_id, number = "S01", unique()
    with scratch_database(server_url, "sc_invoices") as url:
        system = build(settings_for(url, tmp_path, in_process_projections=False))
        try:
            settlement_id, _ = invoiced(system, store_id, None)
            invoiced_the_old_way(system, store_id, settlement_id, number)
            with psycopg.connect(url, autocommit=True) as conn, json_lines() as lines:
                invoice_commands.create_table(conn)
                assert invoice_commands.backfill_once(conn, system.app) is not None
            [reserved] = system.app.repository.event_store.get(
                InvoiceNumber.create_id(store_id, number))
        finally:
            system.close()
    said = of(lines, "servicecore.invoice_commands")
    assert len(said) == 2  # started, done
    assert {line["correlation_id"] for line in said} == {
        reserved.audit.correlation_id}  # type: ignore[attr-defined]
    assert {(line["user"], line["role"]) for line in said} == {(invoice_commands.ACTOR,
                                                                  "system")}
