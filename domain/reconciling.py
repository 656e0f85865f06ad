"""Bank reconciliation commands: a statement imported once, its lines matched to payments.

Statements and matches are the cashier's and finance's; `Settlements` carries these commands
(their service needs only `self.app`).
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import (
    InvalidInput,
    NotFound,
    NotPermitted,
    require,
    require_group_store,
    require_reason,
)
from domain.reconciliation import (
    SOURCES,
    Statement,
    StatementImport,
    content_hash,
    parse_statement,
)
from domain.settlement import Settlement
from domain.statement_format import read_statement

MAX_AUTO_MATCH = 500  # pairs per auto-match command: see Reconciliation.auto_match


class Reconciliation:
    app: ServiceCore
    stores: frozenset[str]  # the group's stores (`require_group_store`)
    zone: ZoneInfo  # the stores' time zone: the day a refusal names

    def import_statement(self, request: Request, *, store_id: str, source: str, account: str,
                         csv_text: str | None = None,
                         rows: list[list[Any]] | None = None) -> CommandResult:
        """A statement as CSV text, or as the rows of a file (see domain.statement_format)."""
        require_group_store(self.stores, store_id)
        require(request.caller.may_use(store_id),
                NotPermitted(f"your token does not cover {store_id}"))
        if source not in SOURCES:
            raise InvalidInput(f"source must be one of {', '.join(SOURCES)}")
        require((csv_text is None) != (rows is None),
                InvalidInput("a statement is imported from CSV text or from a file's rows"))
        lines = parse_statement(csv_text) if csv_text is not None else read_statement(rows or [])
        statement_id = uuid4()
        named = account.strip() or source
        digest = content_hash(lines)
        import_id = StatementImport.create_id(store_id, source, named, digest)

        def decide(session: Session) -> Decision:
            earlier = session.find(StatementImport, import_id)
            if earlier is not None:
                raise earlier.refusal(self.zone)
            audit = session.audit(store_id)
            statement = Statement(id=statement_id, audit=audit, source=source, account=named,
                                  lines=lines)
            session.add(statement, StatementImport(id=import_id, audit=audit,
                                                   statement_id=statement_id, digest=digest))
            return Decision(statement, {"lines": len(lines), "content_hash": digest})

        return self.app.execute(request, decide, (statement_id, import_id))

    def match(self, request: Request, statement_id: UUID, matches: list[dict[str, Any]], *,
              manual: bool = False, reason: str | None = None) -> CommandResult:
        """Match statement lines to payments; every pair is re-checked on both aggregates."""
        require(bool(matches), InvalidInput("nothing to match"))

        def decide(session: Session) -> Decision:
            statement = session.target(Statement, statement_id, "statement")
            for pair in matches:
                self._pair(session, statement, pair, manual, reason)
            return Decision(statement, {"matched": len(matches)})

        return self.app.execute(request, decide, (statement_id,))

    def auto_match(self, request: Request, statement_id: UUID,
                   proposals: list[dict[str, Any]]) -> CommandResult:
        """The read model's pairs (a line of money in and a payment of its reference and
        amount; a line of money out and a refund `refund_pairs` allows, matched through the
        path of a refund matched by hand, its reason saying why), at most MAX_AUTO_MATCH of
        them per command (each loads and changes a settlement, all in one save): `remaining` says
        how many proposals are left for the next call. A pair the read model proposed but the
        aggregates show matched meanwhile (the view was behind) is skipped, not refused.
        No proposals (all matched already, or none to be had) is no error: the statement is
        checked (unknown or another store's: 404) and the answer says 0 matched, 0 remaining."""

        def decide(session: Session) -> Decision:
            statement = session.target(Statement, statement_id, "statement")
            matched = looked = skipped = 0
            for pair in proposals:
                if matched == MAX_AUTO_MATCH:
                    break
                looked += 1
                if self._pair(session, statement, pair, manual=False, reason=None,
                              skip_matched=True):
                    matched += 1
                else:
                    skipped += 1
            return Decision(statement, {"matched": matched, "skipped": skipped,
                                        "remaining": len(proposals) - looked})

        return self.app.execute(request, decide, (statement_id,))

    def explain_line(self, request: Request, statement_id: UUID, line_no: int, *, kind: str,
                     reason: str | None, duplicate_of: int | None = None) -> CommandResult:
        """A statement line that needs no match in the books (a duplicate, a bank fee,
        interest, a transfer between the store's own accounts), explained with a reason."""

        def decide(session: Session) -> Decision:
            statement = session.target(Statement, statement_id, "statement")
            statement.explain(session.audit(statement.store_id), line_no, kind, reason,
                              duplicate_of)
            return Decision(statement, {"line_no": line_no, "kind": kind})

        return self.app.execute(request, decide, (statement_id,))

    def withdraw_explanation(self, request: Request, statement_id: UUID, line_no: int, *,
                             reason: str | None) -> CommandResult:
        """A manager takes a line's explanation back: the line is unmatched again."""

        def decide(session: Session) -> Decision:
            statement = session.target(Statement, statement_id, "statement")
            statement.withdraw_explanation(session.audit(statement.store_id), line_no, reason)
            return Decision(statement, {"line_no": line_no})

        return self.app.execute(request, decide, (statement_id,))

    def withdraw_refund_match(self, request: Request, statement_id: UUID, line_no: int, *,
                              reason: str | None) -> CommandResult:
        """A manager takes a line's match to a refund back: the statement line and the
        refund are both unmatched again, in one save."""
        return self._withdraw_match(request, statement_id, line_no, reason, "refund")

    def withdraw_payment_match(self, request: Request, statement_id: UUID, line_no: int, *,
                               reason: str | None) -> CommandResult:
        """A manager takes a line's match to a payment back (made by hand or by auto-match):
        the statement line and the payment are both unmatched again, in one save."""
        return self._withdraw_match(request, statement_id, line_no, reason, "payment")

    def _withdraw_match(self, request: Request, statement_id: UUID, line_no: int,
                        reason: str | None, kind: Literal["payment", "refund"]) -> CommandResult:
        def decide(session: Session) -> Decision:
            statement = session.target(Statement, statement_id, "statement")
            audit = session.audit(statement.store_id)
            withdraw = (statement.withdraw_refund_match if kind == "refund"
                        else statement.withdraw_payment_match)
            match = withdraw(audit, line_no, reason)
            settlement = session.get(Settlement, UUID(match["settlement_id"]), "settlement")
            key = f"{kind}_id"
            why = require_reason(reason, f"withdrawing a {kind} match")
            if kind == "refund":
                settlement.unreconcile_refund(audit, match[key], statement.id, line_no, why)
            else:
                settlement.unreconcile(audit, match[key], statement.id, line_no, why)
            return Decision(statement, {"line_no": line_no, key: match[key]})

        return self.app.execute(request, decide, (statement_id,))

    @staticmethod
    def _refund_pair(settlement: Settlement, statement: Statement,
                     pair: dict[str, Any]) -> None:
        """The refund exists on the settlement named, which is the statement's store's."""
        if str(pair["refund_id"]) not in settlement.refunds:
            raise NotFound(f"refund {pair['refund_id']} not found")
        require(settlement.store_id == statement.store_id, InvalidInput(
            f"refund {pair['refund_id']} was paid in {settlement.store_id}; the statement is "
            f"{statement.store_id}'s", field="settlement_id"))

    @staticmethod
    def _pair(session: Session, statement: Statement, pair: dict[str, Any], manual: bool,
              reason: str | None, skip_matched: bool = False) -> bool:
        """Match one line to one payment or refund on both aggregates; False if
        `skip_matched` and either side is matched already (or the line explained)."""
        audit = session.audit(statement.store_id)
        settlement = session.get(Settlement, UUID(str(pair["settlement_id"])), "settlement")
        if pair.get("refund_id") is not None:
            require(pair.get("payment_id") is None, InvalidInput(
                "a line matches a payment (payment_id) or a refund (refund_id), not both",
                field="refund_id"))
            Reconciliation._refund_pair(settlement, statement, pair)
            line_no = int(pair["line_no"])
            refund = settlement.refunds[str(pair["refund_id"])]
            line = statement.line(line_no)
            if skip_matched and (refund.get("reconciled") is not None
                                 or line["match"] is not None
                                 or line.get("explained") is not None):
                return False
            why = statement.match_refund(audit, line_no, settlement.id, refund, reason, manual)
            settlement.reconcile_refund(audit, refund["refund_id"], statement.id, line_no, why)
            return True
        require(pair.get("payment_id") is not None, InvalidInput(
            "name the payment (payment_id) or the refund (refund_id) the line matches",
            field="payment_id"))
        payment = settlement.payments.get(str(pair["payment_id"]))
        if payment is None:
            raise NotFound(f"payment {pair['payment_id']} not found")
        require(settlement.store_id == statement.store_id, InvalidInput(
            f"payment {payment['payment_id']} was taken in {settlement.store_id}; "
            f"the statement is {statement.store_id}'s"))
        line_no = int(pair["line_no"])
        line = statement.line(line_no)
        if skip_matched and (payment["reconciled"] is not None or line["match"] is not None
                             or line.get("explained") is not None):
            return False
        statement.match(audit, line_no, settlement.id, payment, manual, reason)
        settlement.reconcile(audit, payment["payment_id"], statement.id, line_no, manual, reason)
        return True
