"""A bank or payment-provider statement imported for reconciliation, and its matches.

A read model may propose matches (a payment of the line's reference and amount; a refund paid
out with the line's reference, or alone of its amount near the line's date: `refund_pairs`); the
match command re-checks the statement line and the payment or refund on its settlement, and
marks both in one save, so neither is ever matched twice.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import (
    Audit,
    IllegalTransition,
    InvalidInput,
    NotFound,
    NotPermitted,
    require,
    require_reason,
    stable_id,
)
from domain.statement_format import csv_rows, read_statement

SOURCES = ("bank", "wechat_pay", "alipay", "card_acquirer")
# The payment methods each source's statement carries: a bank's the transfers and the card
# terminal's settlements, a provider's its own; cash reaches no statement line by line.
METHODS_BY_SOURCE = {"bank": ("bank_transfer", "bank_card"), "card_acquirer": ("bank_card",),
                     "wechat_pay": ("wechat_pay",), "alipay": ("alipay",)}
# Why a statement line needs no match in the books: a line the bank printed twice, the bank's
# fee or interest, money moved between the store's own accounts, or another reason written out.
EXPLANATION_KINDS = ("duplicate", "bank_fee", "interest", "own_transfer", "other")
# How many days a bank's line of money out may lie from a refund's approval for auto-match to
# pair the two without a reference (as the statement's page lists payments: 7 either side).
REFUND_DAYS = 7


def parse_statement(text: str) -> list[dict[str, Any]]:
    """CSV with a header naming date, amount, reference and counterparty (in English, or as
    Chinese banks name them: see domain.statement_format)."""
    return read_statement(csv_rows(text))


class Statement(Aggregate):
    class Event(Aggregate.Event):
        audit: Audit

    class Imported(Event, Aggregate.Created):
        source: str
        account: str
        lines: list[dict[str, Any]]

    class LineMatched(Event):
        line_no: int
        settlement_id: UUID
        payment_id: str
        manual: bool
        reason: str | None

    class RefundMatched(Event):
        """v2 adds `manual` (False: proposed by auto-match; every v1 match was by hand)."""

        class_version = 2
        line_no: int
        settlement_id: UUID
        refund_id: str
        reason: str
        manual: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["manual"] = True

    class LineExplained(Event):
        line_no: int
        kind: str
        reason: str
        duplicate_of: int | None

    class ExplanationWithdrawn(Event):
        line_no: int
        reason: str

    class RefundMatchWithdrawn(Event):
        line_no: int
        settlement_id: UUID
        refund_id: str
        reason: str

    class PaymentMatchWithdrawn(Event):
        line_no: int
        settlement_id: UUID
        payment_id: str
        reason: str

    @event(Imported)
    def __init__(self, audit: Audit, source: str, account: str, lines: list[dict[str, Any]],
                 id: UUID | None = None) -> None:
        self.store_id = audit.store_id
        self.source = source
        self.account = account
        self.lines = {ln["line_no"]: dict(ln, match=None, explained=None) for ln in lines}

    def line(self, line_no: int) -> dict[str, Any]:
        if line_no not in self.lines:
            raise InvalidInput(f"the statement has no line {line_no}")
        return self.lines[line_no]

    def match(self, audit: Audit, line_no: int, settlement_id: UUID, payment: dict[str, Any],
              manual: bool, reason: str | None) -> None:
        line = self.line(line_no)
        require(line["match"] is None,
                IllegalTransition(f"statement line {line_no} is already matched"))
        self._check_unexplained(line)
        self._check_pair(line, payment)
        self._check_payment(line, payment)
        if manual:
            reason = require_reason(reason, "a manual match")
        else:
            require(bool(payment.get("provider_ref")) and line["amount"] == payment["amount"]
                    and line["reference"] == payment["provider_ref"],
                    IllegalTransition(f"line {line_no} and payment {payment['payment_id']} differ "
                                      "in amount or reference; match by hand with a reason"))
        self._matched(audit, line_no, settlement_id, payment["payment_id"], manual, reason)

    @staticmethod
    def _check_pair(line: dict[str, Any], payment: dict[str, Any]) -> None:
        """What no reason makes a match: a line of money going out is no payment coming in."""
        require(Decimal(str(line["amount"])) > 0, InvalidInput(
            f"statement line {line['line_no']} is money out ({line['amount']}); "
            "a payment matches money in"))

    def _check_payment(self, line: dict[str, Any], payment: dict[str, Any]) -> None:
        """What no reason makes a match either: a payment the statement's source never
        carries (cash, or another provider's), or a line bringing in more than the payment
        (a provider's fee makes a line smaller, never larger), which would leave the rest of
        the line's money unexplained while the statement reads reconciled."""
        method, carried = payment.get("method"), METHODS_BY_SOURCE.get(self.source, ())
        require(method is None or method in carried, InvalidInput(
            f"payment {payment['payment_id']} was taken by {method}; a {self.source} "
            f"statement carries {' and '.join(carried)} payments", field="payment_id",
            method=method, source=self.source))
        line_amount, paid = Decimal(str(line["amount"])), Decimal(str(payment["amount"]))
        require(line_amount <= paid, InvalidInput(
            f"statement line {line['line_no']} brought in {line_amount}, more than payment "
            f"{payment['payment_id']} took ({paid}): a line is one payment, less the "
            "provider's fee at most", field="line_no", line_amount=str(line_amount),
            payment_amount=str(paid)))

    def match_refund(self, audit: Audit, line_no: int, settlement_id: UUID,
                     refund: dict[str, Any], reason: str | None, manual: bool = True) -> str:
        """A line of money going out matched to the refund it paid: by hand with a reason
        (the amounts may differ, e.g. the bank's fee on the transfer), or as auto-match
        proposed it (`refund_pairs`: the refund's payout reference is the line's, or neither
        says a differing one and amount and date agree), the reason then saying which."""
        line = self.line(line_no)
        require(Decimal(str(line["amount"])) < 0, InvalidInput(
            f"statement line {line_no} is money in ({line['amount']}); a refund matches money "
            "out", field="line_no"))
        if manual:
            why = require_reason(reason, "a manual match")
        else:
            paired = refund_pairs(line, refund)
            require(paired is not None, IllegalTransition(
                f"line {line_no} and refund {refund['refund_id']} differ in amount, reference "
                "or date; match by hand with a reason"))
            why = str(paired)
        require(line["match"] is None,
                IllegalTransition(f"statement line {line_no} is already matched"))
        self._check_unexplained(line)
        self._refund_matched(audit, line_no, settlement_id, refund["refund_id"], why, manual)
        return why

    @event(RefundMatched)
    def _refund_matched(self, audit: Audit, line_no: int, settlement_id: UUID, refund_id: str,
                        reason: str, manual: bool = True) -> None:
        self.lines[line_no]["match"] = {"settlement_id": str(settlement_id),
                                        "refund_id": refund_id}

    @staticmethod
    def _check_unexplained(line: dict[str, Any]) -> None:
        explained = line.get("explained")
        require(explained is None, IllegalTransition(
            f"statement line {line['line_no']} is explained ({explained and explained['kind']}); "
            "withdraw the explanation first", explanation=explained))

    def explain(self, audit: Audit, line_no: int, kind: str, reason: str | None,
                duplicate_of: int | None = None) -> None:
        """A line that needs no match in the books, said why: it leaves the unmatched lines.
        A duplicate names the line it repeats: another line of this statement with the same
        date, amount and reference, not itself explained as a duplicate."""
        line = self._line_at(line_no)
        if kind not in EXPLANATION_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(EXPLANATION_KINDS)}",
                               field="kind")
        why = require_reason(reason, "explaining a statement line")
        if kind == "duplicate":
            self._check_duplicate(line, duplicate_of)
        elif duplicate_of is not None:
            raise InvalidInput("only a duplicate names the line it repeats (duplicate_of)",
                               field="duplicate_of")
        matched = line["match"]
        require(matched is None, IllegalTransition(
            f"statement line {line_no} is matched ({matched}); a matched line needs no "
            "explanation"))
        self._check_unexplained(line)
        self._explained(audit, line_no, kind, why, duplicate_of)

    def _line_at(self, line_no: int) -> dict[str, Any]:
        """The line a command's path names (404 when the statement has none)."""
        if line_no not in self.lines:
            raise NotFound(f"the statement has no line {line_no}")
        return self.lines[line_no]

    def _check_duplicate(self, line: dict[str, Any], duplicate_of: int | None) -> None:
        if duplicate_of is None:
            raise InvalidInput("a duplicate names the line it repeats (duplicate_of)",
                               field="duplicate_of")
        original = self.lines.get(duplicate_of)
        if original is None or duplicate_of == line["line_no"]:
            raise InvalidInput(f"duplicate_of must be another line of this statement; "
                               f"{duplicate_of} is not", field="duplicate_of")
        differs = [name for name in ("date", "amount", "reference")
                   if str(original[name]) != str(line[name])]
        require(not differs, InvalidInput(
            f"line {line['line_no']} and line {duplicate_of} differ in {', '.join(differs)}: "
            "a duplicate repeats the line's date, amount and reference",
            field="duplicate_of", differs=differs))
        earlier = original.get("explained")
        require(earlier is None or earlier["kind"] != "duplicate", InvalidInput(
            f"line {duplicate_of} is itself explained as a duplicate of line "
            f"{earlier and earlier['duplicate_of']}", field="duplicate_of"))

    def withdraw_explanation(self, audit: Audit, line_no: int, reason: str | None) -> None:
        """A manager takes an explanation back (said why): the line is unmatched again."""
        line = self._line_at(line_no)
        why = require_reason(reason, "withdrawing an explanation")
        require(audit.role == "manager",
                NotPermitted("withdrawing an explanation needs a manager"))
        require(line.get("explained") is not None, IllegalTransition(
            f"statement line {line_no} is not explained"))
        self._withdrawn(audit, line_no, why)

    def withdraw_refund_match(self, audit: Audit, line_no: int,
                              reason: str | None) -> dict[str, Any]:
        """A manager takes a line's match to a refund back (said why): the line is unmatched
        again. Answers the match taken back (the settlement's side is undone with it)."""
        match, why = self._match_to_withdraw(audit, line_no, reason, "refund")
        self._refund_match_withdrawn(audit, line_no, UUID(match["settlement_id"]),
                                     match["refund_id"], why)
        return match

    @event(RefundMatchWithdrawn)
    def _refund_match_withdrawn(self, audit: Audit, line_no: int, settlement_id: UUID,
                                refund_id: str, reason: str) -> None:
        self.lines[line_no]["match"] = None

    def withdraw_payment_match(self, audit: Audit, line_no: int,
                               reason: str | None) -> dict[str, Any]:
        """A manager takes a line's match to a payment back (by hand or auto-matched, said
        why): the line is unmatched again. Answers the match taken back (the settlement's
        side is undone with it)."""
        match, why = self._match_to_withdraw(audit, line_no, reason, "payment")
        self._payment_match_withdrawn(audit, line_no, UUID(match["settlement_id"]),
                                      match["payment_id"], why)
        return match

    def _match_to_withdraw(self, audit: Audit, line_no: int, reason: str | None,
                           kind: str) -> tuple[dict[str, Any], str]:
        """The line's match to a `kind` ("payment" | "refund") a manager may take back, and
        the reason said (refused: no reason, not a manager, no such match on the line)."""
        line = self._line_at(line_no)
        why = require_reason(reason, f"withdrawing a {kind} match")
        require(audit.role == "manager",
                NotPermitted(f"withdrawing a {kind} match needs a manager"))
        match = line["match"]
        require(match is not None and match.get(f"{kind}_id") is not None, IllegalTransition(
            f"statement line {line_no} is not matched to a {kind}"))
        return dict(match), why

    @event(PaymentMatchWithdrawn)
    def _payment_match_withdrawn(self, audit: Audit, line_no: int, settlement_id: UUID,
                                 payment_id: str, reason: str) -> None:
        self.lines[line_no]["match"] = None

    @event(LineExplained)
    def _explained(self, audit: Audit, line_no: int, kind: str, reason: str,
                   duplicate_of: int | None) -> None:
        self.lines[line_no]["explained"] = {"kind": kind, "duplicate_of": duplicate_of}

    @event(ExplanationWithdrawn)
    def _withdrawn(self, audit: Audit, line_no: int, reason: str) -> None:
        self.lines[line_no]["explained"] = None

    @event(LineMatched)
    def _matched(self, audit: Audit, line_no: int, settlement_id: UUID, payment_id: str,
                 manual: bool, reason: str | None) -> None:
        self.lines[line_no]["match"] = {"settlement_id": str(settlement_id),
                                        "payment_id": payment_id}


def refund_pairs(line: dict[str, Any], refund: dict[str, Any]) -> str | None:
    """Why auto-match may pair a line of money out with an approved refund, or None: the same
    amount out as the refund and either its payout reference is the line's, or (unless both
    state references, and differing ones, or the refund went out in cash) the line's date
    within REFUND_DAYS of the refund's approval. That no other line or refund pairs as well is the read model's to know
    (`projections.refund_proposals`); this is what each pair must be."""
    if Decimal(str(line["amount"])) != -Decimal(str(refund["amount"])):
        return None
    ours, theirs = refund.get("payout_ref") or "", line.get("reference") or ""
    if ours and ours == theirs:
        return f"auto-match: reference {ours} and amount agree"
    approved_on = refund.get("business_date")
    if (ours and theirs) or approved_on is None or refund.get("payout_method") == "cash":
        return None  # differing references; not approved; cash is on no statement
    days = abs((date.fromisoformat(str(line["date"])[:10])
                - date.fromisoformat(str(approved_on)[:10])).days)
    if days > REFUND_DAYS:
        return None
    return f"auto-match: amount agrees, {days} day(s) from the approval, the one candidate"


def content_hash(lines: list[dict[str, Any]]) -> str:
    """What a statement says, line by line (date, amount, reference, counterparty), as SHA-256:
    the same export read from CSV, GBK CSV or XLSX hashes alike; a title row, a totals row or
    blank rows around the lines do not count."""
    said = [[ln["date"], str(ln["amount"]), ln["reference"], ln["counterparty"]] for ln in lines]
    return hashlib.sha256(json.dumps(said, ensure_ascii=False).encode("utf-8")).hexdigest()


class StatementAlreadyImported(IllegalTransition):
    """The same statement of the same account was imported before (HTTP 409, naming it)."""


class StatementImport(Aggregate):
    """A statement's content taken once per store, source and account: a stream named by
    (store, source, account, content hash), created in the same save() as the statement, so a
    second import of the same file (or two at once) is refused, not a second statement."""

    @staticmethod
    def create_id(store_id: str, source: str, account: str, digest: str) -> UUID:
        return stable_id("statement-import", store_id, source, account, digest)

    @event("Recorded")
    def __init__(self, audit: Audit, statement_id: UUID, digest: str,
                 id: UUID | None = None) -> None:
        self.statement_id = statement_id
        self.digest = digest
        self.imported_at = audit.at.isoformat()

    def refusal(self, zone: tzinfo) -> StatementAlreadyImported:
        """Naming the first import and its day in the store's time zone (`imported_on`), as
        every business date is told."""
        day = datetime.fromisoformat(self.imported_at).astimezone(zone).date().isoformat()
        return StatementAlreadyImported(
            f"this statement was imported on {day} as statement "
            f"{self.statement_id}; the same file is not imported twice",
            statement_id=str(self.statement_id), content_hash=self.digest, imported_on=day)
