"""The customer: owner of personal data (sealed, erasable), contact consent, tags, loyalty points.

Personal fields (name, phones, WeChat id) are sealed tokens (see domain.pii); `erased` marks a
shredded key. Public methods check the rules; the decorated `_methods` only apply.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import loyalty
from domain.common import Audit, IllegalTransition, InvalidInput, require, require_reason
from domain.stamps import note_stamp

KINDS = ("person", "company")
CHANNELS = ("phone", "sms", "wechat", "email")
DERIVED_TAGS = ("vip", "fleet", "frequent")
# As many as a registration takes: each tag added by hand was one more, without end, in the
# stream and the snapshot every payment of the customer loads.
MAX_TAGS = 20


def no_reason_given(state: dict[str, Any]) -> None:
    """A change stored before reasons were required gave none."""
    state["reason"] = None


class CustomerError(IllegalTransition):
    pass


class InsufficientPoints(CustomerError):
    pass


class Customer(Aggregate):
    """Personal fields are sealed tokens (see domain.pii); `erased` marks a shredded key."""

    keeps_stamps = True  # `stamped_until` (domain/stamps.py)

    class Event(Aggregate.Event):
        audit: Audit

        def mutate(self, aggregate: Any) -> Any:
            made = super().mutate(aggregate)
            note_stamp(made, self.audit.at, aggregate is None)
            return made

    class Registered(Event, Aggregate.Created):
        kind: str
        sealed: dict[str, Any]

    class Erased(Event):
        reason: str

    class DetailsChanged(Event):
        """v2: `reason`, why (3+ characters, sealed as the details are); v1: none (None)."""
        class_version = 2
        kind: str
        sealed: dict[str, Any]
        reason: str | None
        upcast_v1_v2 = staticmethod(no_reason_given)

    class ConsentGiven(Event):
        channel: str
        note: str | None

    class ConsentWithdrawn(Event):
        channel: str
        reason: str | None

    class Tagged(Event):
        tag: str

    class Untagged(Event):
        tag: str
        reason: str

    class PointsEarned(Event):
        paid_amount: Decimal
        rate: Decimal
        points: int
        reference: str
        expires_on: str

    class PointsRedeemed(Event):
        points: int
        reference: str
        value: Decimal
        lots: list[dict[str, Any]]

    class PointsExpired(Event):
        points: int
        as_of: str
        lots: list[dict[str, Any]]

    class PaymentRefunded(Event):
        """Money of a settled visit went back to the customer (a payment return or a credit):
        their spend drops by `amount`; `points` earned on it were taken back from `lots`, and
        `shortfall` more could not be (already redeemed or lapsed: the balance stays >= 0)."""

        refund_id: str
        work_order_id: UUID
        reference: str
        amount: Decimal
        kind: str
        points: int
        shortfall: int
        lots: list[dict[str, Any]]

    class PaidAgain(Event):
        """Money of a settled visit that went back (a payment return) was paid again: their
        spend rises by `amount`; `points` come back into the visit's earning (keeping its
        expiry) and `forgiven` points of the refund's shortfall are no longer short."""

        payment_id: str
        work_order_id: UUID
        reference: str
        amount: Decimal
        points: int
        forgiven: int

    class LotsArchived(Event):
        """Used-up lots gone to their own streams (domain/customer_lots.py), in that save."""

        references: list[str]

    class RedemptionsArchived(Event):
        """Older redemptions gone to their own streams (domain/customer_lots.py)."""

        references: list[str]

    class LotRevived(Event):
        """A used-up lot back from its stream, for a command that changes it."""

        lot: dict[str, Any]

    class CreditTermsSet(Event):
        """A manager lets the customer charge visits to their account (挂账): up to `limit`
        open on the account at once, each charge due `days` after it was made."""

        limit: Decimal
        days: int
        reason: str

    class CreditTermsRemoved(Event):
        reason: str

    class AccountCharged(Event):
        """A settled visit's customer bill charged to the account (domain/on_account.py)."""

        settlement_id: UUID
        work_order_id: UUID
        work_order_number: str
        amount: Decimal
        due_on: str

    class AccountPaid(Event):
        """A payment on a visit charged to account paid off `amount` of the charge (the
        visit's spend counted it when it was charged: it is not money paid again)."""

        payment_id: str
        work_order_id: UUID
        amount: Decimal

    class AccountChargesClosed(Event):
        """A charge read these charged visits paid off: the account's list drops them
        (domain/account_open.py), in the charge's save."""

        settlement_ids: list[UUID]

    class AccountChargeReopened(Event):
        """A command took a charged visit paid off back to owing (a refund, a payment
        returned, a write-off taken back): the account lists it again, in that save."""

        settlement_id: UUID
        work_order_id: UUID

    class AccountChargeEnded(Event):
        """A charged visit's charge no longer stands (its settlement reversed): the account
        neither lists it nor holds it open (domain/account_open.py), in that save."""

        settlement_id: UUID
        work_order_id: UUID

    @event(Registered)
    def __init__(self, id: UUID, audit: Audit, kind: str, sealed: dict[str, Any]) -> None:
        self.store_id = audit.store_id
        self.kind = kind
        self.sealed = sealed
        self.erased = False
        self.consents: dict[str, dict[str, Any]] = {}
        self.tags: list[str] = []
        self.lots: list[dict[str, Any]] = []  # loyalty lots in earning order
        self.redemptions: dict[str, dict[str, Any]] = {}
        self.credit_terms: dict[str, Any] | None = None
        # the settlements charged that may still be open, in order (domain/account_open.py)
        self.account_charges: list[UUID] = []
        self.account_open: dict[str, Decimal] = {}  # by work order: charged, not yet paid

    @staticmethod
    def outdated_snapshot(state: dict[str, Any]) -> bool:
        """Whether a snapshot's state cannot stand for the events (domain/aggregate_loads.py):
        one taken before lots kept their refunds' shortfall apart (`short`) has a refund in
        `taken_back` without saying how much of it was short, and money paid again would give
        the shortfall back as points instead of cancelling it. The events say it: the load
        replays them."""
        return any("taken_back" in lot and "short" not in lot for lot in state.get("lots", ()))

    def _require_not_erased(self) -> None:
        require(not self.erased, CustomerError("customer has been erased"))

    # -- personal data -----------------------------------------------------------------------

    def erase(self, audit: Audit, reason: str) -> None:
        require(not self.erased, CustomerError("customer is already erased"))
        self._erased(audit, reason)

    @event(Erased)
    def _erased(self, audit: Audit, reason: str) -> None:
        self.erased = True

    def change_details(self, audit: Audit, kind: str, sealed: dict[str, Any],
                       reason: str | None) -> None:
        self._require_not_erased()
        require(kind in KINDS, InvalidInput(f"kind must be one of {', '.join(KINDS)}",
                                            field="kind"))
        self._details_changed(audit, kind, sealed,
                              require_reason(reason, "changing a customer's details"))

    @event(DetailsChanged)
    def _details_changed(self, audit: Audit, kind: str, sealed: dict[str, Any],
                         reason: str | None) -> None:
        self.kind = kind
        self.sealed = {**self.sealed, **sealed}

    # -- consent to be contacted -------------------------------------------------------------

    def consent(self, audit: Audit, channel: str, granted: bool, note: str | None) -> bool:
        """Give or withdraw consent on a channel; False when it already stood that way."""
        self._require_not_erased()
        require(channel in CHANNELS, InvalidInput(
            f"channel must be one of {', '.join(CHANNELS)}", field="channel"))
        if self.consents.get(channel, {}).get("granted", False) == granted:
            return False
        if granted:
            self._consent_given(audit, channel, note)
        else:
            self._consent_withdrawn(audit, channel, note)
        return True

    @event(ConsentGiven)
    def _consent_given(self, audit: Audit, channel: str, note: str | None) -> None:
        self.consents[channel] = {"granted": True, "at": audit.at.isoformat()}

    @event(ConsentWithdrawn)
    def _consent_withdrawn(self, audit: Audit, channel: str, reason: str | None) -> None:
        self.consents[channel] = {"granted": False, "at": audit.at.isoformat()}

    # -- tags --------------------------------------------------------------------------------

    @staticmethod
    def normalise_tag(raw: str, field: str = "tag") -> str:
        """The tag as kept (lower case, words joined by dashes); a refusal names `field`."""
        tag = "-".join(raw.strip().lower().split())
        if not 1 <= len(tag) <= 30:
            raise InvalidInput("a tag is 1-30 characters", field=field)
        if tag in DERIVED_TAGS:
            raise InvalidInput(f"{tag} is derived from the customer's history, not set by hand",
                               field=field)
        return tag

    def tag(self, audit: Audit, raw: str) -> str:
        self._require_not_erased()
        tag = self.normalise_tag(raw)
        require(tag not in self.tags, CustomerError(f"customer is already tagged {tag}"))
        require(len(self.tags) < MAX_TAGS, InvalidInput(
            f"a customer holds at most {MAX_TAGS} tags: remove one first", limit=MAX_TAGS,
            field="tag"))
        self._tagged(audit, tag)
        return tag

    @event(Tagged)
    def _tagged(self, audit: Audit, tag: str) -> None:
        self.tags.append(tag)

    def untag(self, audit: Audit, raw: str, reason: str) -> None:
        tag = self.normalise_tag(raw)
        require(tag in self.tags, CustomerError(f"customer is not tagged {tag}"))
        self._untagged(audit, tag, reason)

    @event(Untagged)
    def _untagged(self, audit: Audit, tag: str, reason: str) -> None:
        self.tags.remove(tag)

    # -- loyalty points ----------------------------------------------------------------------

    def points_balance(self, today: date) -> int:
        return loyalty.balance(self.lots, today)

    def earned(self, reference: str) -> dict[str, Any] | None:
        return next((lot for lot in self.lots if lot["reference"] == reference), None)

    def earn_points(self, audit: Audit, rules: loyalty.LoyaltyRules, paid: Decimal,
                    reference: str, today: date) -> int:
        require(paid > 0, InvalidInput("the paid amount must be positive", field="paid_amount"))
        require(bool(reference), InvalidInput("points need the reference of the paid bill",
                                              field="reference"))
        require(self.earned(reference) is None,
                CustomerError(f"points for {reference} were already earned"))
        points = rules.points_for(paid)
        if points > 0:
            self._points_earned(audit, paid, rules.rate, points, reference,
                                rules.expires_on(today).isoformat())
        return points

    @event(PointsEarned)
    def _points_earned(self, audit: Audit, paid_amount: Decimal, rate: Decimal, points: int,
                       reference: str, expires_on: str) -> None:
        self.lots.append({"reference": reference, "points": points, "remaining": points,
                          "earned_at": audit.at.isoformat(), "expires_on": expires_on,
                          "paid": paid_amount, "rate": rate})

    def expire_points(self, audit: Audit, today: date) -> int:
        takes = loyalty.expired_takes(self.lots, today)
        points = sum(int(take["points"]) for take in takes)
        if points:
            self._points_expired(audit, points, today.isoformat(), takes)
        return points

    @event(PointsExpired)
    def _points_expired(self, audit: Audit, points: int, as_of: str,
                        lots: list[dict[str, Any]]) -> None:
        self._take(lots)

    def redeem_points(self, audit: Audit, rules: loyalty.LoyaltyRules, points: int,
                      reference: str, today: date, redeemed_before: bool = False) -> Decimal:
        """Spend points (oldest live lots first); lapsed lots are expired in the same save.
        `redeemed_before`: the reference is among the redemptions gone to their own streams."""
        require(points > 0, InvalidInput("redeem a positive number of points", field="points"))
        require(bool(reference), InvalidInput("a redemption needs a reference",
                                              field="reference"))
        require(reference not in self.redemptions and not redeemed_before,
                CustomerError(f"points were already redeemed for {reference}"))
        available = self.points_balance(today)
        require(points <= available, InsufficientPoints(
            f"only {available} points are available", balance=available))
        self.expire_points(audit, today)
        value = rules.value_of(points)
        self._points_redeemed(audit, points, reference, value,
                              loyalty.fifo_takes(self.lots, points, today))
        return value

    @event(PointsRedeemed)
    def _points_redeemed(self, audit: Audit, points: int, reference: str, value: Decimal,
                         lots: list[dict[str, Any]]) -> None:
        self._take(lots)
        self.redemptions[reference] = {"points": points, "value": value}

    def refunded(self, audit: Audit, rules: loyalty.LoyaltyRules, refund_id: str,
                 work_order_id: UUID, reference: str, amount: Decimal, kind: str,
                 today: date) -> dict[str, int]:
        """A refund approved on the visit `reference` paid: the points earned on that money go
        back (`loyalty.take_back`); what the balance cannot give is the shortfall."""
        require(amount > 0, InvalidInput("a refund must be positive"))
        due, takes = loyalty.take_back(self.lots, reference, amount, today, rules)
        points = sum(int(take["points"]) for take in takes)
        self._payment_refunded(audit, refund_id, work_order_id, reference, amount, kind,
                               points, due - points, takes)
        return {"points": points, "shortfall": due - points}

    @event(PaymentRefunded)
    def _payment_refunded(self, audit: Audit, refund_id: str, work_order_id: UUID,
                          reference: str, amount: Decimal, kind: str, points: int,
                          shortfall: int, lots: list[dict[str, Any]]) -> None:
        self._take(lots)
        lot = self.earned(reference)
        if lot is not None:
            lot["refunded"] = Decimal(str(lot.get("refunded", 0))) + amount
            lot["taken_back"] = int(lot.get("taken_back", 0)) + points + shortfall
            lot["short"] = int(lot.get("short", 0)) + shortfall

    def paid_again(self, audit: Audit, rules: loyalty.LoyaltyRules, payment_id: str,
                   work_order_id: UUID, reference: str, amount: Decimal) -> dict[str, int]:
        """A payment on the visit `reference` after money of it went back: the spend and the
        points the refund took come back as far as the visit's net paid amount earns them
        (`loyalty.give_back`)."""
        require(amount > 0, InvalidInput("a payment must be positive"))
        charged = getattr(self, "account_open", {}).get(str(work_order_id), Decimal("0.00"))
        covering = min(amount, charged)
        if covering > 0:  # a charge to account paid off first
            self._account_paid(audit, payment_id, work_order_id, covering)
            amount -= covering
            if amount == 0:
                return {"points": 0, "forgiven": 0}
        counted, points, forgiven = loyalty.give_back(self.lots, reference, amount, rules)
        self._paid_again(audit, payment_id, work_order_id, reference, counted, points,
                         forgiven)
        return {"points": points, "forgiven": forgiven}

    @event(PaidAgain)
    def _paid_again(self, audit: Audit, payment_id: str, work_order_id: UUID, reference: str,
                    amount: Decimal, points: int, forgiven: int) -> None:
        lot = self.earned(reference)
        if lot is not None:
            lot["refunded"] = Decimal(str(lot.get("refunded", 0))) - amount
            lot["taken_back"] = int(lot.get("taken_back", 0)) - points - forgiven
            lot["short"] = int(lot.get("short", 0)) - forgiven
            lot["remaining"] += points

    def _take(self, takes: list[dict[str, Any]]) -> None:
        for take in takes:
            lot = self.earned(take["reference"])
            assert lot is not None
            lot["remaining"] -= take["points"]

    @event(LotsArchived)
    def _lots_archived(self, audit: Audit, references: list[str]) -> None:
        going = set(references)
        self.lots = [lot for lot in self.lots if lot["reference"] not in going]

    @event(RedemptionsArchived)
    def _redemptions_archived(self, audit: Audit, references: list[str]) -> None:
        going = set(references)
        self.redemptions = {k: v for k, v in self.redemptions.items() if k not in going}

    @event(LotRevived)
    def _lot_revived(self, audit: Audit, lot: dict[str, Any]) -> None:
        at = next((i for i, held in enumerate(self.lots)
                   if held["earned_at"] > lot["earned_at"]), len(self.lots))
        self.lots.insert(at, dict(lot))  # in its order of earning

    # -- credit terms (挂账) ----------------------------------------------------------------

    @event(CreditTermsSet)
    def _credit_terms_set(self, audit: Audit, limit: Decimal, days: int, reason: str) -> None:
        self.credit_terms = {"limit": limit, "days": days}

    @event(CreditTermsRemoved)
    def _credit_terms_removed(self, audit: Audit, reason: str) -> None:
        self.credit_terms = None

    @event(AccountCharged)
    def _account_charged(self, audit: Audit, settlement_id: UUID, work_order_id: UUID,
                         work_order_number: str, amount: Decimal, due_on: str) -> None:
        listed = list(getattr(self, "account_charges", []))
        self.account_charges = listed if settlement_id in listed else [*listed, settlement_id]
        opened = dict(getattr(self, "account_open", {}))
        opened[str(work_order_id)] = amount  # charged again after a reversal: the new charge
        self.account_open = opened

    @event(AccountPaid)
    def _account_paid(self, audit: Audit, payment_id: str, work_order_id: UUID,
                      amount: Decimal) -> None:
        opened = dict(self.account_open)
        opened[str(work_order_id)] -= amount
        if opened[str(work_order_id)] == 0:  # paid off: as if never charged to a payment
            del opened[str(work_order_id)]
        self.account_open = opened

    @event(AccountChargesClosed)
    def _account_charges_closed(self, audit: Audit, settlement_ids: list[UUID]) -> None:
        closed = set(settlement_ids)
        self.account_charges = [sid for sid in self.account_charges if sid not in closed]

    @event(AccountChargeReopened)
    def _account_charge_reopened(self, audit: Audit, settlement_id: UUID,
                                 work_order_id: UUID) -> None:
        listed = list(getattr(self, "account_charges", []))
        if settlement_id not in listed:
            self.account_charges = [*listed, settlement_id]

    @event(AccountChargeEnded)
    def _account_charge_ended(self, audit: Audit, settlement_id: UUID,
                              work_order_id: UUID) -> None:
        self.account_open = {k: v for k, v in getattr(self, "account_open", {}).items()
                             if k != str(work_order_id)}
        self.account_charges = [sid for sid in getattr(self, "account_charges", [])
                                if sid != settlement_id]
