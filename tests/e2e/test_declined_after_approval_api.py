"""What the customer declined after approving it, as the work order shows it and as the
workshop is told.

A part line that no longer holds stock says so on the work order, as the stock item does:
the customer declining an approved part at the desk, or the visit being cancelled, lets the
line's reservation go in the same save. The work order still showed the line `reserved` with
its quantity held while the stock item held nothing for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_change_of_mind_api import CLEAN, PADS, PHONE, _line, _part_line, _visit
from tests.e2e.test_parts_api import get, post
from tests.integration.support import on_roster

Auth = Callable[..., dict[str, str]]


def _held(client: TestClient, clerk: dict[str, str], store_id: str, part: str, wo: str,
          line_id: str, wait_for: int) -> tuple[str, Any, Any]:
    """What the stock item holds reserved, and the line's `supply` and `reserved_qty` on
    the work order, both read after `wait_for`."""
    stock = get(client, f"/stock/{store_id}/{part}", clerk, wait_for=wait_for)
    line = _line(get(client, wo, clerk, wait_for=wait_for), line_id)
    return stock["reserved"], line.get("supply"), line.get("reserved_qty")


def test_a_part_declined_after_approval_shows_nothing_reserved(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor, clerk, part, wo, pads = _part_line(client, auth, store_id, 2)
    approved = post(client, f"{wo}/lines/{pads}/authorization", advisor, PHONE)
    assert _held(client, clerk, store_id, part, wo, pads, approved["notification_id"]) == \
        ("2", "reserved", "2")

    # She calls back: she brings her own pads. The store holds nothing for the line any more,
    # and neither does the work order.
    declined = post(client, f"{wo}/lines/{pads}/authorization", advisor, {
        "decision": "declined", "channel": "phone", "note": "brings her own pads"})
    assert _held(client, clerk, store_id, part, wo, pads, declined["notification_id"]) == \
        ("0", None, "0")

    # Wanted after all: reserved again, on both.
    again = post(client, f"{wo}/lines/{pads}/authorization", advisor,
                 {**PHONE, "note": "wants them after all"})
    assert _held(client, clerk, store_id, part, wo, pads, again["notification_id"]) == \
        ("2", "reserved", "2")


def test_a_cancelled_visit_shows_its_parts_no_longer_reserved(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor, clerk, part, wo, pads = _part_line(client, auth, store_id, 3)
    post(client, f"{wo}/lines/{pads}/authorization", advisor, PHONE)
    cancelled = post(client, f"{wo}/cancel", advisor, {"reason": "customer took the car away"})
    reserved, supply, line_reserved = _held(client, clerk, store_id, part, wo, pads,
                                            cancelled["notification_id"])
    assert (reserved, line_reserved) == ("0", "0")
    assert supply == "reserved"  # how it was supplied while the visit was open
    # The same as it stood then: the replay folds the events the view folds.
    as_of = get(client, wo, advisor, as_of=cancelled_at(client, advisor, wo))
    assert _line(as_of, pads)["reserved_qty"] == "0"


def cancelled_at(client: TestClient, headers: dict[str, str], wo: str) -> str:
    """The moment the view says the visit was cancelled."""
    return str(get(client, wo, headers)["cancelled"]["at"])


def test_completing_a_job_the_customer_declined_mid_repair_says_so(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """The technician started; the customer then declined every line of the job. Completing it
    was refused as having "lines awaiting the customer's decision" when none was waiting: the
    desk looked for a pending line that was not there. A line still waiting is named."""
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech_id = "tech-" + store_id
    tech = auth("technician", tech_id, [store_id])
    on_roster(client, manager, store_id, tech_id)
    wo = _visit(client, advisor, store_id)
    pads = post(client, f"{wo}/jobs/1/labor-lines", advisor, PADS)["line_id"]
    post(client, f"{wo}/lines/{pads}/authorization", advisor, PHONE)
    post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": tech_id})
    post(client, f"{wo}/jobs/1/clock-on", tech)
    post(client, f"{wo}/jobs/1/clock-off", tech)
    declined = post(client, f"{wo}/lines/{pads}/authorization", advisor, {
        "decision": "declined", "channel": "phone", "note": "customer called: stop the work"})

    refused = client.post(f"{wo}/jobs/1/complete", headers=tech)
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == "job 1 has no approved work: the customer declined it"

    # More work found and put to the customer: the line waiting for her is named.
    extra = post(client, f"{wo}/jobs/1/labor-lines", advisor, CLEAN)["line_id"]
    waiting = client.post(f"{wo}/jobs/1/complete", headers=tech)
    assert waiting.status_code == 409, waiting.text
    assert waiting.json()["lines"] == [extra], waiting.text
    assert get(client, wo, advisor, wait_for=declined["notification_id"])["jobs"][0][
        "status"] == "in_repair"
