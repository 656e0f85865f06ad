"""Campaign master commands: register a campaign, list its VINs (in chunks, idempotently),
close it (the manager role, api/auth.py `campaigns.manage`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.campaign import (
    MAX_BRAND,
    MAX_TITLE,
    Campaign,
    CampaignError,
    campaign_number,
    day_of,
    kind_of,
    remedy_of,
    text_of,
    vins_of,
)
from domain.common import require_reason


class Campaigns:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app

    def register(self, request: Request, *, campaign_no: object, brand: object, title: object,
                 kind: object, starts_on: object, ends_on: object = None,
                 op_codes: Iterable[object] = (), parts: Iterable[object] = ()
                 ) -> CommandResult:
        number = campaign_number(campaign_no)
        made = text_of(brand, "brand", MAX_BRAND)
        named = text_of(title, "title", MAX_TITLE)
        what = kind_of(kind)
        first = day_of(starts_on, "starts_on")
        last = None if ends_on is None else day_of(ends_on, "ends_on")
        Campaign.check_days(first, last)
        remedy = remedy_of(op_codes, parts)
        stream = Campaign.create_id(number)

        def decide(session: Session) -> Decision:
            found = session.find(Campaign, stream)
            if found is not None:
                raise CampaignError(
                    f"campaign {number} is already in the master (of {found.brand})",
                    campaign_no=number)
            campaign = Campaign(
                audit=session.audit(session.caller.stores[0]), campaign_no=number,
                brand=made, title=named, kind=what, remedy=remedy,
                starts_on=first.isoformat(),
                ends_on=None if last is None else last.isoformat(), id=stream)
            session.add(campaign)
            return Decision(campaign, {"campaign_no": number})

        return self.app.execute(request, decide, (stream,))

    def list_vins(self, request: Request, campaign_no: str,
                  vins: Sequence[object]) -> CommandResult:
        """One chunk of the affected VINs; those already listed are counted, not recorded
        again (the same chunk twice records nothing the second time)."""
        number = campaign_number(campaign_no)
        given = vins_of(vins)
        stream = Campaign.create_id(number)

        def decide(session: Session) -> Decision:
            campaign = session.target(Campaign, stream, f"campaign {number}")
            added = campaign.list_vins(session.audit(session.caller.stores[0]), given)
            return Decision(campaign, {"campaign_no": number, "added": len(added),
                                       "already_listed": len(given) - len(added),
                                       "affected": len(campaign.vins)})

        return self.app.execute(request, decide, (stream,))

    def close(self, request: Request, campaign_no: str, *, reason: str | None) -> CommandResult:
        number = campaign_number(campaign_no)
        why = require_reason(reason, "closing a campaign")
        stream = Campaign.create_id(number)

        def decide(session: Session) -> Decision:
            campaign = session.target(Campaign, stream, f"campaign {number}")
            campaign.close(session.audit(session.caller.stores[0]), why)
            return Decision(campaign, {"campaign_no": number})

        return self.app.execute(request, decide, (stream,))
