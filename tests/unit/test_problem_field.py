"""A schema refusal names `field` when, and only when, every error is about one field at the
top of the body, or about one query or path parameter (by its name as sent): a client shows it
next to that field, as it does a domain refusal's."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api.errors import invalid_input_problem

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20)


def _answered(locs: list[tuple[Any, ...]]) -> dict[str, Any]:
    found = [{"loc": loc, "msg": "no", "type": "greater_than"} for loc in locs]
    body: dict[str, Any] = json.loads(invalid_input_problem(found).body)
    return body


@given(NAMES, st.integers(min_value=1, max_value=3))
def test_errors_about_one_body_field_name_it(name: str, times: int) -> None:
    answered = _answered([("body", name)] * times)
    assert answered["field"] == name
    assert [e["loc"] for e in answered["errors"]] == [["body", name]] * times


@given(st.sampled_from(["query", "path"]), NAMES, st.integers(min_value=1, max_value=3))
def test_errors_about_one_parameter_name_it(where: str, name: str, times: int) -> None:
    answered = _answered([(where, name)] * times)
    assert answered["field"] == name


@given(st.lists(st.one_of(
    st.tuples(st.just("body"), NAMES),
    st.tuples(st.sampled_from(["query", "path"]), NAMES),
    st.tuples(st.just("header"), NAMES),
    st.tuples(st.just("query"), NAMES, st.integers(0, 3)),
    st.tuples(st.just("body"), NAMES, st.integers(0, 3), NAMES)), min_size=1, max_size=6))
def test_a_field_is_named_only_when_every_error_is_that_field(
        locs: list[tuple[Any, ...]]) -> None:
    answered = _answered(locs)
    named = {loc for loc in locs if len(loc) == 2 and loc[0] in ("body", "query", "path")}
    if len(set(locs)) == 1 and named:
        assert answered["field"] == locs[0][1]
    else:
        assert "field" not in answered
