"""The insurer master, in memory: a manager registers insurers with their names and aliases,
renames them and changes aliases with a reason; every change is an event with who and why, a
name (compared as `insurer_key` compares it) belongs to one insurer at most, and a refused
command stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.application import ServiceCore
from domain.common import IllegalTransition, InvalidInput, NotFound
from domain.insurer import insurer_key
from domain.insurer_master import Insurer, InsurerError, InsurerName, InsurerNameTaken
from domain.insurers import Insurers
from tests.unit.support import events_stored, request


def manager(key: str | None = None) -> Any:
    return request("manager", key=key)


@pytest.fixture
def insurers() -> Insurers:
    return Insurers(ServiceCore())


def ping_an(insurers: Insurers, **overrides: Any) -> dict[str, Any]:
    return insurers.register(manager(), **{
        "code": "pingan", "name": "中国平安财产保险股份有限公司", "short_name": "中国平安",
        "aliases": ["平安产险", "Ping An"], **overrides}).body


def holder(app: ServiceCore, name: str) -> str | None:
    try:
        held = app.repository.get(InsurerName.create_id(insurer_key(name)))
    except AggregateNotFoundError:  # nobody ever held it
        return None
    return None if held.released else str(held.code)


def test_a_registered_insurer_holds_its_names_and_aliases(insurers: Insurers) -> None:
    body = ping_an(insurers, aliases=["平安产险", "Ping An", "ＰＩＮＧ　ＡＮ"])
    assert body["code"] == "PINGAN"
    insurer = insurers.app.repository.get(Insurer.create_id("PINGAN"))
    assert insurer.aliases == ["平安产险", "Ping An"]  # the full-width form is "Ping An"
    for name in ("中国平安财产保险股份有限公司", "中国平安", "平安产险", "ping  an"):
        assert holder(insurers.app, name) == "PINGAN"


def test_a_name_another_insurer_holds_is_refused_naming_it_and_nothing_is_stored(
        insurers: Insurers) -> None:
    ping_an(insurers)
    before = events_stored(insurers.app)
    with pytest.raises(InsurerNameTaken) as refused:
        insurers.register(manager(), code="PICC", name="中国人民财产保险股份有限公司",
                          short_name="人保财险", aliases=["PING AN"])
    assert refused.value.extra["insurer_code"] == "PINGAN"
    assert "PINGAN" in refused.value.detail
    insurers.register(manager(), code="PICC", name="中国人民财产保险股份有限公司",
                      short_name="人保财险")
    after = events_stored(insurers.app)
    with pytest.raises(InsurerNameTaken):
        insurers.change_aliases(manager(), "PICC", add=["平安产险"], reason="typed on claims")
    assert events_stored(insurers.app) == after > before


def test_bad_input_is_refused_before_anything_is_stored(insurers: Insurers) -> None:
    for bad in ({"code": "平安"}, {"code": ""}, {"name": "  "}, {"short_name": "x" * 101},
                {"aliases": ["ok", " "]}):
        with pytest.raises(InvalidInput):
            ping_an(insurers, **bad)
    assert events_stored(insurers.app) == 0
    ping_an(insurers)
    with pytest.raises(IllegalTransition):
        ping_an(insurers)
    with pytest.raises(InvalidInput):
        insurers.rename(manager(), "PINGAN", name="平安", short_name=None, reason="")
    with pytest.raises(NotFound):
        insurers.rename(manager(), "NOPE", name="x", short_name=None, reason="a reason")


def test_a_rename_keeps_the_history_and_lets_the_old_name_go(insurers: Insurers) -> None:
    ping_an(insurers)
    insurers.rename(manager(), "PINGAN", name=None, short_name="平安财险",
                    reason="the insurer's new brand")
    app = insurers.app
    assert holder(app, "中国平安") is None and holder(app, "平安财险") == "PINGAN"
    # The old name is free for another insurer (a keying mistake put right).
    insurers.register(manager(), code="ZGPA", name="中国平安", short_name="中国平安")
    assert holder(app, "中国平安") == "ZGPA"
    events = list(app.events.get(Insurer.create_id("PINGAN")))
    assert [type(e).__name__ for e in events] == ["Registered", "Renamed"]
    assert events[0].short_name == "中国平安"  # the name it had stays in its history
    assert events[1].reason == "the insurer's new brand"
    assert events[1].audit.user_id == "manager-1"
    with pytest.raises(InsurerError):
        insurers.rename(manager(), "PINGAN", name=None, short_name="平安财险", reason="again")


def test_a_deactivated_insurer_keeps_its_names_and_takes_no_change(insurers: Insurers) -> None:
    ping_an(insurers)
    insurers.deactivate(manager(), "PINGAN", reason="contract ended")
    assert holder(insurers.app, "Ping An") == "PINGAN"
    with pytest.raises(InsurerError):
        insurers.change_aliases(manager(), "PINGAN", add=["平安"], reason="typed on claims")


def test_a_retried_command_with_its_key_stores_nothing_twice(insurers: Insurers) -> None:
    first = insurers.register(manager("k-1"), code="PICC", name="中国人民财产保险",
                              short_name="人保")
    stored = events_stored(insurers.app)
    again = insurers.register(manager("k-1"), code="PICC", name="中国人民财产保险",
                              short_name="人保")
    assert again.replayed and again.body == first.body
    assert events_stored(insurers.app) == stored


NAMES = st.sampled_from(["Ping An", "ping an", "平安产险", "PICC", "人保", "太平洋", "CPIC",
                         "ＰＩＮＧ ＡＮ", "Sunshine", "阳光"])
CODES = st.sampled_from(["A", "B", "C"])


class InsurerNames(RuleBasedStateMachine):
    """Registrations, renames and alias changes in any order: a name's key is held by at most
    one insurer, and exactly by the insurer that has the name now."""

    def __init__(self) -> None:
        super().__init__()
        self.insurers = Insurers(ServiceCore())

    def _try(self, act: Any) -> None:
        before = events_stored(self.insurers.app)
        try:
            act()
        except (InvalidInput, IllegalTransition, NotFound):
            assert events_stored(self.insurers.app) == before  # a refusal stores nothing

    @rule(code=CODES, name=NAMES, short=NAMES, aliases=st.lists(NAMES, max_size=3))
    def register(self, code: str, name: str, short: str, aliases: list[str]) -> None:
        self._try(lambda: self.insurers.register(manager(), code=code, name=name,
                                                 short_name=short, aliases=aliases))

    @rule(code=CODES, short=NAMES)
    def rename(self, code: str, short: str) -> None:
        self._try(lambda: self.insurers.rename(manager(), code, name=None, short_name=short,
                                               reason="renamed"))

    @rule(code=CODES, add=st.lists(NAMES, max_size=2), remove=st.lists(NAMES, max_size=2))
    def aliases(self, code: str, add: list[str], remove: list[str]) -> None:
        self._try(lambda: self.insurers.change_aliases(manager(), code, add=add, remove=remove,
                                                       reason="typed on claims"))

    @invariant()
    def each_name_has_one_insurer(self) -> None:
        app, owners = self.insurers.app, {}
        for code in ("A", "B", "C"):
            if Insurer.create_id(code) not in app.repository:
                continue
            insurer = app.repository.get(Insurer.create_id(code))
            for key in insurer.name_keys():
                assert owners.setdefault(key, code) == code, (key, owners[key], code)
        for name in ("Ping An", "平安产险", "PICC", "人保", "太平洋", "CPIC", "Sunshine", "阳光"):
            assert holder(app, name) == owners.get(insurer_key(name)), name


InsurerNames.TestCase.settings = settings(max_examples=60, stateful_step_count=25)
TestInsurerNames = InsurerNames.TestCase
