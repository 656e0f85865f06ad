"""The insurer master as the finance view keeps it: the insurers, and which insurer each name's
key belongs to (`insurer_names`).

The receivables resolve an insurance bill's payer at read time: the bill keeps the
`insurer_key` of the name as typed (projections/finance_batch.py), and a key found in
`insurer_names` groups the bill under that insurer. So history recorded before an insurer was
registered, or before a name became its alias, groups under it as soon as it is, and the rows
stay what a rebuild from event 0 makes of them (no bill row is rewritten by a master event).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from domain.insurer import insurer_key
from domain.insurer_master import Insurer, InsurerName
from projections.base import Reading, read
from projections.base import rows as _rows

if TYPE_CHECKING:  # at run time it would import the work-order view, which reads the master
    from projections.finance_batch import Ctx

INSURER_EVENTS = (Insurer.Event, InsurerName.Event)
TABLES = {
    "insurers": """
        id uuid PRIMARY KEY, code text NOT NULL UNIQUE, name text NOT NULL,
        short_name text NOT NULL, aliases jsonb NOT NULL, active boolean NOT NULL,
        registered_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
        version integer NOT NULL""",
    "insurer_names": "key text PRIMARY KEY, insurer_id uuid NOT NULL",
}


def apply_insurer(ctx: Ctx, event: Any) -> None:
    """One master event: the insurer's row, or a name's key taken or let go."""
    if isinstance(event, InsurerName.Event):
        if isinstance(event, InsurerName.Released):
            ctx.run("DELETE FROM {insurer_names} WHERE key = %s", (event.key,))
            return
        assert isinstance(event, InsurerName.Reserved | InsurerName.Retaken)
        ctx.run("""INSERT INTO {insurer_names} (key, insurer_id) VALUES (%s, %s)
                   ON CONFLICT (key) DO UPDATE SET insurer_id = excluded.insurer_id""",
                (event.key, event.insurer_id))
        return
    at, version, id_ = event.audit.at, event.originator_version, event.originator_id
    if isinstance(event, Insurer.Registered):
        ctx.run("""INSERT INTO {insurers} (id, code, name, short_name, aliases, active,
                   registered_at, updated_at, version) VALUES (%s, %s, %s, %s, %s, true, %s,
                   %s, %s)""", (id_, event.code, event.name, event.short_name,
                                Jsonb(event.aliases), at, at, version))
        return
    if isinstance(event, Insurer.Renamed):
        ctx.run("UPDATE {insurers} SET name = %s, short_name = %s WHERE id = %s",
                (event.name, event.short_name, id_))
    elif isinstance(event, Insurer.AliasesChanged):
        dropped = {insurer_key(a) for a in event.removed}
        [aliases] = ctx.one("SELECT aliases FROM {insurers} WHERE id = %s", (id_,))
        kept = [a for a in aliases if insurer_key(a) not in dropped] + list(event.added)
        ctx.run("UPDATE {insurers} SET aliases = %s WHERE id = %s", (Jsonb(kept), id_))
    elif isinstance(event, Insurer.Deactivated):
        ctx.run("UPDATE {insurers} SET active = false WHERE id = %s", (id_,))
    ctx.run("UPDATE {insurers} SET updated_at = %s, version = %s WHERE id = %s",
            (at, version, id_))


def list_insurers(conn: psycopg.Connection[Any], *, q: str | None = None,
                  active: bool | None = None, limit: int = 100,
                  offset: int = 0) -> dict[str, Any]:
    """The master, by code; `q` finds an insurer by any of its names or its code."""
    where, params = ["TRUE"], list[Any]()
    if q:
        where.append("""(code = upper(%s) OR id IN (SELECT insurer_id FROM insurer_names
                         WHERE key = %s))""")
        params += [q.strip(), insurer_key(q)]
    if active is not None:
        where.append("active = %s")
        params.append(active)
    sql = " AND ".join(where)
    [total] = _rows(conn, f"SELECT count(*) AS n FROM insurers WHERE {sql}", params)
    items = _rows(conn, f"""SELECT * FROM insurers WHERE {sql} ORDER BY code
                  LIMIT %s OFFSET %s""", [*params, limit, offset])
    return {"total": total["n"], "limit": limit, "offset": offset,
            "items": [_shown(i) for i in items]}


def insurer_of(conn: psycopg.Connection[Any], name: str | None) -> dict[str, Any] | None:
    """The master's insurer a typed name resolves to (its key a name it holds), or None."""
    return read(conn, insurer_named(name))


def insurer_named(name: str | None) -> Reading[dict[str, Any] | None]:
    """`insurer_of` as a `Reading` (for the reads that run on the asyncio pool too): `id`,
    `code`, `short_name`, `name` and `active` of the insurer holding the name's key, or None
    (no name, or a name of no insurer)."""
    if not name:
        return None
    [found] = yield [("""SELECT i.id::text AS id, i.code, i.short_name, i.name, i.active
        FROM insurer_names n JOIN insurers i ON i.id = n.insurer_id WHERE n.key = %s""",
                      (insurer_key(name),))]
    return found[0] if found else None


def name_assessment_insurer(doc: dict[str, Any]) -> Reading[dict[str, Any]]:
    """`doc` (a work order as the view or its `as_of` replay gives it) with the master's
    insurer its assessment's typed name resolves to now in `insurance_assessment`'s
    `master_insurer` (None: no insurer holds the name); a doc without an assessment as it is.
    Nothing is stored: the view's row and its version (the ETag) stay what the work order's
    and its settlement's events made them."""
    assessment = doc.get("insurance_assessment")
    if assessment:
        assessment["master_insurer"] = yield from insurer_named(assessment.get("insurer"))
    return doc


def get_insurer(conn: psycopg.Connection[Any], insurer_id: UUID) -> dict[str, Any] | None:
    found = _rows(conn, "SELECT * FROM insurers WHERE id = %s", [insurer_id])
    return _shown(found[0]) if found else None


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "id": str(row["id"]), "registered_at": row["registered_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat()}
