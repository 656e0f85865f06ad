"""Reads that show personal data: the caller, and the record of what they saw.

A route that answers with personal data takes a `PiiReader` instead of a plain reader; once its
answer is ready it names the customers whose data the answer shows (and the bank statements
whose payers it shows), and for the roles whose reads are recorded (the auditor) a
`PersonalDataRead` per customer or statement is saved before the answer leaves: no recorded
read, no answer. Only the roles that may read customers' personal data (`customers.read`) are
shown it — and a statement's payers also to those who reconcile statements — : for the others
`masked` answers the same read with those fields null (still there: the answer keeps its
shape), and nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from fastapi import Request, Response
from starlette.datastructures import MutableHeaders

from api import log_context
from api.auth import Principal, authorize, may, principal_from
from api.context import ApiContext
from api.deps import MASKED_ETAG, Authorization, CorrelationId, context_of
from domain.application import Request as Envelope
from domain.common import Caller, NotPermitted
from domain.personal_data_reads import RECORDED_ROLES, PersonalDataReads
from domain.pii import ERASED
from projections.audit import PersonalDataOpener

T = TypeVar("T")
# The roles that may read customers' personal data (name, phones, WeChat id): those allowed
# to read the customers themselves.
PERSONAL_DATA = "customers.read"
# A statement line's payer (the counterparty a bank names: often a private person) is shown to
# those roles and to the ones who reconcile statements: matching a transfer by hand needs whose
# money it was.
PAYER_DATA = (PERSONAL_DATA, "reconciliation.manage")
# Where each read shows personal data ("*": every item of a list).
WORK_ORDER_FIELDS = (("customer", "name"), ("customer", "phone"), ("customer", "wechat_id"),
                     ("delivery", "acknowledgement", "acknowledged_by"))
WORK_ORDER_ROW_FIELDS = (("items", "*", "customer_name"), ("items", "*", "customer_phone"))
FOLLOW_UP_ROW_FIELDS = (("items", "*", "customer_name"), ("items", "*", "customer_phone"))
APPOINTMENT_FIELDS = (("customer_name",), ("customer_phones",))
VEHICLE_FIELDS = (("owner_name",), ("owners", "*", "name"))
STATEMENT_FIELDS = (("matched", "*", "counterparty"), ("unmatched_lines", "*", "counterparty"),
                    ("explained", "*", "counterparty"))
# a statement's import in an audit line (`/audit/log`, `/audit/events`): its lines' payers
STATEMENT_ENTRY_FIELDS = (("*", "changes", "lines", "*", "counterparty"),)
STATEMENT_IMPORTED = "Statement.Imported"
StatementShown = tuple[UUID, str, Collection[int]]  # statement, its store, lines whose payer showed


@dataclass
class PiiReader:
    ctx: ApiContext
    principal: Principal
    request: Request
    correlation_id: str
    shown_to: tuple[str, ...] = (PERSONAL_DATA,)  # the permissions that show the data

    @property
    def endpoint(self) -> str:
        """What was asked for (method, path and query), which a recorded read keeps with the
        values of personal query parameters redacted (domain/personal_data_reads.py); built
        only when a read is recorded, not on every request."""
        url = self.request.url
        return f"{self.request.method} {url.path}" + (f"?{url.query}" if url.query else "")

    @property
    def stores(self) -> tuple[str, ...]:
        return self.principal.stores

    @property
    def recorded(self) -> bool:
        """Whether this caller's reads of personal data are recorded (`record` saves)."""
        return self.principal.role in RECORDED_ROLES

    @property
    def sees_personal_data(self) -> bool:
        """Whether this caller's role may be shown the personal data this route answers with
        (customers': `customers.read`; a statement's payers: `PAYER_DATA`)."""
        return _may_see(self.principal, self.shown_to)

    def masked(self, answer: T, fields: Iterable[tuple[str, ...]]) -> T:
        """The answer as this caller may see it: for a role that may not read personal data,
        the `fields` (paths into it) set to None where the answer has them."""
        return _masked(answer, fields, shown=self.sees_personal_data)

    def etag(self, version: int) -> str:
        """The ETag of a read at `version` as this caller is shown it (see `MASKED_ETAG`)."""
        return f'"{version}{"" if self.sees_personal_data else MASKED_ETAG}"'

    def refuse_search_by(self, **filters: Any) -> None:
        """A role that may not read personal data may not look records up by it either (a
        search by phone would tell whose car it is): 403 naming the parameter."""
        for name, value in filters.items():
            if value is not None and not self.sees_personal_data:
                raise NotPermitted(f"role {self.principal.role} may not search by {name}: "
                                   "personal data is for the roles that may read customers",
                                   field=name)

    def opener(self) -> PersonalDataOpener:
        return PersonalDataOpener(self.ctx.app.personal_data)

    def record(self, shown: Iterable[tuple[UUID, str]], purpose: str,
               statements: Iterable[StatementShown] = ()) -> None:
        """Record that the answer showed these customers' data (customer, store read in) and
        these statements' payers (statement, its store, the lines whose payer was shown)."""
        caller = Caller(self.principal.user_id, self.principal.role, self.principal.stores,
                        datetime.now(UTC), self.correlation_id)
        PersonalDataReads(self.ctx.app).record(
            Envelope(caller), shown=dict(shown), endpoint=self.endpoint, purpose=purpose,
            statements={sid: (store, lines) for sid, store, lines in statements if lines})

    def record_opened(self, opener: PersonalDataOpener, store_id: str, purpose: str,
                      entries: list[dict[str, Any]] | None = None) -> None:
        self.record(((customer_id, store_id) for customer_id in opener.opened), purpose,
                    statement_entries(entries or []))

    def audit_entries(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Audit lines as this caller may see them: a statement import's payers null for a
        role that may see neither customers' personal data nor statements' payers."""
        return _masked(entries, STATEMENT_ENTRY_FIELDS,
                       shown=_may_see(self.principal, PAYER_DATA))


def pii_reader(action: str, shown_to: tuple[str, ...] = (PERSONAL_DATA,),
               ) -> Callable[..., Awaitable[PiiReader]]:
    async def dependency(
        request: Request, response: Response, authorization: Authorization,
        x_correlation_id: CorrelationId = None,
    ) -> PiiReader:
        return open_reading(request, response.headers, authorization, x_correlation_id, action,
                            shown_to)

    return dependency


def open_reading(request: Request, headers: MutableHeaders, authorization: str | None,
                 x_correlation_id: str | None, action: str,
                 shown_to: tuple[str, ...] = (PERSONAL_DATA,)) -> PiiReader:
    """The caller allowed `action`, whose reads of personal data this request may record; the
    answer names the request's correlation id (`headers`)."""
    ctx = context_of(request)
    principal = principal_from(authorization, ctx.jwt_secret)
    authorize(principal, action)
    correlation_id = log_context.correlation_id(x_correlation_id)
    headers["X-Correlation-ID"] = correlation_id
    return PiiReader(ctx, principal, request, correlation_id, shown_to)


def _may_see(principal: Principal, shown_to: Iterable[str]) -> bool:
    """Whether the role holds one of the permissions that show a kind of personal data."""
    return any(may(principal, permission) for permission in shown_to)


def _masked(answer: T, fields: Iterable[tuple[str, ...]], *, shown: bool) -> T:
    if not shown:
        for path in fields:
            _blank(answer, path)
    return answer


def _blank(value: Any, path: tuple[str, ...]) -> None:
    head, rest = path[0], path[1:]
    if head == "*":
        for item in value if isinstance(value, list) else ():
            _blank(item, rest)
    elif isinstance(value, dict) and head in value:
        if rest:
            _blank(value[head], rest)
        else:
            value[head] = None


def shows_personal_data(*values: Any) -> bool:
    """Whether read-model fields hold personal data in the clear (not empty, not erased)."""
    return any(v and v != ERASED and v != [ERASED] for v in values)


def work_order_customers(docs: Iterable[dict[str, Any]]) -> list[tuple[UUID, str]]:
    """The customers whose name or phone these work-order docs or list rows show."""
    found = []
    for doc in docs:
        customer = doc.get("customer") or {}
        customer_id = customer.get("id") or doc.get("customer_id")
        shown = (customer.get("name"), customer.get("phone"), customer.get("wechat_id"),
                 doc.get("customer_name"), doc.get("customer_phone"))
        if customer_id and shows_personal_data(*shown):
            found.append((UUID(str(customer_id)), str(doc["store_id"])))
    return found


def payer_lines(lines: Iterable[dict[str, Any]]) -> list[int]:
    """The numbers of the statement lines whose payer (counterparty) an answer shows."""
    return [line["line_no"] for line in lines if shows_personal_data(line.get("counterparty"))]


def statement_entries(entries: Iterable[dict[str, Any]]) -> list[StatementShown]:
    """The statements whose payers these audit lines show (a statement's import lists its
    lines), with their store and the lines whose payer is shown."""
    return [(UUID(str(e["stream_id"])), str((e.get("actor") or {}).get("store_id")),
             payer_lines(e["changes"].get("lines") or []))
            for e in entries if e.get("event") == STATEMENT_IMPORTED]
