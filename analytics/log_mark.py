"""The event at a position of the log, as a store outside PostgreSQL keeps it beside that
position: to find out that the log it follows is no longer the one it loaded.

When the database is restored from a backup (a disk failed, a point-in-time recovery), the
log goes back to the backup's head while the stores outside it (the DuckDB file) stay where
they were: their position can stand past the log's head, and new commands are given the
notification ids the lost events had, so once the log grows past it again the position alone
tells nothing. The mark does: the last event at or before the position (its notification id,
stream id, version and a digest of its stored topic and state). Another event there, or none,
means the events up to the position are not the ones loaded.
"""

from __future__ import annotations

import hashlib
from typing import Any

from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from domain.application import ServiceCore


def mark(app: ServiceCore, position: int) -> str | None:
    """The mark of the log at `position`: its last event at or before it (None: none, or a
    recorder that is not PostgreSQL's: nothing to compare)."""
    recorder: Any = app.recorder
    if position <= 0 or not hasattr(recorder, "datastore"):
        return None
    statement = SQL(
        "SELECT notification_id, originator_id::text, originator_version, topic, state "
        "FROM {schema}.{table} WHERE notification_id <= %s "
        "ORDER BY notification_id DESC LIMIT 1").format(
            schema=Identifier(recorder.datastore.schema),
            table=Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor(binary=True,
                                                                     row_factory=tuple_row) as cursor:
        cursor.execute(statement, [position])
        found = cursor.fetchone()
    if found is None:
        return None
    notification_id, stream_id, version, topic, state = found
    digest = hashlib.sha256(topic.encode() + b"\0" + bytes(state)).hexdigest()[:16]
    return f"{notification_id}:{stream_id}:{version}:{digest}"


def restored_behind(app: ServiceCore, position: int, kept: str | None) -> str | None:
    """Why the log is not the one loaded up to `position` (whose mark was `kept`), or None.
    A store from before marks (`kept` None) is only checked against the log's head."""
    if position <= 0:
        return None
    if kept is None:
        head = int(app.recorder.max_notification_id() or 0)
        return None if position <= head else (
            f"position {position} is past the log's head ({head})")
    now = mark(app, position)
    if now == kept:
        return None
    head = int(app.recorder.max_notification_id() or 0)
    said = "no event" if now is None else f"event {now}"
    return (f"the log holds {said} at or before position {position}, not the event "
            f"{kept} loaded (the log's head is {head})")
