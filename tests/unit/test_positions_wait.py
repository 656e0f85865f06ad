"""`?wait_for=`'s wait (api/positions.py): the head and the position in one first look."""

from __future__ import annotations

import asyncio
from typing import Any

from api.positions import FIRST_LOOK_SQL, POSITION_SQL, ProjectionPositions


class Table:
    """The database as the waits see it: the log's head and the positions table."""

    def __init__(self, head: int | None, positions: dict[str, int]) -> None:
        self.head = head
        self.positions = positions
        self.asked: list[str] = []

    def answer(self, sql: str, params: tuple[Any, ...]) -> Any:
        self.asked.append(sql)
        if sql == FIRST_LOOK_SQL:
            return [self.head, self.positions.get(params[0])]
        assert sql == POSITION_SQL
        return self.positions.get(params[0])

    async def query(self, sql: str, params: tuple[Any, ...]) -> Any:
        return self.answer(sql, params)


class Conn:  # the sync wait's connection: execute(...).fetchone()
    def __init__(self, table: Table) -> None:
        self.table = table

    def execute(self, sql: str, params: tuple[Any, ...]) -> Conn:
        self.row = (self.table.answer(sql, params),)
        return self

    def fetchone(self) -> tuple[Any, ...]:
        return self.row


def quiet_positions() -> ProjectionPositions:
    positions = ProjectionPositions("postgresql://unused")
    positions.start = lambda: None  # type: ignore[method-assign]  # no listener thread
    return positions


def test_a_position_the_table_shows_is_answered_after_one_statement() -> None:
    table = Table(head=10, positions={"stock": 10})
    positions = quiet_positions()
    assert asyncio.run(positions.wait_async(table.query, "stock", 10, 5.0)) is True
    assert table.asked == [FIRST_LOOK_SQL]
    assert positions.known("stock") == 10
    sync_table = Table(head=10, positions={"stock": 10})
    assert quiet_positions().wait(Conn(sync_table), "stock", 10, 5.0) is True  # type: ignore[arg-type]
    assert sync_table.asked == [FIRST_LOOK_SQL]


def test_an_id_beyond_the_head_is_refused_whatever_the_position() -> None:
    for head in (None, 9):
        table = Table(head=head, positions={"stock": 9})
        # None: not waited for (False would be a wait that timed out: 503 read-model-behind)
        assert asyncio.run(quiet_positions().wait_async(table.query, "stock", 10, 5.0)) is None
        assert quiet_positions().wait(Conn(table), "stock", 10, 5.0) is None  # type: ignore[arg-type]


def test_a_position_not_reached_yet_is_waited_for_until_announced() -> None:
    table = Table(head=12, positions={"stock": 10})
    positions = quiet_positions()

    async def scenario() -> tuple[bool, bool]:
        waiting = asyncio.ensure_future(positions.wait_async(table.query, "stock", 12, 30.0))
        await asyncio.sleep(0.05)
        early = waiting.done()  # the table shows 10, nothing announced 12
        positions._heard("stock", 12)  # the listener hears the runner's announcement
        return early, await waiting

    early, reached = asyncio.run(scenario())
    assert early is False
    assert reached is True
    assert table.asked == [FIRST_LOOK_SQL]  # woken by the announcement, not by reading again
