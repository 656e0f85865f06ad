"""A provider's reference typed in full width is the ASCII one: one transaction is one payment,
however the cashier's keyboard typed its reference, now or before references were kept in
ASCII."""

from __future__ import annotations

import pytest

from domain import payment_reference
from domain.payment_reference import PaymentReference, ReferenceTaken
from domain.settlement import Settlement
from servicecore.container import Container
from tests.integration.support import load
from tests.integration.test_money_doubles import confirmed
from tests.integration.test_money_support import req


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_a_reference_typed_in_full_width_is_the_ascii_reference(
        container: Container, store_id: str) -> None:
    first_wo, first_settlement = confirmed(container, store_id)
    second_wo, second_settlement = confirmed(container, store_id)
    ref = f"4200001234{store_id}"
    pay = container.settlements.pay
    # the WeChat Pay transaction id typed in full width is kept, and reserved, in ASCII
    taken = pay(req(store_id), work_order_id=first_wo, method="wechat_pay", amount="100.00",
                provider_ref=f"\u3000{full_width(ref)}").body
    payment = load(container.app, Settlement, first_settlement).payments[
        taken["payment_id"]]
    assert payment["provider_ref"] == ref
    assert load(container.app, PaymentReference,
                PaymentReference.create_id(store_id, "wechat_pay", ref)).reference == ref

    # the same transaction typed in ASCII, or in full width again, on another visit: refused
    for typed in (ref, full_width(ref)):
        with pytest.raises(ReferenceTaken) as refused:
            pay(req(store_id), work_order_id=second_wo, method="wechat_pay", amount="100.00",
                provider_ref=typed)
        assert refused.value.extra["payment_id"] == taken["payment_id"]
    # and on the same visit (a double tap)
    with pytest.raises(ReferenceTaken):
        pay(req(store_id), work_order_id=first_wo, method="wechat_pay", amount="50.00",
            provider_ref=ref)
    assert load(container.app, Settlement, second_settlement).payments == {}


def test_a_reference_kept_in_full_width_before_is_still_taken(
        container: Container, store_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first_wo, _ = confirmed(container, store_id)
    second_wo, second_settlement = confirmed(container, store_id)
    ref = f"4200005678{store_id}"
    wide = full_width(ref)
    # before references were kept in ASCII: reserved under the full-width form as typed
    with monkeypatch.context() as before:
        before.setattr(payment_reference, "ascii_width", lambda text: text)
        taken = container.settlements.pay(
            req(store_id), work_order_id=first_wo, method="alipay", amount="100.00",
            provider_ref=wide).body
    assert load(container.app, PaymentReference,
                PaymentReference.create_id(store_id, "alipay", wide)).reference == wide

    # the same transaction, typed in ASCII or in full width now, is refused naming it
    for typed in (ref, wide, f" {wide}\u3000"):
        with pytest.raises(ReferenceTaken) as refused:
            container.settlements.pay(req(store_id), work_order_id=second_wo, method="alipay",
                                      amount="100.00", provider_ref=typed)
        assert refused.value.extra["payment_id"] == taken["payment_id"], typed
    with pytest.raises(ReferenceTaken):
        container.settlements.pay(req(store_id), work_order_id=first_wo, method="alipay",
                                  amount="50.00", provider_ref=ref)
    assert load(container.app, Settlement, second_settlement).payments == {}
