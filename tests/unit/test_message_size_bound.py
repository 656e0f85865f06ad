"""The save's size check encodes a message exactly only when a quick bound (the payload and the
actor written compactly, plus the envelope's room) does not already show it under the limit.
The bound must never be below the exact size, whatever the text, numbers and dates hold."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.common import Audit, InvalidInput
from domain.message_size import published_bytes, refuse_oversized, size_bound
from domain.reconciliation import Statement
from domain.work_order import WorkOrder

TEXT = st.text(max_size=300)  # any code point: CJK, emoji, control characters, quotes
MONEY = st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False)
MOMENT = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                      timezones=st.just(UTC))
AUDITS = st.builds(Audit, user_id=st.text(min_size=1, max_size=200), role=st.text(max_size=40),
                   store_id=st.text(max_size=40), at=MOMENT,
                   correlation_id=st.text(min_size=1, max_size=200),
                   idempotency_key=st.none() | st.text(max_size=200))
LINES = st.fixed_dictionaries({
    "line_id": st.text(max_size=10), "job_no": st.integers(1, 10**6), "kind": TEXT,
    "description": TEXT, "hours": MONEY, "unit_price": MONEY, "gross": MONEY,
    "warranty": st.none() | st.dictionaries(st.text(max_size=20), TEXT | MONEY, max_size=4),
})
STATEMENT_LINES = st.lists(st.fixed_dictionaries({
    "line_no": st.integers(1, 20_000), "date": st.dates().map(str), "amount": MONEY,
    "reference": TEXT, "counterparty": TEXT}), max_size=30)


def _line_added(audit: Audit, line: dict[str, Any], at: datetime) -> Any:
    return WorkOrder.LineAdded(originator_id=uuid4(), originator_version=7, timestamp=at,
                               audit=audit, line=line)


def _imported(audit: Audit, lines: list[dict[str, Any]], source: str, at: datetime) -> Any:
    return Statement.Imported(originator_id=uuid4(), originator_version=1, timestamp=at,
                              originator_topic="domain.reconciliation:Statement", audit=audit,
                              source=source, account=source, lines=lines)


@given(AUDITS, LINES, MOMENT)
def test_the_bound_of_an_estimate_line_is_never_below_its_message(
        audit: Audit, line: dict[str, Any], at: datetime) -> None:
    event = _line_added(audit, line, at)
    bound = size_bound(event)
    assert bound is not None and bound >= published_bytes(event)


@given(AUDITS, STATEMENT_LINES, TEXT, MOMENT)
def test_the_bound_of_a_statement_is_never_below_its_message(
        audit: Audit, lines: list[dict[str, Any]], source: str, at: datetime) -> None:
    event = _imported(audit, lines, source, at)
    bound = size_bound(event)
    assert bound is not None and bound >= published_bytes(event)


def test_an_event_near_the_limit_is_still_measured_exactly() -> None:
    """Under the limit by its exact size but not by the bound: stored; over it: refused."""
    audit = Audit("adv-S01", "advisor", "S01", datetime(2026, 5, 1, tzinfo=UTC), "c-1")
    event = _line_added(audit, {"line_id": "L1", "job_no": 1, "description": "刹车" * 500,
                                "gross": Decimal("1.00")}, datetime(2026, 5, 1, tzinfo=UTC))
    exact = published_bytes(event)
    assert size_bound(event) > exact  # type: ignore[operator]
    refuse_oversized([event], exact)  # fits exactly: no refusal
    with pytest.raises(InvalidInput) as refused:
        refuse_oversized([event], exact - 1)
    assert refused.value.extra["size"] == exact and refused.value.extra["limit"] == exact - 1
