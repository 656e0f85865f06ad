"""A view whose stored position is gone while its tables still hold rows.

Each view's rows and its position (`projection_positions`) commit together, so a view with
rows always has a position. A position row deleted by hand (a "reset" meant to replay the
view, a cleanup of the table) was made again at 0 by the next batch, which then applied every
event once more on top of the rows already there: found in a probe, the workshop view doubled
every technician's clocked and sold hours and reached the head with `/health` green; other
views stopped on a duplicate key at event 1. The batch that finds its view's position missing
now looks at the view's tables first: rows there refuse the batch (`PositionLost`, reported as
the event the view stops at, on `/health`), nothing applied twice, until the view is rebuilt.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

from projections.base import ReadModel


class PositionLost(Exception):
    """The view's position is gone while its tables hold rows."""


def refuse_lost_position(conn: psycopg.Connection[Any], view: ReadModel, suffix: str,
                         position_name: str) -> None:
    """(Inside the batch that has just made `position_name`'s row, at 0.) Raises
    `PositionLost` when one of the view's tables holds rows. A rebuild partition's position
    (not the view's own name) is left alone: its tables are shared with the other partitions."""
    if position_name != view.name + suffix:
        return
    for table in sorted(view.tables):
        found = conn.execute(SQL("SELECT EXISTS (SELECT 1 FROM {})").format(
            Identifier(table + suffix))).fetchone()
        if found and found[0]:
            raise PositionLost(
                f"projection {position_name} has no stored position while its table "
                f"{table + suffix} holds rows: its row in projection_positions was deleted; "
                "applying the log again from event 0 would apply events twice on those rows. "
                f"Rebuild it: servicecore projections rebuild --name {view.name}")
