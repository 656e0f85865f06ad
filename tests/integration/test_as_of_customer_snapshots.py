"""A customer's `as_of` from a snapshot is their `as_of` by full replay, on real PostgreSQL.

`GET /customers/{id}?as_of=` starts from the latest trusted snapshot at or before the version
the moment reaches and reads `consent` from the stream's consent events up to it
(projections/crm_as_of.py); snapshots that state their events' latest stamp are a start
without working the version out first (projections/as_of_start.py `stamped_start`). For any
run of consents given and withdrawn, tags set and removed, details changed and an erasure,
stamped mostly in order, saved in batches, and for every moment that matters, the answer is
the one the replay from the first event gives, a snapshot forged behind the application's
back included.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.common import Audit, DomainError
from domain.customer import CHANNELS, Customer
from projections.as_of_start import stamped_start, trusted_starts
from projections.audit import PersonalDataOpener
from projections.crm_as_of import _customer_by_replay, customer_as_of
from servicecore.container import Container, eventsourcing_env
from tests.integration.test_as_of_snapshots import EVERY, GAP, T0, forge, moments

ZONE = ZoneInfo("Asia/Shanghai")
STEP = st.one_of(
    st.tuples(st.just("consent"), st.sampled_from(CHANNELS), st.booleans()),
    st.tuples(st.just("tag"), st.sampled_from(["fleet-a", "night", "vip-b"])),
    st.tuples(st.just("untag"), st.sampled_from(["fleet-a", "night", "vip-b"])),
    st.tuples(st.just("details"), st.sampled_from(["person", "company"])),
    st.tuples(st.just("erase")),
)


class CustomersEveryFewEvents(ServiceCore):
    name = ServiceCore.name  # the same tables
    snapshotting_intervals = {Customer: EVERY}  # noqa: RUF012


@pytest.fixture(scope="module")
def app(container: Container, database_url: str) -> Iterator[ServiceCore]:
    made = CustomersEveryFewEvents(env={**eventsourcing_env(database_url, container.settings),
                                        "AGGREGATE_CACHE_MAXSIZE": ""})
    yield made
    made.close()


def build(app: ServiceCore, steps: list[tuple[Any, ...]], gaps: list[int],
          saves: list[bool]) -> tuple[UUID, list[Any]]:
    at = T0
    customer = Customer(id=uuid4(), audit=_audit(at), kind="person", sealed={})
    stamps = [at]
    for i, step in enumerate(steps):
        at += timedelta(seconds=gaps[i % len(gaps)])
        before = customer.version
        try:
            _apply(customer, _audit(at), step)
        except DomainError:
            continue
        stamps += [at] * (customer.version - before)
        if saves[i % len(saves)]:
            app.save(customer)
    app.save(customer)
    return customer.id, stamps


def _audit(at: Any) -> Audit:
    return Audit("adv-1", "advisor", "S01", at, "as-of-test")


def _apply(customer: Customer, audit: Audit, step: tuple[Any, ...]) -> None:
    kind, *args = step
    if kind == "consent":
        customer.consent(audit, args[0], args[1], "asked at the desk")
    elif kind == "tag":
        customer.tag(audit, args[0])
    elif kind == "untag":
        customer.untag(audit, args[0], "no longer so")
    elif kind == "details":
        customer.change_details(audit, args[0], {}, "customer asked at the desk")
    else:
        customer.erase(audit, "asked to be forgotten")


@settings(max_examples=25, deadline=None)
@given(steps=st.lists(STEP, min_size=1, max_size=30), gaps=st.lists(GAP, min_size=1),
       saves=st.lists(st.booleans(), min_size=1),
       forged=st.none() | st.tuples(st.integers(0, 200), st.sampled_from(["other key",
                                                                           "unsealed"])))
def test_customer_as_of_from_a_snapshot_is_the_full_replay(
        app: ServiceCore, database_url: str, steps: list[tuple[Any, ...]], gaps: list[int],
        saves: list[bool], forged: tuple[int, str] | None) -> None:
    customer_id, stamps = build(app, steps, gaps, saves)
    if forged is not None:
        version = forged[0] % len(stamps) + 1
        version -= 0 if version % EVERY else 1
        if version:
            forge_customer(app, database_url, customer_id, version, forged[1])
    for at in moments(stamps):
        opener = PersonalDataOpener(app.personal_data)
        expected = _customer_by_replay(app, customer_id, at, ZONE, opener)
        reach = expected["version"] if expected else 0
        assert next(trusted_starts(app, customer_id, reach)).version == reach // EVERY * EVERY
        start = stamped_start(app, customer_id, at)  # the snapshots state their stamps
        assert (start and start.version) == (reach // EVERY * EVERY or None), at
        assert customer_as_of(app, customer_id, at, ZONE, opener) == expected, at


def test_a_consent_read_on_from_the_stamped_snapshot_counts(app: ServiceCore) -> None:
    """The moment's last event is a consent after the snapshot: read on from the snapshot,
    up to and with it."""
    steps = [("tag", "night"), ("details", "person"), ("tag", "vip-b"),
             ("consent", CHANNELS[0], True), ("consent", CHANNELS[1], True),
             ("consent", CHANNELS[0], False), ("tag", "fleet-a")]
    customer_id, stamps = build(app, steps, [7, -3, 5], [True])
    for at in moments(stamps):
        opener = PersonalDataOpener(app.personal_data)
        expected = _customer_by_replay(app, customer_id, at, ZONE, opener)
        assert customer_as_of(app, customer_id, at, ZONE, opener) == expected, at


def forge_customer(app: ServiceCore, database_url: str, customer_id: UUID, version: int,
                   how: str) -> None:
    """A snapshot of `version` with a tag the customer never had, not sealed by the app."""
    forge(app, database_url, customer_id, version, how, change=_forged_tag)


def _forged_tag(customer: Any) -> None:
    customer.tags = [*customer.tags, "forged"]
