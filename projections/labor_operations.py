"""The labor-operation master as the desk reads it: one row per store and op code, as its last
change left it (`servicecore projections rebuild --name labor_operations`, `servicecore audit
views --view labor_operations`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.labor_operation import LaborOperation, op_code_or_none
from projections.base import Index, ReadModel, like_literal, page, rows, store_scope

COLUMNS = """id::text AS id, store_id, op_code, description,
             flat_rate_hours::text AS flat_rate_hours, rates, skill, level, active,
             registered_at, updated_at, updated_by, last_reason, version"""


def _rates(rates: dict[str, Decimal]) -> Jsonb:
    return Jsonb({pay_type: str(rate) for pay_type, rate in rates.items()})


class LaborOperationsView(ReadModel):
    name = "labor_operations"
    tables = {  # noqa: RUF012
        "labor_operations": """
            id uuid PRIMARY KEY, store_id text NOT NULL, op_code text NOT NULL,
            description text NOT NULL, flat_rate_hours numeric NOT NULL,
            rates jsonb NOT NULL, skill text, level integer, active boolean NOT NULL,
            registered_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
            updated_by text NOT NULL, last_reason text, version integer NOT NULL,
            UNIQUE (store_id, op_code)""",
    }
    indexes = (Index("labor_operations", "labor_operations_description_idx",
                     "(store_id, lower(description))"),)
    handles = (LaborOperation.Registered, LaborOperation.Changed)

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        table = f"labor_operations{suffix}"
        with conn.cursor() as cur:
            for _, e in events:
                at, who, version = e.audit.at, e.audit.user_id, e.originator_version
                if isinstance(e, LaborOperation.Registered):
                    cur.execute(
                        f"""INSERT INTO {table} (id, store_id, op_code, description,
                            flat_rate_hours, rates, skill, level, active, registered_at,
                            updated_at, updated_by, last_reason, version)
                            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, true, %s, %s, %s, NULL,
                                    %s)""",
                        (e.originator_id, e.store_id, e.op_code, e.description,
                         e.flat_rate_hours, _rates(e.rates), e.skill, e.level, at, at, who,
                         version))
                    continue
                sets, values = ["updated_at = %s", "updated_by = %s", "last_reason = %s",
                                "version = %s"], [at, who, e.reason, version]
                for name, value in e.changes.items():
                    if name == "rates":
                        sets.append("rates = rates || %s")
                        values.append(_rates(value))
                    else:
                        sets.append(f"{name} = %s")
                        values.append(value)
                cur.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE id = %s",
                            [*values, e.originator_id])


# -- queries ----------------------------------------------------------------------------------

def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "registered_at": row["registered_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat()}


def list_operations(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                    store_id: str | None = None, q: str | None = None,
                    active: bool | None = None, limit: int = 100,
                    offset: int = 0) -> dict[str, Any]:
    """The master of the caller's stores (or `store_id`'s), by store and op code; `q`: an op
    code's beginning (as kept: upper case, no blanks) or a word of the description."""
    scope, params = store_scope(stores)
    clauses = [scope]
    if store_id is not None:
        clauses.append("store_id = %s")
        params.append(store_id)
    text = (q or "").strip()
    if text:
        code = op_code_or_none(text)
        clauses.append("(op_code LIKE %s || '%%' OR lower(description) LIKE '%%' || "
                       "lower(%s) || '%%')")
        params += [like_literal(code or text), like_literal(text)]
    if active is not None:
        clauses.append("active = %s")
        params.append(active)
    found = page(conn, f"SELECT {COLUMNS} FROM labor_operations WHERE {' AND '.join(clauses)}",
                 params, order_by="store_id, op_code", limit=limit, offset=offset)
    return {**found, "items": [_shown(r) for r in found["items"]]}


def get_operation(conn: psycopg.Connection[Any], stores: Sequence[str], store_id: str,
                  op_code: str) -> dict[str, Any] | None:
    """One operation of a store the caller's token covers, or None."""
    code = op_code_or_none(op_code)
    scope, params = store_scope(stores)
    if code is None:
        return None
    found = rows(conn, f"""SELECT {COLUMNS} FROM labor_operations
                           WHERE {scope} AND store_id = %s AND op_code = %s""",
                 [*params, store_id, code])
    return _shown(found[0]) if found else None
