"""The fold's handlers of the insurer master: its insurers (`dim_insurer`) and which insurer
holds each name's key (`dim_insurer_name`).

The settlements keep the insurer as typed and its key (`fact_settlements.insurer_key`); a name
given to an insurer later groups the bills typed under it without any settlement row being
rewritten, so the tables stay what a load from event 0 makes of them. Master events are few:
each row is fetched by its key when an event needs it.
"""

from __future__ import annotations

from analytics.fold import Fold, ignore, on
from domain.insurer_master import Insurer, InsurerName


@on(Insurer.Registered)
def _registered(fold: Fold, e: Insurer.Registered, n: int) -> None:
    fold.put("dim_insurer", {"insurer_id": str(e.originator_id), "code": e.code,
                             "name": e.name, "short_name": e.short_name, "active": True,
                             "registered_at": e.audit.at})


@on(Insurer.Renamed)
def _renamed(fold: Fold, e: Insurer.Renamed, n: int) -> None:
    row = fold.touch("dim_insurer", str(e.originator_id))
    assert row is not None
    row.update(name=e.name, short_name=e.short_name)


@on(Insurer.Deactivated)
def _deactivated(fold: Fold, e: Insurer.Deactivated, n: int) -> None:
    row = fold.touch("dim_insurer", str(e.originator_id))
    assert row is not None
    row["active"] = False


@on(InsurerName.Reserved, InsurerName.Retaken)
def _name_taken(fold: Fold, e: InsurerName.Reserved, n: int) -> None:
    fold.put("dim_insurer_name", {"name_key": e.key, "insurer_id": str(e.insurer_id)})


@on(InsurerName.Released)
def _name_let_go(fold: Fold, e: InsurerName.Released, n: int) -> None:
    fold.put("dim_insurer_name", {"name_key": e.key, "insurer_id": None})


# the names themselves reach the tables through the names' own streams (InsurerName)
ignore(Insurer.AliasesChanged)
