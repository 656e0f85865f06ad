"""Customer commands: registration and details (sealed), consent, tags, loyalty points, erasure."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.ascii_width import ascii_width
from domain.common import (
    InvalidInput,
    NotPermitted,
    require,
    require_group_store,
    require_reason,
)
from domain.customer import KINDS, Customer
from domain.customer_lots import earned_lot, redeemed_before
from domain.days import business_day
from domain.loyalty import LoyaltyRules
from domain.money import money
from domain.pii import ERASED

_PHONE = re.compile(r"^\+?\d{5,20}$", re.ASCII)
_SEPARATORS = re.compile(r"[\s()\-.]")
# a search key of this many digits is a whole phone; fewer (at least 4) are its last digits
WHOLE_PHONE, LAST_DIGITS = 11, 4


def normalise_phone(raw: str, field: str | None = None) -> str:
    """ASCII digits only (full-width ones read as ASCII); a mainland mobile loses its +86 / 0086
    prefix. Refused (naming `field`, if given): anything but 5 to 20 digits after an optional
    +, once blanks, dashes, dots and brackets are taken out."""
    phone = _SEPARATORS.sub("", ascii_width(raw).strip())
    if not _PHONE.match(phone):
        where = f"{field}: " if field else ""
        raise InvalidInput(f"{where}{raw!r} is not a phone number", field=field)
    for prefix in ("+86", "0086"):
        if phone.startswith(prefix) and len(phone) == len(prefix) + 11:
            phone = phone[len(prefix):]
    return phone.lstrip("+")


def phone_as_kept(raw: str) -> str:
    """The form a phone is shown and looked for in: `normalise_phone`'s; for one it refuses (a
    walk-in's phone was taken as typed before: `021-6400 1234 转 8`), its ASCII form without
    blanks, dashes, dots and brackets, so it too is one phone however it was typed."""
    try:
        return normalise_phone(raw)
    except InvalidInput:
        return _SEPARATORS.sub("", ascii_width(raw))


def shown_phone(opened: str | None) -> str | None:
    """An opened phone as the read models show it (`phone_as_kept`); none, or an erased one, as
    it is."""
    return phone_as_kept(opened) if opened and opened != ERASED else opened


def phone_search(raw: str) -> tuple[str, bool] | None:
    """What a search for the phone `raw` looks for: its kept form and True for a whole phone
    (`WHOLE_PHONE` digits or more), its last digits and False for fewer (`LAST_DIGITS` at
    least); None when `raw` is no phone's digits. Never refused: what no phone is finds none."""
    digits = re.sub(r"[\s()\-.+]", "", ascii_width(raw).strip())
    if not (digits.isascii() and digits.isdigit() and len(digits) >= LAST_DIGITS):
        return None
    phone = phone_as_kept(raw) if len(digits) >= 5 else digits
    return phone, len(phone) >= WHOLE_PHONE


def _phones(raw: list[str], field: str = "phones") -> list[str]:
    """The phones as kept, once each; a refusal names the request's `field` (`phones[1]`)."""
    phones = list(dict.fromkeys(normalise_phone(p, f"{field}[{n}]")
                                for n, p in enumerate(raw) if p and p.strip()))
    require(bool(phones), InvalidInput("a customer needs at least one phone", field=field))
    require(len(phones) <= 5, InvalidInput("at most 5 phones", field=field))
    return phones


def earn_in(session: Session, rules: LoyaltyRules, zone: ZoneInfo, customer_id: UUID,
            paid_amount: object, reference: str) -> dict[str, Any]:
    """Points for a paid customer amount, inside the caller's session (e.g. the payment's save).

    A reference that already earned points earns nothing more (a retried payment).
    """
    paid = money(paid_amount, "paid amount", field="paid_amount")
    customer = session.get(Customer, customer_id, "customer")
    already = earned_lot(session, customer, reference.strip())
    if already is not None:
        return {"points": already["points"], "duplicate": True}
    today = business_day(session.caller.at, zone)
    points = customer.earn_points(session.audit(customer.store_id), rules, paid,
                                  reference.strip(), today)
    return {"points": points, "balance": customer.points_balance(today)}


class Customers:
    def __init__(self, app: ServiceCore, timezone: str = "Asia/Shanghai",
                 loyalty: LoyaltyRules | None = None, stores: Iterable[str] = ()) -> None:
        self.app = app
        self.zone = ZoneInfo(timezone)
        self.loyalty = loyalty or LoyaltyRules()
        self.stores = frozenset(stores)  # the group's stores (`require_group_store`)

    def _on(self, request: Request, customer_id: UUID,
            act: Callable[[Session, Customer], dict[str, Any] | None]) -> CommandResult:
        def decide(session: Session) -> Decision:
            customer = session.target(Customer, customer_id, "customer")
            answer = act(session, customer) or {}
            return Decision(customer, answer)

        return self.app.execute(request, decide, (customer_id,))

    def seal(self, customer_id: UUID, name: str, phones: list[str]) -> dict[str, Any]:
        """A new customer's name and phones sealed with their key (a registration made inside
        another command's save: an online booking request's confirmation)."""
        return self._seal(customer_id, name, _phones(phones), None)

    def _seal(self, customer_id: UUID, name: str | None, phones: list[str] | None,
              wechat_id: str | None) -> dict[str, Any]:
        """The given personal fields sealed with the customer's key (one key look-up)."""
        fields: dict[str, str | None] = {}
        if name is not None:
            fields["name"] = name
        for i, phone in enumerate(phones or []):
            fields[f"phone_{i}"] = phone
        if wechat_id is not None:
            fields["wechat_id"] = wechat_id or None
        if not fields:
            return {}
        sealed: dict[str, Any] = dict(self.app.personal_data.seal_fields(customer_id, fields))
        if phones:
            tokens = [sealed.pop(f"phone_{i}") for i in range(len(phones))]
            sealed.update(phone=tokens[0], phones=tokens)
        return sealed

    # -- registration and details ------------------------------------------------------------

    def register(self, request: Request, *, store_id: str, name: str, phones: list[str],
                 kind: str = "person", wechat_id: str | None = None,
                 consents: Sequence[str] = (), tags: Sequence[str] = ()) -> CommandResult:
        """A new customer (person or company) with sealed name, phones and WeChat id."""
        require_group_store(self.stores, store_id)
        if not request.caller.may_use(store_id):
            raise NotPermitted(f"your token does not cover store {store_id}")
        require(kind in KINDS, InvalidInput(f"kind must be one of {', '.join(KINDS)}",
                                            field="kind"))
        name = name.strip()
        require(bool(name), InvalidInput("customer name is required", field="name"))
        numbers = _phones(phones)
        for n, tag in enumerate(tags):
            Customer.normalise_tag(tag, f"tags[{n}]")
        customer_id = uuid4()
        sealed = self._seal(customer_id, name, numbers, (wechat_id or "").strip() or None)

        def decide(session: Session) -> Decision:
            audit = session.audit(store_id)
            customer = Customer(id=customer_id, audit=audit, kind=kind, sealed=sealed)
            for channel in dict.fromkeys(consents):
                customer.consent(audit, channel, True, "given at registration")
            for tag in dict.fromkeys(Customer.normalise_tag(t) for t in tags):
                customer.tag(audit, tag)
            session.add(customer)
            return Decision(customer, {"customer_id": str(customer_id)})

        return self.app.execute(request, decide, (customer_id,))

    def change_details(self, request: Request, customer_id: UUID, *, kind: str | None = None,
                       name: str | None = None, phones: list[str] | None = None,
                       wechat_id: str | None = None, reason: str | None = None) -> CommandResult:
        """Kind, name, phones or WeChat id replaced, with the reason why (422 `reason`
        without one)."""
        why = require_reason(reason, "changing a customer's details")
        if name is not None:
            name = name.strip()
            require(bool(name), InvalidInput("customer name must not be empty", field="name"))
        numbers = _phones(phones) if phones is not None else None
        require(any(v is not None for v in (kind, name, numbers, wechat_id)),
                InvalidInput("nothing to change"))

        def act(session: Session, customer: Customer) -> dict[str, Any]:
            require(not customer.erased, InvalidInput("that customer has been erased"))
            sealed = self._seal(customer_id, name, numbers,
                                None if wechat_id is None else wechat_id.strip())
            # The reason may name the details themselves: sealed too, shredded with them.
            customer.change_details(session.audit(customer.store_id), kind or customer.kind,
                                    sealed, self.app.personal_data.seal(customer_id, why))
            return {"changed": sorted(k for k, v in {"kind": kind, "name": name,
                                                      "phones": numbers,
                                                      "wechat_id": wechat_id}.items()
                                      if v is not None)}

        return self._on(request, customer_id, act)

    def set_consent(self, request: Request, customer_id: UUID, *, channel: str, granted: bool,
                    note: str | None = None) -> CommandResult:
        """Consent to be contacted on a channel, given or withdrawn (the time is the audit's)."""
        return self._on(request, customer_id, lambda s, c: {"changed": c.consent(
            s.audit(c.store_id), channel, granted, (note or "").strip() or None)})

    def tag(self, request: Request, customer_id: UUID, *, tag: str) -> CommandResult:
        return self._on(request, customer_id, lambda s, c: {
            "tag": c.tag(s.audit(c.store_id), tag)})

    def untag(self, request: Request, customer_id: UUID, *, tag: str,
              reason: str | None) -> CommandResult:
        why = require_reason(reason, "removing a tag")
        return self._on(request, customer_id, lambda s, c: c.untag(s.audit(c.store_id), tag, why))

    # -- loyalty points ----------------------------------------------------------------------

    def earn_points(self, request: Request, customer_id: UUID, paid_amount: object,
                    reference: str) -> CommandResult:
        """Points on a paid customer amount at the configured rate; once per reference."""
        return self._on(request, customer_id, lambda s, c: earn_in(
            s, self.loyalty, self.zone, customer_id, paid_amount, reference))

    def redeem_points(self, request: Request, customer_id: UUID, points: int,
                      reference: str) -> CommandResult:
        """Spend points as a payment: refused beyond the live balance; answers their CNY value."""

        def act(session: Session, customer: Customer) -> dict[str, Any]:
            today = business_day(session.caller.at, self.zone)
            value = customer.redeem_points(
                session.audit(customer.store_id), self.loyalty, int(points), reference.strip(),
                today, redeemed_before(session, customer, reference.strip()))
            return {"points": int(points), "value": str(value),
                    "balance": customer.points_balance(today)}

        return self._on(request, customer_id, act)

    def expire_points(self, request: Request, customer_id: UUID) -> CommandResult:
        """Record the expiry of every lot whose expiry day has come."""

        def act(session: Session, customer: Customer) -> dict[str, Any]:
            today = business_day(session.caller.at, self.zone)
            expired = customer.expire_points(session.audit(customer.store_id), today)
            return {"expired": expired, "balance": customer.points_balance(today)}

        return self._on(request, customer_id, act)

    # -- erasure -----------------------------------------------------------------------------

    def erase(self, request: Request, customer_id: UUID, *, reason: str) -> CommandResult:
        """Record the erasure, then shred the key: events stay, personal fields read as erased."""
        reason = require_reason(reason, "erasing a customer")

        def decide(session: Session) -> Decision:
            customer = session.target(Customer, customer_id, "customer")
            customer.erase(session.audit(customer.store_id), reason)
            return Decision(customer, {})

        result = self.app.execute(request, decide, (customer_id,))
        self.shred_key(customer_id)
        return result

    def shred_key(self, customer_id: UUID) -> None:
        """Delete the erased customer's key (again: nothing if it is gone). What an erasure
        does after it is stored; a retry answered its stored erasure does it too, in case the
        first attempt's answer was lost before it was done."""
        self.app.personal_data.keys.delete_key(customer_id)
