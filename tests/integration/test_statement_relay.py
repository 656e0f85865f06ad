"""A statement's integration event fits a Kafka message: the relay publishes every statement
the import takes, up to the most lines a statement holds, and the import refuses one whose
lines are too large (a real Kafka-protocol broker, tansu, and the relay's own producer with its
default limits)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from domain.common import InvalidInput
from domain.statement_format import MAX_LINES
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.kafka_support import Broker, TopicReader, wait_until
from tests.integration.test_relay import broker, relay_for, req  # noqa: F401

HEADER = ["交易日期", "金额", "交易流水号", "对方户名"]


@pytest.fixture(scope="module")
def system(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """A database of the module's own: the relay reads the log from its start."""
    with scratch_database(server_url, "sc_statement_relay") as url:
        container = build(settings_for(url, tmp_path_factory.mktemp("relay"), pool_size=3))
        yield container
        container.close()


def _rows(lines: int, reference: str) -> list[list[str]]:
    return [HEADER, *[["2026-05-01", f"{n}.00", f"{reference}{n:06d}", "上海某某汽车租赁有限公司"]
                      for n in range(1, lines + 1)]]


def _import(system: Container, store_id: str, rows: list[list[str]]) -> int:
    """The statement's lines, imported by the store's finance."""
    done = system.settlements.import_statement(req(store_id, "finance"), store_id=store_id,
                                               source="bank", account="工行 1001", rows=rows)
    return int(done.body["lines"])


def test_a_statement_of_the_most_lines_is_published_and_one_too_large_refused(
        system: Container, broker: Broker) -> None:  # noqa: F811
    """Found by hand: 20,000 lines (the most a statement holds, a file well within the body
    limit) were imported, and their integration event was 1.6 MB: the producer refused it
    (MessageSizeTooLargeError, max_request_size 1 MiB) at every try, so the relay stopped at
    that event for good and nothing stored after it was ever published. The relay's messages
    now take 8 MiB by default; a statement whose lines take more than MAX_LINES_BYTES written
    out is refused: split the file."""
    # lines of 88-character references and a company's name as payer: 4.4 MB, refused
    head = system.app.recorder.max_notification_id()
    with pytest.raises(InvalidInput, match="split the file") as refused:
        _import(system, "RS1", _rows(MAX_LINES, "4200001234202605" * 5 + "-"))
    assert refused.value.extra == {"lines": MAX_LINES}
    assert system.app.recorder.max_notification_id() == head  # nothing stored

    # The most lines of 22-character references and a company's name as payer (3.1 MB) are
    # published, and so is what comes after them.
    reference = "4200001234202605" + uuid.uuid4().hex[:6]
    assert _import(system, "RS1", _rows(MAX_LINES, reference)) == MAX_LINES
    assert _import(system, "RS1", _rows(1, "after-")) == 1
    relay = relay_for(system, broker)
    assert relay.catch_up() == system.app.recorder.max_notification_id()
    reader = TopicReader(broker.bootstrap, relay.mapper.topics())
    wait_until(lambda: (reader.poll(), len(reader.records) >= 2)[1], 60, "both statements")
    reader.close()
    assert max(len(r.value) for r in reader.records) > 1_900_000
    assert MAX_LINES in [len(json.loads(r.value)["payload"].get("lines", ())) for r in reader.records]
