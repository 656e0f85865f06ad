"""Every command of a month at a store, each save's answer lost after its COMMIT and each
command sent again with its Idempotency-Key: event for event the log of the same month with no
fault at all.

The month (servicecore.demo_history) drives the real area services: visits from opening to the
follow-up call, parts received and issued, settlements with payments of every method and their
references, refunds and their decisions, every cashier's day-end close, the monthly stocktake
with its decisions. Every command ends in one save of all its streams; here every such save
goes through a proxy that drops the connection as the server answers (the commit happened, the
client never heard), so the recorder must find out whether it committed instead of deciding
again. Then the same command is sent again with its key: it must answer what the first did and
store nothing. A command that came to be applied twice, or not at all, or that saved only part
of its streams, would make the two logs differ.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.pii import PersonalData
from servicecore.container import Container, build, eventsourcing_env
from servicecore.demo_scale import load_history
from servicecore.event_store import EventRecorder
from servicecore.keystore import PostgresKeyStore
from servicecore.pool import open_pool, share_pool
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.faults import FaultyProxy, faulty_proxy, local_port
from tests.integration.test_demo_history import NOW, assert_versions_contiguous, events, normalised
from tests.integration.test_parts_projection import _varied_history
from tests.integration.test_parts_support import item_of

MONTH: dict[str, Any] = {"stores": ("S01",), "months": 1, "per_day": 1.0, "lanes": 1,
                         "seed": 3, "now": NOW}


def keyed_twice(app: ServiceCore, retried: list[int]) -> None:
    """Every command gets a key of its own (the same sequence in every run) and is sent twice:
    the second answer must be the first, replayed."""
    plain = app.execute
    sent = 0

    def execute(request: Request, decide: Callable[[Session], Decision],
                streams: Iterable[UUID] = ()) -> CommandResult:
        nonlocal sent
        sent += 1
        caller = dataclasses.replace(request.caller, idempotency_key=f"cmd-{sent}")
        keyed = dataclasses.replace(request, caller=caller, request_hash=f"hash-{sent}")
        first = plain(keyed, decide, list(streams))
        again = plain(keyed, decide, list(streams))
        assert again.replayed and again.body == first.body, (first, again)
        retried.append(sent)
        return first

    app.execute = execute  # type: ignore[method-assign]


def lose_every_answer(app: ServiceCore, proxy: FaultyProxy) -> list[int]:
    """Each save's connection is cut as the server answers; returns the list of cut ports."""
    recorder = app.recorder
    assert isinstance(recorder, EventRecorder)
    plain = recorder._append
    cut: list[int] = []

    def append(conn: psycopg.Connection, params: dict,  # type: ignore[type-arg]
               **kwargs: str) -> Any:
        port = local_port(conn)
        proxy.cut("reply", port)
        cut.append(port)
        return plain(conn, params, **kwargs)

    recorder._append = append  # type: ignore[method-assign]
    return cut


@dataclasses.dataclass
class Pair:
    clean: Container
    faulty: Container  # every connection through `proxy`
    proxy: FaultyProxy
    clean_retries: list[int]
    faulty_retries: list[int]
    cut: list[int]  # the ports of the saves whose answers were lost


@pytest.fixture
def pair(server_url: str, tmp_path: Path) -> Iterator[Pair]:
    """Two fresh databases: one reached directly, one through a proxy losing every answer to
    a save; every command of either is sent twice with a key of its own."""
    with scratch_database(server_url, "sc_lost_a") as clean_url, \
            scratch_database(server_url, "sc_lost_b") as faulty_url, \
            faulty_proxy(faulty_url) as proxy:
        clean = build(settings_for(clean_url, tmp_path / "clean"))
        made = build(settings_for(faulty_url, tmp_path / "faulty"))  # the tables
        settings = settings_for(proxy.url, tmp_path / "faulty", create_tables=False,
                                pool_size=3)
        pool = open_pool(proxy.url, settings)
        app = ServiceCore(env=eventsourcing_env(proxy.url, settings),
                          personal_data=PersonalData(PostgresKeyStore(pool)))
        share_pool(app, pool)
        faulty = Container(settings, proxy.url, app, pool, made.views)
        found = Pair(clean, faulty, proxy, [], [], lose_every_answer(faulty.app, proxy))
        keyed_twice(clean.app, found.clean_retries)
        keyed_twice(faulty.app, found.faulty_retries)
        try:
            yield found
        finally:
            faulty.close()
            made.close()
            clean.close()


def kinds(app: ServiceCore) -> Counter[str]:
    return Counter(type(event).__qualname__ for event in events(app))


@pytest.mark.slow
def test_every_command_of_a_month_with_its_answer_lost_and_sent_again_is_applied_once(
        pair: Pair) -> None:
    expected = load_history(pair.clean.work_orders, pair.clean.inventory,
                            pair.clean.settlements, pair.clean.aftercare, **MONTH)
    figures = load_history(pair.faulty.work_orders, pair.faulty.inventory,
                           pair.faulty.settlements, pair.faulty.aftercare, **MONTH)
    assert figures.errors == 0, figures.error_samples
    assert dataclasses.asdict(figures) == dataclasses.asdict(expected)
    # visits to the follow-up call, payments with their references, day-end closes, stocktakes
    done = kinds(pair.faulty.app)
    for kind in ("CashierDay.Closed", "PaymentReference.Reserved", "StockItem.VariancePosted",
                 "WorkOrder.PartsIssued", "Settlement.Settled", "FollowUp.Completed"):
        assert done[kind] > 0, kind
    # every command was sent twice, every save lost its answer
    assert pair.faulty_retries == pair.clean_retries and len(pair.faulty_retries) > 300
    assert pair.proxy.cuts == len(pair.cut) > 300
    # event for event the log of the month without faults: nothing twice, nothing lost
    assert normalised(pair.faulty.app) == normalised(pair.clean.app)
    assert_versions_contiguous(list(events(pair.faulty.app)))


def test_every_kind_of_parts_command_with_its_answer_lost_and_sent_again_is_applied_once(
        pair: Pair) -> None:
    """Purchase orders drafted, sent, received and closed; scrap and stocktakes waiting for
    and given a manager's decision; a transfer sent and booked in at the other store; issues
    and returns on work orders; a supplier return."""
    clean_parts = _varied_history(pair.clean, "S01")
    faulty_parts = _varied_history(pair.faulty, "S01")
    assert pair.proxy.cuts == len(pair.cut) == len(pair.faulty_retries) > 50
    done = kinds(pair.faulty.app)
    assert done == kinds(pair.clean.app)  # no command twice, none lost
    for kind in ("PurchaseOrder.LineReceived", "StockItem.Scrapped", "StockItem.ScrapRejected",
                 "Transfer.Received", "StockItem.TransferredIn", "StockItem.VariancePosted",
                 "StockItem.ReturnedFromJob", "StockItem.ReturnedToSupplier"):
        assert done[kind] > 0, kind
    # the same figures (on hand, reserved, available, on order) of each part at each store
    (clean_pads, clean_discs), (pads, discs) = clean_parts["parts"], faulty_parts["parts"]
    for store, part, clean_part in [("S01", pads, clean_pads), ("S01", discs, clean_discs),
                                    ("S01B", pads, clean_pads)]:
        assert item_of(pair.faulty, store, part).figures() == \
            item_of(pair.clean, store, clean_part).figures()
    assert_versions_contiguous(list(events(pair.faulty.app)))
