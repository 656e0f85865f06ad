"""A service plan's brand and model are matched by the payer key: every typing of a brand is
one plan's, and a plan typed without full-width letters keeps the id it was set with."""

from __future__ import annotations

import unicodedata

from hypothesis import assume, given
from hypothesis import strategies as st

from domain.common import stable_id
from domain.payer_name import payer_name_key
from domain.vehicle import ServicePlan
from tests.unit.test_payer_names import NAME, typed_forms


@given(st.data(), NAME)
def test_every_typing_of_a_brand_is_one_plan_key(data: st.DataObject, name: str) -> None:
    typed = data.draw(typed_forms(name))
    assert ServicePlan.key(typed) == ServicePlan.key(name) == payer_name_key(typed)
    assert ServicePlan.create_id(ServicePlan.key(typed), "*") == \
        ServicePlan.create_id(ServicePlan.key(name), "*")


@given(st.text(max_size=20), st.text(max_size=20))
def test_a_plan_without_full_width_letters_keeps_its_id(brand: str, model: str) -> None:
    # The id of a plan set before comes from the older key; where NFKC leaves the text as it
    # is (ASCII, Chinese, half-width), both keys and so both ids are one.
    assume(all(unicodedata.normalize("NFKC", t) == t for t in (brand, model)))
    assert ServicePlan.key(brand) == ServicePlan.legacy_key(brand)
    assert ServicePlan.create_id(ServicePlan.key(brand), ServicePlan.key(model)) == \
        ServicePlan.create_id(ServicePlan.legacy_key(brand), ServicePlan.legacy_key(model))


def test_the_legacy_key_is_the_one_plans_were_set_with() -> None:
    assert ServicePlan.legacy_key(" VOLKS  Wagen ") == "volks wagen"
    assert ServicePlan.create_id(ServicePlan.key("Volkswagen"), ServicePlan.key("*")) == \
        stable_id("service-plan", "volkswagen", "*")
