"""The campaigns read model on PostgreSQL, folded from a campaign's own events and visits'
events in any order: the cars counted done are always among those the campaign lists, are
exactly those a settled (not reversed) visit did it on with an approved line, and a re-import
of the OEM's list never undoes one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.campaign import Campaign
from domain.campaigns import Campaigns
from domain.common import Audit
from domain.work_order import WorkOrder
from projections.campaigns import CampaignsView, campaign_detail, not_done_on_file
from projections.customers import CustomersView
from tests.databases import scratch_database
from tests.integration.audit_support import new_vin
from tests.unit.support import request

POOL = [new_vin() for _ in range(5)]
NUMBER = "RC2026-07"
AUDIT = Audit("adv-1", "advisor", "S01", datetime(2026, 3, 1, tzinfo=UTC), "corr")
VIEW = CampaignsView()

# A step: ("import", VINs) — the OEM's list, or part of it, again or not; ("visit", VIN,
# approved, reversed) — a visit of the car with a line of the campaign, settled (and the
# settlement reversed after).
steps = st.lists(st.one_of(
    st.tuples(st.just("import"), st.lists(st.sampled_from(POOL), min_size=1, max_size=5)),
    st.tuples(st.just("visit"), st.sampled_from(POOL), st.booleans(), st.booleans())),
    min_size=1, max_size=12)


@pytest.fixture(scope="module")
def conn(server_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A database of the module's own: the view's tables and the vehicle file's, every car of
    the pool on file in store S01."""
    with scratch_database(server_url, "sc_campaigns") as url, psycopg.connect(
            url, autocommit=True) as connection:
        VIEW.create(connection)
        connection.execute(f"CREATE TABLE vehicles ({CustomersView.tables['vehicles']})")
        for vin in POOL:
            connection.execute(
                """INSERT INTO vehicles (id, vin, store_id, registered, plates, owners,
                   first_seen, updated_at) VALUES (%s, %s, 'S01', true, '[]', '[]', now(),
                   now())""", (uuid4(), vin))
        yield connection


def visit_events(vin: str, approved: bool, reversed_: bool) -> list[Any]:
    wo, version = uuid4(), count(1)

    def made(cls: type, **fields: Any) -> Any:
        created = {"originator_topic": "domain.work_order:WorkOrder"} if cls is WorkOrder.Opened else {}
        return cls(originator_id=wo, originator_version=next(version), timestamp=AUDIT.at,
                   audit=AUDIT, **created, **fields)

    line = {"line_id": "L1", "job_no": 1, "kind": "labor", "status": "pending",
            "warranty": {"coverage_code": "C-22", "campaign_no": NUMBER.lower()}}
    events = [made(WorkOrder.Opened, number=f"WO-{wo.hex[:6]}", customer_id=uuid4(),
                   customer={}, vehicle={"vin": vin}, mileage=1, kind="repair",
                   appointment_id=None, complaints=["x"]),
              made(WorkOrder.LineAdded, line=line),
              made(WorkOrder.LineAuthorized, line_id="L1",
                   decision="approved" if approved else "declined", channel="in_person",
                   note=None),
              made(WorkOrder.Settled, settlement_id=uuid4(), number="S1", customer_total=0)]
    if reversed_:
        events.append(made(WorkOrder.SettlementReversed, number="S1", reason="wrong"))
    return events


def done_vins(conn: psycopg.Connection[Any]) -> tuple[dict[str, Any], set[str]]:
    detail = campaign_detail(conn, NUMBER, ["S01"])
    assert detail is not None
    listed = {r[0] for r in conn.execute(
        "SELECT vin FROM campaign_vins WHERE campaign_no = %s", (NUMBER,)).fetchall()}
    not_done = {v["vin"] for v in not_done_on_file(conn, NUMBER, ["S01"], limit=100,
                                                   offset=0)["items"]}
    return detail, listed - not_done


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_done_cars_are_listed_cars_done_by_a_settled_visit_and_a_reimport_undoes_none(
        conn: psycopg.Connection[Any], plan: list[tuple[Any, ...]]) -> None:
    with conn.transaction(force_rollback=True):
        app = ServiceCore()
        Campaigns(app).register(request("manager"), campaign_no=NUMBER, brand="VW",
                                title="ECU", kind="safety_recall", starts_on="2026-01-01")
        seen = 0
        listed: set[str] = set()
        settled: set[str] = set()  # cars with a settled visit that did the campaign
        before: set[str] = set()
        for n, step in enumerate(plan):
            if step[0] == "import":
                Campaigns(app).list_vins(request("manager"), NUMBER, step[1])
                listed |= set(step[1])
            elif step[2] and not step[3]:
                settled.add(step[1])
            events = list(app.events.get(Campaign.create_id(NUMBER), gt=seen))
            seen += len(events)
            if step[0] == "visit":
                events += visit_events(*step[1:])
            VIEW.apply(conn, [(n, e) for e in events])
            detail, done = done_vins(conn)
            assert done <= listed
            assert done == settled & listed
            assert (detail["affected"], detail["done"], detail["on_file"]) == (
                len(listed), len(done), len(listed))
            if step[0] == "import":
                assert before <= done
            before = done
