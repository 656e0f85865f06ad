"""A walk-in customer's phone, typed at the front desk with or without a Chinese input method in
full-width mode, with blanks or dashes between its digits, is one phone: kept as a registered
customer's is, and looked for in that form."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import customers
from domain.application import ServiceCore
from domain.common import InvalidInput
from domain.customers import normalise_phone
from domain.work_orders import WorkOrders
from tests.unit.support import VEHICLE, events_stored, load, request

IDEOGRAPHIC_SPACE = "\u3000"
SEPARATORS = ("", "", " ", "-", IDEOGRAPHIC_SPACE, "－")  # "－": a full-width dash

phones = st.one_of(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
                   st.from_regex(r"0[1-9][0-9]{1,2}[0-9]{7,8}", fullmatch=True))


@st.composite
def typings(draw: st.DrawFn, phone: str) -> str:
    """`phone` as a desk may type it: each character in full width or not, a blank or a dash
    (either width) after any of them, blanks around."""
    typed = ""
    for digit in phone:
        typed += chr(ord(digit) + 0xFEE0) if draw(st.booleans()) else digit
        typed += draw(st.sampled_from(SEPARATORS))
    return draw(st.sampled_from(["", " ", IDEOGRAPHIC_SPACE])) + typed


def walk_in_phone(app: ServiceCore, typed: str) -> str | None:
    """The phone a work order opened for a walk-in who gave `typed` keeps (opened)."""
    wos = WorkOrders(app)
    opened = wos.open(request(), store_id="S01", customer={"name": "陈静", "phone": typed},
                      vehicle=dict(VEHICLE), mileage=42_000, complaints=["brake noise"])
    work_order = load(app, UUID(opened.body["id"]))
    return app.personal_data.open(work_order.customer_id, work_order.customer["phone"])


@given(phones.flatmap(lambda phone: st.tuples(st.just(phone), typings(phone), typings(phone))))
def test_a_walk_in_phone_typed_any_way_is_kept_as_one(drawn: tuple[str, str, str]) -> None:
    phone, typed, typed_again = drawn
    app = ServiceCore()
    kept = walk_in_phone(app, typed)
    assert kept == walk_in_phone(app, typed_again) == normalise_phone(phone) == phone
    # the form the read models keep of a phone taken as typed before, and the search key
    assert customers.phone_as_kept(typed) == customers.phone_as_kept(typed_again) == phone
    assert customers.phone_search(typed) == customers.phone_search(typed_again) \
        == (phone, len(phone) >= customers.WHOLE_PHONE)


@pytest.mark.parametrize(("typed", "kept"), [
    ("+86 138-0013-8000", "13800138000"),
    ("（０２１）６４００ １２３４", "02164001234"),
    ("+1 (415) 555.0100", "14155550100"),
])
def test_a_walk_in_phone_is_kept_as_a_registered_customers_is(typed: str, kept: str) -> None:
    assert walk_in_phone(ServiceCore(), typed) == kept == normalise_phone(typed)


@pytest.mark.parametrize("typed", ["021-64001234 转 8", "021-64001234 ext. 8", "138"])
def test_a_walk_in_phone_no_customer_could_register_is_refused(typed: str) -> None:
    """The rule of a registered customer's phone: an extension, or too few digits, is 422
    naming the field, and nothing is stored."""
    app = ServiceCore()
    with pytest.raises(InvalidInput, match=r"customer\.phone") as refused:
        walk_in_phone(app, typed)
    assert refused.value.extra == {"field": "customer.phone"}
    assert events_stored(app) == 0


def test_a_phone_taken_as_typed_before_is_kept_without_blanks_and_dashes() -> None:
    """What the read models show of an old walk-in's phone no rule accepts now: its ASCII form
    without separators, the same however it was typed."""
    kept = customers.phone_as_kept("０２１－６４００ １２３４ 转 ８")
    assert kept == customers.phone_as_kept("021-64001234转8") == "02164001234转8"
    assert customers.phone_search("８０００") == ("8000", False)
    assert customers.phone_search("021-64001234转8") is None
    # a search is never refused: digits no phone is kept as find none
    assert customers.phone_search("1+3800138000") == ("1+3800138000", True)
