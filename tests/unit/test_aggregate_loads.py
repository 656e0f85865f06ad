"""Loads from the aggregate cache: the copy a command gets is what deepcopy would give.

`copy_aggregate` copies plain state (dicts, lists, tuples, immutable values) itself and hands
anything else to `copy.deepcopy`; either way the copy equals the cached aggregate and shares
no mutable container with it, and structure shared inside the state stays shared.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from hypothesis import given
from hypothesis import strategies as st

from domain.aggregate_loads import copy_aggregate
from domain.application import ServiceCore
from domain.work_order import WorkOrder
from domain.work_orders import WorkOrders
from tests.unit.support import labor, open_order, part, request


class Plain(Aggregate):
    def __init__(self, state: Any) -> None:
        self.state = state


def made(state: Any) -> Plain:
    """An aggregate as the cache holds it: its events stored (none pending)."""
    aggregate = Plain(state=state)
    aggregate.collect_events()
    return aggregate


def _containers(value: Any) -> list[Any]:
    """Every dict, list and set inside `value` (value included)."""
    found: list[Any] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found += _containers(item)
    elif isinstance(value, (list, set)):
        found.append(value)
        for item in value:
            found += _containers(item)
    elif isinstance(value, tuple):
        for item in value:
            found += _containers(item)
    elif hasattr(value, "__dict__"):
        found += _containers(vars(value))
    return found


def _assert_a_true_copy(original: Any, copied: Any) -> None:
    assert type(copied) is type(original)
    assert vars(copied) == vars(original) == vars(copy.deepcopy(original))
    assert copied is not original
    mine = {id(c) for c in _containers(vars(original))}
    assert not mine & {id(c) for c in _containers(vars(copied))}


ATOMS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=5),
    st.decimals(allow_nan=False, places=2), st.uuids(),
    st.datetimes(timezones=st.just(UTC)), st.dates(), st.binary(max_size=4),
    st.floats(allow_nan=False))
PLAIN = st.recursive(ATOMS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=4), inner, max_size=4)), max_leaves=20)


@given(PLAIN)
def test_plain_state_is_copied_as_deepcopy_would(state: Any) -> None:
    aggregate = made(state)
    _assert_a_true_copy(aggregate, copy_aggregate(aggregate))


def test_a_work_order_copy_is_its_own() -> None:
    app = ServiceCore()
    wos = WorkOrders(app)
    work_order_id = open_order(wos)
    wos.add_labor_line(request(), work_order_id, 1, labor())
    wos.add_part_line(request(), work_order_id, 1, part())
    cached = app.repository.get(work_order_id, deepcopy_from_cache=False)
    assert isinstance(cached, WorkOrder)
    copied = copy_aggregate(cached)
    _assert_a_true_copy(cached, copied)
    copied.lines["L1"]["description"] = "changed"
    assert cached.lines["L1"]["description"] == "replace front pads"
    # what a command gets from the repository is such a copy
    loaded = app.repository.get(work_order_id)
    assert loaded is not cached
    _assert_a_true_copy(cached, loaded)


def test_shared_structure_stays_shared() -> None:
    shared: dict[str, Any] = {"qty": 1}
    aggregate = made({"a": shared, "b": shared})
    copied = copy_aggregate(aggregate)
    assert copied.state["a"] is copied.state["b"]
    assert copied.state["a"] is not shared


def test_anything_else_is_deep_copied() -> None:
    class Note:
        def __init__(self, text: str) -> None:
            self.text = text

    for state in ({"tags": {"x", "y"}}, [Note("hi")], {(1, 2): [uuid4()]},
                  {"frozen": frozenset({1})}, {"when": (date(2026, 1, 1), timedelta(1))}):
        aggregate = made(state)
        copied = copy_aggregate(aggregate)
        assert copied is not aggregate
        assert copied.state is not aggregate.state
        if isinstance(state, list):
            assert copied.state[0].text == "hi" and copied.state[0] is not state[0]
        else:
            assert copied.state == state


def test_immutable_values_are_shared_not_rebuilt() -> None:
    when, stream = datetime.now(UTC), UUID(int=7)
    aggregate = made({"at": when, "id": stream, "n": (1, "a")})
    copied = copy_aggregate(aggregate)
    assert copied.state["at"] is when and copied.state["id"] is stream
    assert copied.state["n"] is aggregate.state["n"]


def test_a_command_answer_is_the_callers_own() -> None:
    """The aggregates a command saved stay cached as they are: its answer shares nothing with
    them, so a caller changing the answer changes neither them nor a replay of the command."""
    app = ServiceCore()
    wos = WorkOrders(app)
    work_order_id = open_order(wos)
    first = wos.add_labor_line(request(key="k-1"), work_order_id, 1, labor())
    first.body["line_id"] = "changed"
    again = wos.add_labor_line(request(key="k-1"), work_order_id, 1, labor())
    assert again.replayed and again.body["line_id"] == "L1"
    cached = app.cached(work_order_id)
    assert isinstance(cached, WorkOrder) and list(cached.lines) == ["L1"]
