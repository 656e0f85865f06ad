"""Progress links in memory: tokens that cannot be forged, one live link per work order, the
customer's decisions on their own channel only, and the stage a customer reads."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.common import CUSTOMER_ROLE, InvalidInput, NotPermitted
from domain.customer_progress import CustomerProgress
from domain.progress_link import (
    MAX_LINKS,
    LinkClaims,
    LinkGone,
    LinkRefused,
    LinkSigner,
    ProgressLinkError,
    new_nonce,
)
from domain.work_order_state import WorkOrderError
from domain.work_orders import WorkOrders
from projections.progress_page import public_view, stage
from tests.unit.support import T0, checked_in, labor, request

SECRET = "unit-secret-0123456789"
CLAIMS = LinkClaims(UUID("6f1c2f4e-8a51-4c36-9d1e-3b8f4c2d5a10"), T0 + timedelta(hours=72),
                    "00112233445566778899aabbccddeeff")


@pytest.fixture
def wos() -> WorkOrders:
    return WorkOrders(ServiceCore())


@pytest.fixture
def progress(wos: WorkOrders) -> CustomerProgress:
    return CustomerProgress(wos.app, wos, SECRET)


def test_a_token_carries_its_claims_and_only_our_key_makes_it() -> None:
    signer = LinkSigner(SECRET)
    token = signer.token(CLAIMS)
    assert signer.claims(token) == CLAIMS
    assert len(base64.urlsafe_b64decode(token + "==")) == 53  # 37 bytes of claims, 16 of tag
    with pytest.raises(LinkRefused):
        LinkSigner("another-secret").claims(token)
    for garbage in ("", "x", "not a token!", token[:-2], token + "AA"):
        with pytest.raises(LinkRefused):
            signer.claims(garbage)


@given(position=st.integers(0, 52), flip=st.integers(1, 255))
def test_any_changed_byte_is_refused(position: int, flip: int) -> None:
    signer = LinkSigner(SECRET)
    raw = bytearray(base64.urlsafe_b64decode(signer.token(CLAIMS) + "=="))
    raw[position] ^= flip
    with pytest.raises(LinkRefused):
        signer.claims(base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode())


def test_the_form_token_belongs_to_one_link() -> None:
    signer = LinkSigner(SECRET)
    other = LinkClaims(CLAIMS.work_order_id, CLAIMS.expires_at, new_nonce())
    assert signer.form_token_ok(CLAIMS, signer.form_token(CLAIMS))
    assert not signer.form_token_ok(other, signer.form_token(CLAIMS))
    assert not signer.form_token_ok(CLAIMS, "")


def test_one_live_link_per_work_order(progress: CustomerProgress, wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    first = progress.issue(request(), wo_id)
    token = progress.token(first.body)
    claims, store = progress.grant(token, T0 + timedelta(hours=1))
    assert (claims.work_order_id, store) == (wo_id, "S01")
    assert claims.actor == f"customer-link:{first.body['link_id']}"
    # Expired a second after its 72 hours.
    with pytest.raises(LinkGone):
        progress.grant(token, T0 + timedelta(hours=72, seconds=1))
    # A second link replaces the first; revoking the second leaves none.
    second = progress.issue(request(at=T0 + timedelta(hours=2)), wo_id, hours=4)
    assert second.body["replaced"] == first.body["link_id"]
    with pytest.raises(LinkGone):
        progress.grant(token, T0 + timedelta(hours=3))
    progress.revoke(request(at=T0 + timedelta(hours=3)), wo_id, None)
    with pytest.raises(LinkGone):
        progress.grant(progress.token(second.body), T0 + timedelta(hours=3, minutes=1))
    with pytest.raises(ProgressLinkError):
        progress.revoke(request(at=T0 + timedelta(hours=4)), wo_id, "again")
    # A link we never issued, even signed with our key, is unknown.
    forged = LinkClaims(wo_id, T0 + timedelta(hours=9), new_nonce())
    with pytest.raises(LinkRefused):
        progress.grant(progress.signer.token(forged), T0 + timedelta(hours=5))
    links = progress.links(wo_id)
    assert links is not None and list(links.links) == [first.body["link_id"],
                                                       second.body["link_id"]]
    assert links.links[second.body["link_id"]]["revoked"]["by"] == "advisor-1"


def test_no_link_for_a_cancelled_visit_or_beyond_thirty_days(
        progress: CustomerProgress, wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    with pytest.raises(ProgressLinkError):
        progress.issue(request(), wo_id, hours=721)
    wos.cancel(request(), wo_id, reason="customer left")
    with pytest.raises(ProgressLinkError):
        progress.issue(request(), wo_id)


def test_only_the_customer_decides_on_their_channel(progress: CustomerProgress,
                                                    wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    wos.add_labor_line(request(), wo_id, 1, labor())
    wos.add_labor_line(request(), wo_id, 1, labor(op_code="PDI", pay_type="internal"))
    with pytest.raises(NotPermitted):
        wos.authorize_line(request(), wo_id, "L1", decision="approved", channel="customer_page")
    as_customer = request(CUSTOMER_ROLE, "customer-link:00", stores=("S01",))
    with pytest.raises(NotPermitted):
        wos.authorize_line(as_customer, wo_id, "L1", decision="approved", channel="phone")
    token = progress.token(progress.issue(request(), wo_id).body)
    # The store's internal line is not the customer's to decide.
    with pytest.raises(NotPermitted):
        progress.decide(token, {"L2": "approved"}, at=T0, correlation_id="c")
    done = progress.decide(token, {"L1": "approved"}, at=T0, correlation_id="c")
    assert done.body["decided"] == ["L1"]
    again = progress.decide(token, {"L1": "approved"}, at=T0, correlation_id="c")
    assert again.body["unchanged"] == ["L1"] and again.notification_id == done.notification_id
    with pytest.raises(WorkOrderError):
        progress.decide(token, {"L1": "declined"}, at=T0, correlation_id="c")


def _doc(status: str, jobs: list[str], lines: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "number": "WO-S01-2026-000001", "status": status,
        "jobs": [{"job_no": n, "status": s} for n, s in enumerate(jobs, start=1)],
        "lines": [{"line_id": f"L{n}", "kind": "labor", "description": "x", "hours": "1",
                   "gross": "100.00", "pay_type": pay, "status": s}
                  for n, (pay, s) in enumerate(lines, start=1)],
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪A12345"},
        "customer": {"name": "陈静", "phone": "13912345678"}, "totals": {},
        "check_in": None, "updated_at": "2026-05-01T01:00:00+00:00",
    }


@pytest.mark.parametrize(("status", "jobs", "lines", "expected"), [
    ("opened", ["reported"], [], "received"),
    ("checked_in", ["reported"], [], "diagnosing"),
    ("checked_in", ["diagnosed"], [("internal", "pending")], "diagnosing"),
    ("checked_in", ["diagnosed"], [("customer", "pending")], "awaiting_approval"),
    ("checked_in", ["diagnosed"], [("customer", "approved")], "in_repair"),
    ("in_progress", ["in_repair", "awaiting_qc"], [("customer", "approved")], "in_repair"),
    ("in_progress", ["awaiting_qc", "diagnosed"], [("warranty", "approved")], "quality_check"),
    ("in_progress", ["awaiting_qc"], [("customer", "approved"), ("insurance", "pending")],
     "awaiting_approval"),
    ("ready_for_settlement", ["passed"], [("customer", "approved")], "ready"),
    ("settled", ["passed"], [("customer", "approved")], "ready"),
    ("delivered", ["passed"], [], "delivered"),
    ("closed", ["passed"], [], "delivered"),
    ("cancelled", ["reported"], [], "cancelled"),
])
def test_the_stage_a_customer_reads(status: str, jobs: list[str],
                                    lines: list[tuple[str, str]], expected: str) -> None:
    assert stage(_doc(status, jobs, lines)) == expected


def test_the_view_shows_the_plate_and_no_personal_data() -> None:
    view = public_view(_doc("checked_in", ["diagnosed"], [("customer", "pending"),
                                                          ("internal", "pending")]),
                       ZoneInfo("Asia/Shanghai"))
    assert view["plate"] == "沪A12345"
    assert [line["line_id"] for line in view["awaiting_decision"]] == ["L1"]
    assert view["updated_at"] == "2026-05-01T09:00:00+08:00"
    shown = repr(view)
    for secret in ("陈静", "13912345678", "LSVAU218XN2183294", "183294"):
        assert secret not in shown


def test_a_work_orders_progress_is_shared_at_most_max_links_times(
        wos: WorkOrders, progress: CustomerProgress) -> None:
    """Each issue loads, copies and saves every link issued before it: issuing again and again
    stopped nowhere."""
    wo_id = checked_in(wos)
    for n in range(MAX_LINKS):
        progress.issue(request(at=T0 + timedelta(seconds=n)), wo_id)
    with pytest.raises(InvalidInput, match=f"at most {MAX_LINKS} times"):
        progress.issue(request(at=T0 + timedelta(hours=1)), wo_id)
    assert len(progress.links(wo_id).links) == MAX_LINKS
