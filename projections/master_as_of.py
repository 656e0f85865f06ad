"""The masters as they stood at a moment (`?as_of=`): a store's labor operation, an insurer, a
part and a campaign, each folded from its own stream's events up to the moment
(`projections.audit.folded_as_of`, as every `as_of` read) into the row its view keeps, so that
the answer has the shape of the current read (its `as_of` replay now is that read).

What a rate, a flat-rate time, a list price or an insurer's names were when a claim or a bill
was made: the view keeps only the last change.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.application import ServiceCore
from domain.campaign import Campaign
from domain.insurer import insurer_key
from domain.insurer_master import Insurer
from domain.labor_operation import LaborOperation
from domain.part import Part
from projections.audit import folded_as_of
from projections.stock import ascii_barcode


def _changed(doc: dict[str, Any], event: Any) -> dict[str, Any]:
    return {**doc, "updated_at": event.audit.at, "version": event.originator_version}


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


# -- labor operations (projections/labor_operations.py) -----------------------------------------

def labor_operation_row(doc: dict[str, Any] | None, e: LaborOperation.Event) -> dict[str, Any]:
    if isinstance(e, LaborOperation.Registered):
        return {"id": str(e.originator_id), "store_id": e.store_id, "op_code": e.op_code,
                "description": e.description, "flat_rate_hours": str(e.flat_rate_hours),
                "rates": {k: str(v) for k, v in e.rates.items()}, "skill": e.skill,
                "level": e.level, "active": True, "registered_at": e.audit.at,
                "updated_at": e.audit.at, "updated_by": e.audit.user_id, "last_reason": None,
                "version": e.originator_version}
    assert doc is not None and isinstance(e, LaborOperation.Changed)
    changes = {k: _text(v) for k, v in e.changes.items() if k != "rates"}
    rates = {**doc["rates"], **{k: str(v) for k, v in (e.changes.get("rates") or {}).items()}}
    return {**_changed(doc, e), **changes, "rates": rates, "updated_by": e.audit.user_id,
            "last_reason": e.reason}


def labor_operation_as_of(app: ServiceCore, operation_id: UUID,
                          at: datetime) -> dict[str, Any] | None:
    """The store's operation at `at` (hours, rates, skill, active), with `as_of`; None
    before it was registered."""
    return _with_moment(folded_as_of(app, operation_id, at, LaborOperation.Event,
                                     labor_operation_row), at)


# -- insurers (projections/insurers.py) ---------------------------------------------------------

def insurer_row(doc: dict[str, Any] | None, e: Insurer.Event) -> dict[str, Any]:
    if isinstance(e, Insurer.Registered):
        return {"id": str(e.originator_id), "code": e.code, "name": e.name,
                "short_name": e.short_name, "aliases": list(e.aliases), "active": True,
                "registered_at": e.audit.at, "updated_at": e.audit.at,
                "version": e.originator_version}
    assert doc is not None
    doc = _changed(doc, e)
    if isinstance(e, Insurer.Renamed):
        doc.update(name=e.name, short_name=e.short_name)
    elif isinstance(e, Insurer.AliasesChanged):
        dropped = {insurer_key(a) for a in e.removed}
        doc["aliases"] = [a for a in doc["aliases"] if insurer_key(a) not in dropped] + list(
            e.added)
    elif isinstance(e, Insurer.Deactivated):
        doc["active"] = False
    return doc


def insurer_as_of(app: ServiceCore, insurer_id: UUID, at: datetime) -> dict[str, Any] | None:
    """The insurer at `at` (names, aliases, active), with `as_of`; None before it was
    registered."""
    return _with_moment(folded_as_of(app, insurer_id, at, Insurer.Event, insurer_row), at)


# -- the part master (projections/stock.py) ------------------------------------------------------

def part_row(doc: dict[str, Any] | None, e: Part.Event) -> dict[str, Any]:
    if isinstance(e, Part.Registered):
        d = e.details
        return {"part_number": e.part_number, "id": e.originator_id, "name": d["name"],
                "unit": d["unit"], "category": d["category"], "fitment": d["fitment"],
                "list_price": e.list_price, "min_stock": d["min_stock"],
                "reorder_qty": d["reorder_qty"], "preferred_supplier": d["preferred_supplier"],
                "barcode": ascii_barcode(d["barcode"]), "updated_at": e.audit.at,
                "version": e.originator_version}
    assert doc is not None
    if isinstance(e, Part.PriceChanged):
        return {**_changed(doc, e), "list_price": e.new_price}
    assert isinstance(e, Part.DetailsChanged)
    changes = dict(e.changes)
    if "barcode" in changes:
        changes["barcode"] = ascii_barcode(changes["barcode"])
    return {**_changed(doc, e), **changes}


def part_as_of(app: ServiceCore, part_number: str, at: datetime) -> dict[str, Any] | None:
    """The part's master record at `at` (details, list price), with `as_of`; None before it
    was registered."""
    return _with_moment(folded_as_of(app, Part.create_id(part_number), at, Part.Event,
                                     part_row), at)


# -- campaigns (projections/campaigns.py) --------------------------------------------------------

def campaign_row(doc: dict[str, Any] | None, e: Campaign.Event) -> dict[str, Any]:
    """The campaign's row, and the VINs it listed (`vins`, not shown)."""
    changed = {"updated_at": e.audit.at, "updated_by": e.audit.user_id,
               "version": e.originator_version}
    if isinstance(e, Campaign.Registered):
        return {"id": str(e.originator_id), "campaign_no": e.campaign_no, "brand": e.brand,
                "title": e.title, "kind": e.kind, "remedy": e.remedy,
                "starts_on": e.starts_on, "ends_on": e.ends_on, "closed": False,
                "close_reason": None, "affected": 0, "registered_at": e.audit.at,
                **changed, "vins": []}
    assert doc is not None
    if isinstance(e, Campaign.VinsListed):  # the fold's own list: grown in place
        doc["vins"].extend(e.vins)
        return {**doc, **changed, "affected": doc["affected"] + len(e.vins)}
    assert isinstance(e, Campaign.Closed)
    return {**doc, **changed, "closed": True, "close_reason": e.reason}


def campaign_as_of(app: ServiceCore, campaign_no: str, at: datetime) -> dict[str, Any] | None:
    """The campaign at `at` (its master fields, the VINs listed by then in `vins`, closed or
    not), with `as_of`; None before it was registered."""
    return _with_moment(folded_as_of(app, Campaign.create_id(campaign_no), at,
                                     Campaign.Event, campaign_row), at)


def _with_moment(doc: dict[str, Any] | None, at: datetime) -> dict[str, Any] | None:
    return None if doc is None else {**doc, "as_of": at.isoformat()}
