"""Bearer JWT (HS256) with user id, role and stores; one table of who may call what."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

from api import log_context
from domain.common import BOOKING_CHANNEL_ROLE, CUSTOMER_ROLE, ROLES

# Every member of staff's role: the booking channel is no one's colleague, it reads nothing of
# the store but the free slots it may offer.
ALL = frozenset(ROLES - {BOOKING_CHANNEL_ROLE})
CHANNEL = frozenset({BOOKING_CHANNEL_ROLE})
DESK = frozenset({"advisor", "manager"})
PARTS = frozenset({"parts_clerk", "manager"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "work_orders.open": DESK,
    "work_orders.check_in": DESK,
    "work_orders.add_job": DESK | {"technician"},
    "work_orders.diagnose": DESK | {"technician"},
    "work_orders.estimate": DESK,
    "work_orders.reprice": DESK,
    "work_orders.authorize": DESK,
    "work_orders.dispatch": DESK,
    "work_orders.clock": frozenset({"technician", "manager"}),
    "work_orders.complete": frozenset({"technician", "manager"}),
    # the QC inspector (or workshop foreman) passes or fails a completed job; so may a manager
    "work_orders.quality_check": frozenset({"qc_inspector", "manager"}),
    "work_orders.cancel": DESK,
    "work_orders.compensate": DESK,
    # serials of fitted and removed parts, evidence references: who took the part off, tagged
    # it, photographed the failure or filed the claim; a reference is withdrawn at the desk
    "work_orders.warranty_records": DESK | {"technician", "parts_clerk"},
    "work_orders.withdraw_evidence": DESK,
    # the advisor's word that a visit is a comeback (返修) of an earlier one, or its withdrawal
    "work_orders.comeback": DESK,
    "work_orders.read": ALL,
    "commands.read": ALL,  # whether a save was stored (after a 503 that could not tell)
    "work_orders.history": frozenset({"auditor", "manager", "advisor"}),
    "work_orders.issue_parts": PARTS,
    "work_orders.supply": DESK | {"parts_clerk"},
    "customers.erase": frozenset({"manager"}),
    "customers.credit_terms": frozenset({"manager"}),
    "parts.read": ALL,
    "parts.manage": PARTS,
    "stock.read": ALL,
    "stock.move": PARTS,
    "stock.approve": frozenset({"manager"}),
    "stock.audit": frozenset({"auditor", "manager", "parts_clerk", "finance"}),
    # what open work orders still need from the parts counter (names no customer)
    "parts_desk.read": PARTS | {"advisor"},
    "purchase_orders.read": PARTS | {"auditor", "finance", "analyst"},
    "purchase_orders.manage": PARTS,
    # which sister stores can spare what a store is short of (sending them: stock.move)
    "transfers.suggestions": PARTS | {"auditor", "analyst"},
    "settlements.manage": frozenset({"cashier", "advisor", "manager"}),
    "settlements.reverse": frozenset({"manager"}),
    "receivables.write_off": frozenset({"manager"}),
    "receivables.write_off_reversal": frozenset({"manager"}),
    # a settlement's write-offs and their reversals, who and why: the books' readers
    "receivables.write_offs": frozenset({"finance", "manager", "auditor"}),
    "settlements.read": frozenset({"cashier", "advisor", "manager", "finance", "auditor"}),
    # finance: the OEM's and insurers' remittances by bank transfer, and asking to pay them
    # back by bank, alone (domain/settlement_cashier.py, settlement_payments.py): no drawer
    "payments.take": frozenset({"cashier", "manager", "finance"}),
    "payments.charge_to_account": frozenset({"cashier", "manager"}),
    "refunds.request": frozenset({"cashier", "manager", "finance"}),
    "refunds.decide": frozenset({"manager"}),
    "day_end.close": frozenset({"cashier", "manager", "finance"}),
    "finance.read": frozenset({"cashier", "manager", "finance", "auditor"}),
    "day_end.audit": frozenset({"auditor", "manager", "finance"}),
    "reconciliation.manage": frozenset({"finance", "manager"}),
    "reconciliation.withdraw": frozenset({"manager"}),  # a line's explanation or match
    # a bank statement's events (imported, each match, explanation and withdrawal): its readers
    "reconciliation.history": frozenset({"cashier", "manager", "finance", "auditor"}),
    "ledger.read": frozenset({"finance", "manager", "auditor"}),
    "delivery.record": DESK,
    "follow_ups.manage": DESK,
    "follow_ups.read": DESK | {"auditor", "analyst"},
    "complaints.manage": DESK,
    # customer complaint cases and suggestions (投诉建议): registered and worked by the service
    # desk and its manager (a customer-relations officer works with an advisor's token); read
    # by the OEM's customer-relations auditor too, the customer's words only by those who may
    # read customers
    "grievances.manage": DESK,
    "grievances.read": DESK | {"auditor"},
    "audit.grievances": frozenset({"auditor", "manager", "advisor"}),
    "analytics.read": frozenset({"manager", "analyst", "auditor", "finance"}),
    "customers.register": DESK,
    "customers.read": DESK | {"cashier", "auditor"},
    "customers.history": frozenset({"auditor", "manager", "advisor"}),
    "audit.trail": frozenset({"auditor", "manager"}),
    # the hash chain: recompute it over a range, list the recorded anchors, record its head
    "audit.chain": frozenset({"auditor", "manager"}),
    "audit.anchor": frozenset({"auditor", "manager"}),
    "points.earn": frozenset({"cashier", "manager"}),
    "points.redeem": frozenset({"cashier", "manager"}),
    "points.expire": frozenset({"finance", "manager"}),
    "vehicles.manage": DESK,
    "vehicles.import_history": frozenset({"manager"}),  # the previous system's visits
    "vehicles.read": ALL,
    "reminders.read": DESK,
    "reminders.record": DESK,
    "reminders.plans": frozenset({"manager"}),
    "reminders.plans_history": frozenset({"auditor", "manager", "advisor"}),
    "appointments.book": DESK,
    "appointments.capacity": frozenset({"manager"}),
    "appointments.read": ALL,
    # a workshop day's capacity planned and replanned and the bookings that held it
    "appointments.capacity_history": frozenset({"auditor", "manager", "advisor"}),
    # online booking (线上预约): the mini program's or website's backend requests a slot and
    # reads the free ones; the desk lists the requests, confirms or declines them
    "online_bookings.request": CHANNEL,
    "online_bookings.availability": CHANNEL | DESK,
    "online_bookings.read": DESK,
    "online_bookings.decide": DESK,
    "online_bookings.history": DESK | {"auditor"},
    # the labor-operation master: op codes, flat-rate hours, rates per pay type; pricing is the
    # manager's (the workshop supervisor's) alone, as is a labor line priced off it
    "labor_operations.manage": frozenset({"manager"}),
    "labor_operations.read": ALL,
    "labor_operations.audit": frozenset({"auditor", "manager", "finance"}),
    # the OEM's recall and service campaigns and the VINs they cover: the manager (who keeps
    # the OEM's warranty desk) registers, imports and closes them; every role reads them
    "campaigns.manage": frozenset({"manager"}),
    "campaigns.read": ALL,
    "campaigns.audit": frozenset({"auditor", "manager"}),
    # a part asked for and not sold (parts fill rate): at the parts counter or the desk
    "lost_sales.record": PARTS | {"advisor"},
    "lost_sales.read": PARTS | {"advisor", "analyst"},
    "lost_sales.void": frozenset({"manager"}),  # a wrong entry taken out, with a reason
    "lost_sales.history": PARTS | {"advisor", "analyst", "auditor"},
    "insurers.manage": frozenset({"manager"}),
    "insurers.read": ALL,
    "insurers.audit": frozenset({"auditor", "manager", "finance"}),
    "technicians.manage": frozenset({"manager"}),
    "technicians.read": ALL,
    "technicians.kpi": frozenset({"manager", "analyst", "auditor"}),
    "technicians.audit": frozenset({"auditor", "manager"}),
    "dispatch.auto": DESK,
    "dispatch.override": frozenset({"manager"}),
    "dispatch.read": ALL,
    # audit exports: the warranty clerk files claims with an advisor token; the desk uploads
    # the repair records after settlement
    "audit.warranty_claim": frozenset({"auditor", "manager", "advisor"}),
    # what the OEM did with a claim: recorded by whoever files claims (an advisor) or a manager
    "warranty_claims.manage": DESK,
    "warranty_claims.history": frozenset({"auditor", "manager", "advisor"}),
    # failed parts removed under warranty (旧件): tagged and kept by the parts counter or the
    # warranty administrator (an advisor's token), who record the OEM's requests, shipments
    # and scrap instructions; marked lost by a manager alone
    "failed_parts.manage": PARTS | {"advisor"},
    "failed_parts.lose": frozenset({"manager"}),
    "failed_parts.read": PARTS | {"advisor", "auditor"},
    "failed_parts.history": PARTS | {"advisor", "auditor"},  # a tag's custody, step by step
    "audit.failed_parts": frozenset({"auditor", "manager", "advisor"}),
    "audit.repair_records": frozenset({"auditor", "manager", "advisor"}),
    # the upload of a settled visit's repair record: its outcome reported by the desk that
    # uploads it (or the uploading integration, with an advisor's token); which were never
    # filed: the auditor's and the manager's question
    "repair_records.file": DESK,
    "repair_records.history": frozenset({"auditor", "manager", "advisor"}),
    # a major repair's completion certificate (竣工出厂合格证): signed by the QC inspector
    "completion_certificate.issue": frozenset({"qc_inspector", "manager"}),
    "audit.repair_records_unfiled": frozenset({"auditor", "manager"}),
    "audit.sanbao": frozenset({"auditor", "manager"}),
    "audit.serial_conflicts": frozenset({"auditor", "manager", "advisor"}),
    "progress.share": DESK,
    "progress.read": DESK | {"auditor"},
    "progress.history": frozenset({"auditor", "manager"}),
    # The customer behind a progress link, and only on that link's page: never a token's role.
    "progress.decide": frozenset({CUSTOMER_ROLE}),
}


class AuthError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def from_other_site(origin: str | None, host: str | None) -> bool:
    """Whether a browser's `Origin` header names another site than the `host` it posted to
    (no header, or "null", names none). An origin no URL parser reads (an unbalanced IPv6
    bracket: "http://[") is no site of ours either: it raised ValueError, a 500."""
    if not origin or origin == "null":
        return False
    try:
        return urlsplit(origin).netloc != host
    except ValueError:
        return True


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str
    stores: tuple[str, ...]

    def sees(self, store_id: str | None) -> bool:
        """Whether the token covers this store (`*`: every store)."""
        return "*" in self.stores or store_id in self.stores


def mint_token(secret: str, user_id: str, role: str, stores: list[str],
               ttl_seconds: int = 12 * 3600) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(sorted(ROLES))}")
    now = int(time.time())
    claims = {"sub": user_id, "role": role, "stores": stores, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


# Tokens already verified: (secret, token) -> (principal, expiry, not-before). A client sends
# the same token with every request; its signature and claims are checked once, its expiry
# every time. Bounded: emptied when full.
_VERIFIED: dict[tuple[str, str], tuple[Principal, float, float]] = {}
_VERIFIED_MAX = 4096


def principal_from(authorization: str | None, secret: str) -> Principal:
    """The caller a Bearer token names (also put on the request's log lines)."""
    principal = _principal(authorization, secret)
    log_context.identify(principal.user_id, principal.role, principal.stores)
    return principal


def _principal(authorization: str | None, secret: str) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AuthError(401, "a Bearer token is required")
    token = authorization[7:].strip()
    known = _VERIFIED.get((secret, token))
    if known is not None and known[2] <= time.time() < known[1]:
        return known[0]
    principal, claims = _verify(token, secret)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[(secret, token)] = (principal, float(claims["exp"]),
                                  float(claims.get("nbf") or 0))
    return principal


def _verify(token: str, secret: str) -> tuple[Principal, dict[str, Any]]:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"],
                            options={"require": ["sub", "exp"]})
    except jwt.PyJWTError as exc:
        raise AuthError(401, f"invalid token: {exc}") from None
    role, stores = claims.get("role"), claims.get("stores")
    if role not in ROLES or not isinstance(stores, list) or not stores:
        raise AuthError(401, "token lacks a known role or its stores")
    return Principal(str(claims["sub"]), role, tuple(str(s) for s in stores)), claims


def may(principal: Principal, action: str) -> bool:
    """Whether the caller's role is allowed `action` (a route that shows more to some roles)."""
    return principal.role in PERMISSIONS[action]


def authorize(principal: Principal, action: str) -> None:
    """403 names who may instead, so the refused user knows whom to ask (a clerk's stocktake
    variance: a manager)."""
    allowed = PERMISSIONS[action]
    if principal.role not in allowed:
        roles = sorted(allowed - {CUSTOMER_ROLE}) or sorted(allowed)
        who = roles[0] if len(roles) == 1 else f"{', '.join(roles[:-1])} or {roles[-1]}"
        raise AuthError(403, f"role {principal.role} may not {action.replace('_', ' ')}; "
                             f"that is for the {who} role{'s' if len(roles) > 1 else ''}")
