"""What a break at an anchor kept outside the database means when the database does not record
that anchor either: the log was put back (restored from a backup, a point-in-time recovery)
or cut behind a head the witness saw. For `audit verify` to say so, and what to do, instead of
a bare "anchor beyond the log" or "anchor differs" (README: Restoring the database from a
backup); and for the witnesses (the chain-witness timer, a day-end close, `audit anchor`)
not to append an anchor of the restored log to a file whose last anchor the log no longer
holds, which would mix two histories in one file (`log_behind_witness`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from domain.integrity import ChainBreak
from projections.hash_chain import ANCHORS_TABLE, HASHES_TABLE, Anchor, chain_head

AT_AN_ANCHOR = ("anchor beyond the log", "anchor differs", "anchor without its event")


class LogBehindWitness(RuntimeError):
    """The witness file's last anchor names a head the log no longer holds: nothing more is
    appended to that file."""


def restored_behind(conn: psycopg.Connection[Any], broken: ChainBreak | None,
                    outside: Sequence[Anchor], head: int,
                    witnessed_to: int | None) -> str | None:
    """The explanation of `broken` when it is at an anchor of `outside` (witness files, the
    witness topic, --anchor) that the database's anchors table does not hold (None: another
    break, or one at an anchor the database recorded: the database itself was changed)."""
    if broken is None or broken.reason not in AT_AN_ANCHOR:
        return None
    recorded = {str(row[0]) for row in conn.execute(
        f"SELECT hash FROM {ANCHORS_TABLE} WHERE notification_id = %s",
        (broken.notification_id,)).fetchall()}
    seen = [a for a in outside
            if a.notification_id == broken.notification_id and a.hash not in recorded]
    if not seen:
        return None
    anchor = seen[0]
    when = "" if anchor.anchored_at is None else f" (anchored at {anchor.anchored_at.isoformat()})"
    agreed = ("" if witnessed_to is None else
              f"; the log agrees with the witness up to notification id {witnessed_to}")
    since = (f"; notification ids up to {anchor.notification_id} have since been given to "
             "other events" if head >= anchor.notification_id else "")
    return (f"the witnessed anchor {anchor.notification_id}:{anchor.hash}{when} names a head "
            "of the log this database no longer holds, nor records among its anchors: the "
            "database was restored from a backup taken before it (or the log was cut there "
            f"and written again){agreed}. The events stored after the backup, up to "
            f"notification id {anchor.notification_id} at least, are gone from the log{since}. "
            "After a restore: keep this witness file as the record of it, put the lost work "
            "back by its commands, and start a new witness file (SERVICECORE_WITNESS_PATH) "
            "for the restored log; verified against this file, the log fails here for good "
            "(README: Restoring the database from a backup)")


def log_behind_witness(conn: psycopg.Connection[Any], last: Anchor | None) -> str | None:
    """Why no anchor of this log may follow `last` (a witness file's last anchor) in its file:
    the log ends before it, or holds another link at its notification id (the database
    restored from a backup taken before it: `restored_behind`'s explanation; or the log
    changed there); None when the log holds it (or the file has no anchor yet)."""
    if last is None:
        return None
    row = conn.execute(f"SELECT hash FROM {HASHES_TABLE} WHERE notification_id = %s",
                       (last.notification_id,)).fetchone()
    if row is not None and bytes(row[0]).hex() == last.hash:
        return None
    broken = ChainBreak(last.notification_id,
                        "anchor beyond the log" if row is None else "anchor differs")
    return restored_behind(conn, broken, [last], chain_head(conn), None) or (
        f"the witnessed anchor {last.notification_id}:{last.hash} is not the log's link at "
        f"notification id {last.notification_id} ({broken.reason}), though the database "
        "records it among its anchors: the log was changed there (run `servicecore audit "
        "verify`)")
