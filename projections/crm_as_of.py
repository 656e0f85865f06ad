"""A customer and a vehicle as they stood at a moment, replayed from their own streams: what a
regulator asks after the fact (did we hold the customer's consent to contact them on that
channel when the reminder went out; who owned the car, under which plate, on the day of a
repair).

Personal fields are opened with the customer's key as it is now, never as it was: once a
customer is erased (the key deleted) their name, phones and WeChat id read as erased at every
moment, before the erasure too; the facts (consent, tags, owners) stay. A `PersonalDataOpener`
remembers whose data came out in the clear, so that the read can be recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import takewhile
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.utils import get_topic

from domain.application import ServiceCore
from domain.customer import Customer
from domain.pii import ERASED
from domain.unreadable_events import mutated
from domain.vehicle import Vehicle
from projections.as_of_start import reached_version, stamped_start, trusted_starts
from projections.audit import PersonalDataOpener, events_until, replay, stream_events
from projections.customer_queries import points_summary
from projections.customers import consent_entry, open_phones

_LOTS_MOVED = (Customer.LotsArchived, Customer.LotRevived)
_CONSENT = (Customer.ConsentGiven, Customer.ConsentWithdrawn)
_CONSENT_TOPICS = [get_topic(cls) for cls in _CONSENT]
# The events that give a vehicle a plate or an owner, as the vehicle file names them.
_SOURCES = {"Registered": "registration", "PlateChanged": "plate change",
            "OwnerChanged": "ownership change"}


def customer_as_of(app: ServiceCore, customer_id: UUID, at: datetime, zone: ZoneInfo,
                   opener: PersonalDataOpener) -> dict[str, Any] | None:
    """The customer at `at` with the current detail's own fields (kind, name, phones, WeChat
    id, `erased`, `consent` per channel with when, by whom and the note or reason, the tags
    set by hand, `points` on the day of `at` in `zone`), `registered_at`, `updated_at`, the
    stream `version` reached and `as_of`; None before the registration, or for a stream that
    is not a customer's.

    A fleet's points come with every visit: the customer is replayed from the latest trusted
    snapshot whose `stamped_until` is at or before `at` up to the first event stamped after it
    (snapshots from before that was kept: from the latest at or before the version `at`
    reaches; projections/as_of_start.py), and `consent` from the stream's consent events up to
    the version reached (picked out by the database)."""
    customer: Any = None
    last: Any = None
    start = stamped_start(app, customer_id, at)
    if start is not None:  # read on from it until the first event stamped after `at`
        customer = start.aggregate
        for e in takewhile(lambda e: e.audit.at <= at,
                           stream_events(app, customer_id, gt=start.version)):
            customer, last = mutated(e, customer), e
        reach = start.version if last is None else last.originator_version
    else:
        found = reached_version(app, customer_id, at)
        if found is None:
            return _customer_by_replay(app, customer_id, at, zone, opener)
        reach = found
    first = next(iter(app.events.get(customer_id, lte=1)), None) if reach else None
    if not isinstance(first, Customer.Registered):
        return None
    if start is None:
        start = next(trusted_starts(app, customer_id, reach))
        customer = replay(stream_events(app, customer_id, gt=start.version, lte=reach),
                          start.aggregate)
    if last is None:
        last = next(iter(app.events.get(customer_id, gt=reach - 1, lte=reach)))
    consent = {e.channel: consent_entry(e) for e in _consent_events(app, customer_id, reach)}
    return _customer_doc(customer, consent, first, last, at, zone, opener)


def _consent_events(app: ServiceCore, customer_id: UUID, reach: int) -> Iterator[Any]:
    """The customer's consent events up to version `reach`, in order."""
    select = getattr(app.recorder, "select_events_holding", None)
    mapper = app.mapper
    if select is None or mapper.cipher is not None or mapper.compressor is not None:
        yield from (e for e in stream_events(app, customer_id, lte=reach)
                    if isinstance(e, _CONSENT))
        return
    for stored in select(customer_id, topics=_CONSENT_TOPICS, needles=[b'"channel":'],
                         lte=reach):
        yield mapper.to_domain_event(stored)


def _customer_by_replay(app: ServiceCore, customer_id: UUID, at: datetime, zone: ZoneInfo,
                        opener: PersonalDataOpener) -> dict[str, Any] | None:
    """`customer_as_of` replayed from the first event, each stamp compared here."""
    # One pass over the stream, a chunk at a time: a fleet's points come with every visit.
    customer: Any = None
    consent: dict[str, Any] = {}
    first = last = None
    for e in takewhile(lambda e: e.audit.at <= at, stream_events(app, customer_id)):
        if first is None:
            if not isinstance(e, Customer.Registered):
                return None
            first = e
        # used-up lots going to their own streams and back are no change of the customer's
        # points (domain/customer_lots.py): the history shows every lot, as the view does
        kept = list(customer.lots) if isinstance(e, _LOTS_MOVED) else None
        customer, last = mutated(e, customer), e
        if kept is not None:
            customer.lots = kept
        if isinstance(e, _CONSENT):
            consent[e.channel] = consent_entry(e)
    if first is None or last is None:
        return None
    return _customer_doc(customer, consent, first, last, at, zone, opener)


def _customer_doc(customer: Any, consent: dict[str, Any], first: Any, last: Any,
                  at: datetime, zone: ZoneInfo, opener: PersonalDataOpener) -> dict[str, Any]:
    assert isinstance(customer, Customer)
    doc: dict[str, Any] = {
        "id": customer.id, "store_id": customer.store_id, "kind": customer.kind,
        **_personal(customer, opener), "erased": customer.erased, "consent": consent,
        "tags": list(customer.tags), "lots": customer.lots,
        "registered_at": first.audit.at, "updated_at": last.audit.at,
        "version": customer.version, "as_of": at.isoformat()}
    points_summary(doc, at.astimezone(zone).date())
    return doc


def _personal(customer: Customer, opener: PersonalDataOpener) -> dict[str, Any]:
    """Name, phones and WeChat id as the customer then held them, opened with today's key
    (all erased, as the read model shows an erased customer, once that key is gone)."""
    cid, sealed = customer.id, customer.sealed
    name = opener(cid, sealed.get("name"))
    phones = open_phones(sealed, cid, opener)
    wechat_id = opener(cid, sealed.get("wechat_id"))
    if customer.erased or ERASED in (name, wechat_id, *phones):
        return {"name": ERASED, "phones": [ERASED], "wechat_id": ERASED}
    return {"name": name, "phones": phones, "wechat_id": wechat_id}


def vehicle_as_of(app: ServiceCore, vehicle_id: UUID, at: datetime,
                  opener: PersonalDataOpener) -> dict[str, Any] | None:
    """The registered vehicle at `at`: VIN, plate, brand, model, year, sale date, its owner
    (`owner_id`, `owner_name`), the plates and owners it had until then (each `from`, its
    `source` and `reason`; an owner with the `name` they then had), `updated_at`, the stream
    `version` reached and `as_of`; None before it was registered (a car known only from work
    orders has no stream of its own)."""
    events = events_until(app, vehicle_id, at)
    if not events or not isinstance(events[0], Vehicle.Registered):
        return None
    vehicle = replay(events)
    assert isinstance(vehicle, Vehicle)
    plates: list[dict[str, Any]] = []
    owners: list[dict[str, Any]] = []
    for e in events:
        source = _SOURCES.get(type(e).__name__)
        plate = getattr(e, "plate", None) if source else None
        if plate:
            plates.append({"plate": plate, "from": e.audit.at.isoformat(), "source": source,
                           "reason": getattr(e, "reason", None)})
        owner = getattr(e, "owner_id", None) if source else None
        if owner is not None:
            owners.append({"customer_id": str(owner), "from": e.audit.at.isoformat(),
                           "source": source, "reason": getattr(e, "reason", None)})
    names = {owner: _name_at(app, owner, at, opener)
             for owner in {UUID(o["customer_id"]) for o in owners}}
    for o in owners:
        o["name"] = names[UUID(o["customer_id"])]
    return {"id": vehicle_id, "vin": vehicle.vin, "store_id": vehicle.store_id,
            "plate": vehicle.plate, "brand": vehicle.brand, "model": vehicle.model,
            "year": vehicle.year, "sale_date": vehicle.sale_date, "owner_id": vehicle.owner_id,
            "owner_name": names.get(vehicle.owner_id) if vehicle.owner_id else None,
            "registered": True, "plates": plates, "owners": owners,
            "updated_at": events[-1].audit.at, "version": vehicle.version,
            "as_of": at.isoformat()}


def _name_at(app: ServiceCore, customer_id: UUID, at: datetime,
             opener: PersonalDataOpener) -> str | None:
    """The name the customer had at `at` (None if not yet registered then)."""
    customer = replay(takewhile(lambda e: e.audit.at <= at, stream_events(app, customer_id)))
    if not isinstance(customer, Customer):
        return None
    return ERASED if customer.erased else opener(customer_id, customer.sealed.get("name"))
