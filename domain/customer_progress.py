"""Sharing a work order's progress with its customer, and their decisions through the link.

The advisor issues (or revokes) the link through the normal command path; the customer's
approvals go through the work order's own authorization command, on the channel
`customer_page`, as the actor `customer-link:<nonce>` with the role `customer`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import (
    CUSTOMER_ROLE,
    Caller,
    InvalidInput,
    NotPermitted,
    require,
    require_reason,
)
from domain.progress_link import (
    LinkClaims,
    LinkGone,
    LinkRefused,
    LinkSigner,
    ProgressLinkError,
    ProgressLinks,
    new_nonce,
)
from domain.work_order import WorkOrder
from domain.work_order_lines import CUSTOMER_CHANNEL
from domain.work_orders import WorkOrders

MAX_LINK_HOURS = 30 * 24
CUSTOMER_PAY_TYPES = ("customer", "warranty", "insurance")  # internal lines are the store's own


class CustomerProgress:
    def __init__(self, app: ServiceCore, work_orders: WorkOrders, server_secret: str,
                 link_hours: int = 72) -> None:
        self.app = app
        self.work_orders = work_orders
        self.signer = LinkSigner(server_secret)
        self.link_hours = link_hours

    # -- the advisor's side ------------------------------------------------------------------

    def issue(self, request: Request, work_order_id: UUID,
              hours: int | None = None) -> CommandResult:
        """A new link (the previous live one stops working). The answer names the link, not its
        token, so that a remembered answer never holds a usable token: see `token`."""
        valid_for = timedelta(hours=hours or self.link_hours)
        if not timedelta(hours=1) <= valid_for <= timedelta(hours=MAX_LINK_HOURS):
            raise ProgressLinkError(f"a link lives 1 to {MAX_LINK_HOURS} hours")
        nonce = new_nonce()

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            require(wo.status not in ("cancelled", "closed"),
                    ProgressLinkError(f"work order is {wo.status}: nothing to follow any more"))
            audit = session.audit(wo.store_id)
            links = session.find(ProgressLinks, ProgressLinks.create_id(wo.id))
            if links is None:
                links = ProgressLinks(audit=audit, work_order_id=wo.id, number=wo.number)
                session.add(links)
            expires_at = (audit.at + valid_for).replace(microsecond=0)
            replaced = links.issue(audit, nonce, expires_at)
            return Decision(links, {
                "work_order_id": str(wo.id), "number": wo.number, "link_id": nonce,
                "expires_at": expires_at.isoformat(), "replaced": replaced})

        return self.app.execute(request, decide, (ProgressLinks.create_id(work_order_id),))

    def token(self, answer: dict[str, Any]) -> str:
        """The token of a link `issue` answered with (recomputed, never stored)."""
        return self.signer.token(LinkClaims(UUID(answer["work_order_id"]),
                                            datetime.fromisoformat(answer["expires_at"]),
                                            answer["link_id"]))

    def revoke(self, request: Request, work_order_id: UUID,
               reason: str | None) -> CommandResult:
        why = require_reason(reason or "revoked at the front desk", "revoking a link")

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            links = session.find(ProgressLinks, ProgressLinks.create_id(wo.id))
            if links is None:
                raise ProgressLinkError("this work order has no live progress link")
            revoked = links.revoke(session.audit(wo.store_id), why)
            return Decision(links, {"work_order_id": str(wo.id), "number": wo.number,
                                    "link_id": revoked})

        return self.app.execute(request, decide, (ProgressLinks.create_id(work_order_id),))

    def links(self, work_order_id: UUID) -> ProgressLinks | None:
        """The work order's shared links as the event store has them (no read-model lag)."""
        try:
            found: Any = self.app.repository.get(ProgressLinks.create_id(work_order_id))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, ProgressLinks) else None

    # -- the customer's side -----------------------------------------------------------------

    def grant(self, token: str, at: datetime) -> tuple[LinkClaims, str]:
        """The link's claims and store if it is ours and live; LinkRefused (404) or LinkGone
        (410). Checked on the event store itself, so a revocation holds at once."""
        claims = self.signer.claims(token)
        links = self.links(claims.work_order_id)
        if links is None:
            raise LinkRefused("no such progress link")
        links.check(claims, at)
        return claims, links.store_id

    def decide(self, token: str, decisions: dict[str, str], *, at: datetime,
               correlation_id: str, idempotency_key: str | None = None,
               request_hash: str | None = None) -> CommandResult:
        """The customer approves or declines lines: the work order's authorization command."""
        claims, store_id = self.grant(token, at)
        caller = Caller(user_id=claims.actor, role=CUSTOMER_ROLE, stores=(store_id,), at=at,
                        correlation_id=correlation_id, idempotency_key=idempotency_key)

        def guard(session: Session, wo: WorkOrder) -> None:
            links = session.find(ProgressLinks, ProgressLinks.create_id(wo.id))
            if links is None:
                raise LinkRefused("no such progress link")
            links.check(claims, session.caller.at)
            unknown = next((line_id for line_id in decisions if line_id not in wo.lines), None)
            if unknown is not None:
                raise InvalidInput(f"work order {wo.number} has no line {unknown}",
                                   field="decisions", line_id=unknown)
            for line_id in decisions:
                require(wo.line(line_id)["pay_type"] in CUSTOMER_PAY_TYPES,
                        NotPermitted(f"line {line_id} is the store's own, not yours to decide"))

        return self.work_orders.authorize_lines(
            Request(caller, request_hash), claims.work_order_id, decisions,
            channel=CUSTOMER_CHANNEL, guard=guard)


__all__ = ["CustomerProgress", "LinkGone", "LinkRefused", "ProgressLinkError"]
