"""A bank or payment-provider statement imported for reconciliation, and its matches.

A read model may propose matches (same reference and amount); the match command re-checks the
statement line and the payment on its settlement, and marks both in one save, so a payment is
never matched twice.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import (
    Audit,
    IllegalTransition,
    InvalidInput,
    require,
    require_reason,
    stable_id,
)
from domain.statement_format import csv_rows, read_statement

SOURCES = ("bank", "wechat_pay", "alipay", "card_acquirer")


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

    @event(Imported)
    def __init__(self, audit: Audit, source: str, account: str, lines: list[dict[str, Any]],
                 id: UUID | None = None) -> None:
        self.store_id = audit.store_id
        self.source = source
        self.account = account
        self.lines = {ln["line_no"]: dict(ln, match=None) for ln in lines}

    def line(self, line_no: int) -> dict[str, Any]:
        if line_no not in self.lines:
            raise InvalidInput(f"the statement has no line {line_no}")
        return self.lines[line_no]

    def match(self, audit: Audit, line_no: int, settlement_id: UUID, payment: dict[str, Any],
              manual: bool, reason: str | None) -> None:
        line = self.line(line_no)
        require(line["match"] is None,
                IllegalTransition(f"statement line {line_no} is already matched"))
        self._check_pair(line, payment)
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

    @event(LineMatched)
    def _matched(self, audit: Audit, line_no: int, settlement_id: UUID, payment_id: str,
                 manual: bool, reason: str | None) -> None:
        self.lines[line_no]["match"] = {"settlement_id": str(settlement_id),
                                        "payment_id": payment_id}


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

    def refusal(self) -> StatementAlreadyImported:
        return StatementAlreadyImported(
            f"this statement was imported on {self.imported_at[:10]} as statement "
            f"{self.statement_id}; the same file is not imported twice",
            statement_id=str(self.statement_id), content_hash=self.digest)
