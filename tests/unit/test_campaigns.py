"""The OEM campaign master, in memory: a campaign is registered once under its number, takes
its VINs in chunks (a VIN already listed is counted, never recorded again, never dropped), and
once closed takes nothing more; bad input refuses the whole command with nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.campaign import MAX_VINS_PER_IMPORT, Campaign, CampaignError
from domain.campaigns import Campaigns
from domain.common import InvalidInput, NotFound
from domain.integration_events import ROUTES
from domain.integration_payloads import PAYLOADS
from tests.integration.audit_support import new_vin
from tests.unit.support import events_stored, request

VINS = [new_vin() for _ in range(12)]


@pytest.fixture
def app() -> ServiceCore:
    return ServiceCore()


def register(app: ServiceCore, **overrides: Any) -> str:
    return str(Campaigns(app).register(request("manager"), **{
        "campaign_no": "ｒｃ2026-01", "brand": "Volkswagen", "title": "ECU update",
        "kind": "safety_recall", "starts_on": "2026-01-15", "op_codes": ["ecu-upd"],
        **overrides}).body["campaign_no"])


def kept(app: ServiceCore, number: str = "RC2026-01") -> Campaign:
    return app.repository.get(Campaign.create_id(number))  # type: ignore[no-any-return]


def test_a_campaign_is_registered_once_under_its_number_as_kept(app: ServiceCore) -> None:
    assert register(app) == "RC2026-01"
    campaign = kept(app)
    assert (campaign.brand, campaign.kind, campaign.remedy, campaign.starts_on,
            campaign.ends_on, campaign.closed) == (
        "Volkswagen", "safety_recall", {"op_codes": ["ECU-UPD"], "parts": []}, "2026-01-15",
        None, False)
    before = events_stored(app)
    with pytest.raises(CampaignError, match="already in the master"):
        register(app, brand="Audi", campaign_no="RC2026-01")
    assert events_stored(app) == before


@pytest.mark.parametrize(("overrides", "field"), [
    ({"campaign_no": "RC 2026 #1"}, "campaign_no"),
    ({"kind": "recall"}, "kind"),
    ({"title": "  "}, "title"),
    ({"starts_on": "2026-02-30"}, "starts_on"),
    ({"ends_on": "2026-01-14"}, "ends_on"),
    ({"parts": [" "]}, "remedy.parts"),
])
def test_bad_input_refuses_the_registration_naming_its_field(
        app: ServiceCore, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        register(app, **overrides)
    assert refused.value.extra["field"] == field
    assert events_stored(app) == 0


def test_vins_come_in_chunks_and_a_chunk_again_records_nothing(app: ServiceCore) -> None:
    register(app)
    campaigns = Campaigns(app)
    first = campaigns.list_vins(request("manager"), "rc2026-01", VINS[:3]).body
    assert (first["added"], first["already_listed"], first["affected"]) == (3, 0, 3)
    before = events_stored(app)
    again = campaigns.list_vins(request("manager"), "RC2026-01",
                                [v.lower() for v in VINS[:3]]).body
    assert (again["added"], again["already_listed"], again["affected"]) == (0, 3, 3)
    assert events_stored(app) == before
    more = campaigns.list_vins(request("manager"), "RC2026-01", [VINS[2], VINS[3]]).body
    assert (more["added"], more["affected"]) == (1, 4)
    assert kept(app).vins == set(VINS[:4])


def test_a_bad_vin_or_an_oversized_chunk_refuses_the_chunk(app: ServiceCore) -> None:
    register(app)
    before = events_stored(app)
    with pytest.raises(InvalidInput) as refused:
        Campaigns(app).list_vins(request("manager"), "RC2026-01",
                                 [VINS[0], "LSVAU218XN2183295"])
    assert refused.value.extra["field"] == "vins.1"
    for chunk in ([], [VINS[0]] * (MAX_VINS_PER_IMPORT + 1)):
        with pytest.raises(InvalidInput):
            Campaigns(app).list_vins(request("manager"), "RC2026-01", chunk)
    assert events_stored(app) == before
    with pytest.raises(NotFound):
        Campaigns(app).list_vins(request("manager"), "RC2099-99", [VINS[0]])


def test_a_closed_campaign_takes_no_vins_and_no_second_close(app: ServiceCore) -> None:
    register(app)
    campaigns = Campaigns(app)
    with pytest.raises(InvalidInput):
        campaigns.close(request("manager"), "RC2026-01", reason=" ")
    campaigns.close(request("manager"), "RC2026-01", reason="the OEM closed it")
    before = events_stored(app)
    with pytest.raises(CampaignError):
        campaigns.list_vins(request("manager"), "RC2026-01", [VINS[0]])
    with pytest.raises(CampaignError):
        campaigns.close(request("manager"), "RC2026-01", reason="again")
    assert events_stored(app) == before
    assert kept(app).closed


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from(VINS), min_size=1, max_size=6), max_size=8))
def test_the_listed_vins_are_the_union_of_the_chunks_each_recorded_once(
        chunks: list[list[str]]) -> None:
    app = ServiceCore()
    register(app)
    union: set[str] = set()
    for chunk in chunks:
        before = set(union)
        answer = Campaigns(app).list_vins(request("manager"), "RC2026-01", chunk).body
        union |= set(chunk)
        assert answer["added"] == len(union - before)
        assert kept(app).vins == union  # never fewer: a re-import drops nothing
    recorded = [v for e in app.events.get(Campaign.create_id("RC2026-01"))
                for v in getattr(e, "vins", ())]
    assert sorted(recorded) == sorted(union)  # each VIN in one event, once


def test_the_campaign_events_are_published_with_their_fields(app: ServiceCore) -> None:
    register(app)
    Campaigns(app).list_vins(request("manager"), "RC2026-01", VINS[:2])
    Campaigns(app).close(request("manager"), "RC2026-01", reason="the OEM closed it")
    registered, listed, closed = app.events.get(Campaign.create_id("RC2026-01"))
    assert ROUTES["Campaign"].topic == "workshop"
    assert PAYLOADS["Campaign"]["Registered"](registered)["campaign_no"] == "RC2026-01"
    assert PAYLOADS["Campaign"]["VinsListed"](listed) == {"vins": VINS[:2]}
    assert PAYLOADS["Campaign"]["Closed"](closed) == {"reason": "the OEM closed it"}
