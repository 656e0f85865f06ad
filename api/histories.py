"""`GET …/{id}/history`: one page of a stream's events, read from the event store, for a route
that names one kind of stream.

The event store answers for any id: a customer's stream read through an insurer's history
would show the customer's name and phone. Every history route therefore takes the page through
`stream_history`, which answers it only for a stream of the route's kind, first recorded in
a store the caller's token names; anything else (no such stream, another kind's, another
store's) is the same 404, so that an answer tells nothing about streams the caller may not
read.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from api.context import ApiContext
from domain.common import NotFound
from projections import audit
from projections.audit import PersonalDataOpener, StreamPage


def stream_history(ctx: ApiContext, stream_id: UUID, kind: str, stores: Sequence[str] | None,
                   refusal: str, *, limit: int, offset: int,
                   opener: PersonalDataOpener | None = None) -> StreamPage:
    """The page of the `kind` stream ("WorkOrder", "Customer", …) `stream_id` names, in one
    of `stores` (`*`: every store; None: a stream of the whole group, as the insurer master);
    else 404, `refusal` its detail ("work order … not found")."""
    found = audit.history_page(ctx.app, stream_id, limit=limit, offset=offset, opener=opener)
    if found is None or not found.kind.startswith(kind + ".") or (
            stores is not None and "*" not in stores and found.store_id not in stores):
        raise NotFound(refusal)
    return found
