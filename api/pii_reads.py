"""Reads that show customers' personal data: the caller, and the record of what they saw.

A route that answers with personal data takes a `PiiReader` instead of a plain reader; once its
answer is ready it names the customers whose data the answer shows, and for the roles whose
reads are recorded (the auditor) a `PersonalDataRead` per customer is saved before the answer
leaves: no recorded read, no answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import Request, Response
from starlette.datastructures import MutableHeaders

from api import log_context
from api.auth import Principal, authorize, principal_from
from api.context import ApiContext
from api.deps import Authorization, CorrelationId, context_of
from domain.application import Request as Envelope
from domain.common import Caller
from domain.personal_data_reads import RECORDED_ROLES, PersonalDataReads
from domain.pii import ERASED
from projections.audit import PersonalDataOpener


@dataclass
class PiiReader:
    ctx: ApiContext
    principal: Principal
    request: Request
    correlation_id: str

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

    def opener(self) -> PersonalDataOpener:
        return PersonalDataOpener(self.ctx.app.personal_data)

    def record(self, shown: Iterable[tuple[UUID, str]], purpose: str) -> None:
        """Record that the answer showed these customers' data (customer, store read in)."""
        caller = Caller(self.principal.user_id, self.principal.role, self.principal.stores,
                        datetime.now(UTC), self.correlation_id)
        PersonalDataReads(self.ctx.app).record(Envelope(caller), shown=dict(shown),
                                               endpoint=self.endpoint, purpose=purpose)

    def record_opened(self, opener: PersonalDataOpener, store_id: str, purpose: str) -> None:
        self.record(((customer_id, store_id) for customer_id in opener.opened), purpose)


def pii_reader(action: str) -> Callable[..., Awaitable[PiiReader]]:
    async def dependency(
        request: Request, response: Response, authorization: Authorization,
        x_correlation_id: CorrelationId = None,
    ) -> PiiReader:
        return open_reading(request, response.headers, authorization, x_correlation_id, action)

    return dependency


def open_reading(request: Request, headers: MutableHeaders, authorization: str | None,
                 x_correlation_id: str | None, action: str) -> PiiReader:
    """The caller allowed `action`, whose reads of personal data this request may record; the
    answer names the request's correlation id (`headers`)."""
    ctx = context_of(request)
    principal = principal_from(authorization, ctx.jwt_secret)
    authorize(principal, action)
    correlation_id = log_context.correlation_id(x_correlation_id)
    headers["X-Correlation-ID"] = correlation_id
    return PiiReader(ctx, principal, request, correlation_id)


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
