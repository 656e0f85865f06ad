"""A stocktake count and issues to jobs racing, on real PostgreSQL, in two processes.

The shelf of a part holds one set fewer than the book. The clerk prints the count sheet, walks
the shelf and keys the count in while the workshop goes on taking parts for its jobs. Whatever
the order the database sees the count, its retries and the issues in, the variance booked is
the one set the shelf really lacks, never the parts that left for a job after the sheet.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from servicecore.container import Container
from tests.integration.support import together
from tests.integration.test_parts_support import (
    events_of,
    interfering,
    item_of,
    named,
    new_part,
    receive,
    req,
    stock_id,
    work_order,
)

ISSUES = 4  # one set to each of four jobs, from the other process
COUNTS = 3  # three clerks key in the same sheet's count at once


def _variances(container: Container, store_id: str, number: str) -> list[Decimal]:
    return [a["qty"] for e in named(events_of(container, stock_id(store_id, number)),
                                    "VariancePosted") for a in e.adjustments]


def test_an_issue_while_a_count_is_decided_is_no_variance(
        container: Container, other: Container, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 10 sets on the book, 9 on the shelf; a job has 2 reserved.
    number = new_part(container, store_id)
    lot_id = receive(container, store_id, number, 10)["lot_id"]
    wo_id, (line_id,) = work_order(container, store_id, [(number, 2)])
    # The clerk counts 9 (no sheet version sent); the job's 2 sets leave meanwhile.
    def other_issues(_: int) -> None:  # while the first count is decided
        other.work_orders.issue_part(req(store_id, user="clerk-2"), wo_id, line_id)

    with interfering(monkeypatch, other_issues, method="count") as calls:
        done = container.inventory.count(req(store_id), store_id, number,
                                         counted={lot_id: "9"}, reason="one set missing")
    assert len(calls) == 2 and calls[1] == calls[0] + 1  # decided again on the fresh item
    # The count is compared with the book the request found: one set lost, not one found.
    assert _variances(container, store_id, number) == [Decimal(-1)]
    assert done.body["as_of_version"] == calls[0]
    (line,) = done.body["lines"]
    assert (line["book"], line["counted"], line["variance"], line["moved_since"]) == (
        "10", "9", "-1", "-2")
    assert item_of(container, store_id, number).on_hand == 9 - 2


def test_counts_from_one_sheet_racing_issues_book_only_the_shelfs_difference(
        container: Container, other: Container, store_id: str) -> None:
    # 10 sets on the book, 9 on the shelf; four jobs have one set each reserved.
    number = new_part(container, store_id)
    lot_id = receive(container, store_id, number, 10)["lot_id"]
    wo_id, line_ids = work_order(container, store_id, [(number, 1)] * ISSUES)
    # The sheet is printed: the item's version now; the clerks find 9 on the shelf.
    sheet = item_of(container, store_id, number).version

    def work(i: int) -> Any:
        if i < ISSUES:  # the workshop takes a set for each job, from the other process
            return other.work_orders.issue_part(req(store_id, user=f"tech-clerk-{i}"), wo_id,
                                                line_ids[i])
        return container.inventory.count(  # three recounts of the same sheet
            req(store_id, user=f"clerk-{i}"), store_id, number, counted={lot_id: "9"},
            reason="one set missing", count_ref=f"ST-RACE-{i}", as_of_version=sheet)

    results = together(ISSUES + COUNTS, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    # Exactly the one missing set is booked, whichever count came first; the others found
    # the book already right. The book is the shelf: 9 less the four sets issued.
    assert _variances(container, store_id, number) == [Decimal(-1)]
    item = item_of(container, store_id, number)
    assert (item.on_hand, item.reserved_total) == (9 - ISSUES, 0)
    counted = named(events_of(container, stock_id(store_id, number)), "Counted")
    assert [e.as_of_version for e in counted] == [sheet] * COUNTS
    assert sorted(e.value for e in counted) == [Decimal("-10.00"), 0, 0]
