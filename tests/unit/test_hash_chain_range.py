"""Which notification ids one verification request covers, and the table names the chain's
queries use (projections may not import servicecore, so they are written twice)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.common import InvalidInput
from projections import hash_chain
from projections.hash_chain import LAST_ID, verify_range
from servicecore import schema


def test_the_table_names_are_the_event_stores() -> None:
    assert (hash_chain.EVENTS_TABLE, hash_chain.HASHES_TABLE, hash_chain.ANCHORS_TABLE) == (
        schema.EVENTS_TABLE, schema.HASHES_TABLE, schema.ANCHORS_TABLE)


@pytest.mark.parametrize(("start", "end", "head", "expected"), [
    (None, None, 1_000, (1, 1_000)),  # a short log: all of it
    (None, None, 2_500, (1_501, 2_500)),  # the last 1,000 up to the head
    (None, None, 0, (1, 1)),  # an empty log: nothing to check, no refusal
    (1, None, 2_500, (1, 1_000)),  # from alone: a range of 1,000 from there
    (2_001, None, 2_500, (2_001, 2_500)),  # ... or to the head if nearer
    (3_000, None, 2_500, (3_000, 3_000)),  # beyond the head
    (None, 1_500, 2_500, (501, 1_500)),  # to alone: a range of 1,000 ending there
    (None, 500, 2_500, (1, 500)),
    (7, 1_006, 2_500, (7, 1_006)),  # exactly 1,000
    (LAST_ID, None, 2_500, (LAST_ID, LAST_ID)),
])
def test_a_range_left_open_is_filled_in(start: int | None, end: int | None, head: int,
                                        expected: tuple[int, int]) -> None:
    assert verify_range(start, end, head, 1_000) == expected


def test_more_than_the_bound_or_backwards_is_refused_with_how_to_page() -> None:
    with pytest.raises(InvalidInput) as too_many:
        verify_range(1, 1_001, 5_000, 1_000)
    assert "page through the log with from and to" in too_many.value.detail
    assert "from=1&to=1000, then from=1001" in too_many.value.detail
    assert too_many.value.extra == {"field": "to", "max_range": 1_000}
    with pytest.raises(InvalidInput, match="before from"):
        verify_range(10, 9, 5_000, 1_000)


@given(st.one_of(st.none(), st.integers(1, LAST_ID)), st.one_of(st.none(), st.integers(1, LAST_ID)),
       st.integers(0, LAST_ID), st.integers(1, 10**6))
def test_a_range_served_is_never_wider_than_the_bound(start: int | None, end: int | None,
                                                     head: int, most: int) -> None:
    try:
        first, last = verify_range(start, end, head, most)
    except InvalidInput:
        assert start is not None and end is not None
        return
    assert 1 <= first <= last <= LAST_ID and last - first + 1 <= most
    assert first == (start if start is not None else first)
    assert last == (end if end is not None else last)
