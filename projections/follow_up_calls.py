"""What the follow-up call list shows of each call beside the finance view's row: the visit's
delivery and car, and whom to call (from the customers view, which keeps the visits, the cars
and the customers' contact details)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from domain.pii import ERASED
from projections.base import rows as _rows


def with_contacts(conn: psycopg.Connection[Any],
                  items: list[dict[str, Any]]) -> list[tuple[UUID, str]]:
    """Fill each call's `delivered_at` and `plate` (the car's plate on file now), and
    `customer_name` and `customer_phone` (the first phone) from the customers view (an erased
    customer's read as erased, null where the view has none yet); answers the customers whose
    data the items now show, with the store of the call."""
    if not items:
        return []
    found = {row["work_order_id"]: row for row in _rows(
        conn, """SELECT v.work_order_id, v.delivered_at, car.plate, c.name, c.phones[1] AS phone,
                        c.erased
                 FROM visits v LEFT JOIN vehicles car ON car.id = v.vehicle_id
                 LEFT JOIN customers c ON c.id = v.customer_id
                 WHERE v.work_order_id = ANY(%s)""",
        [[UUID(str(item["work_order_id"])) for item in items]])}
    shown = []
    for item in items:
        row = found.get(UUID(str(item["work_order_id"]))) or {}
        item["delivered_at"], item["plate"] = row.get("delivered_at"), row.get("plate")
        if row.get("erased"):
            item["customer_name"] = item["customer_phone"] = ERASED
            continue
        item["customer_name"], item["customer_phone"] = row.get("name"), row.get("phone")
        if item["customer_name"] or item["customer_phone"]:
            shown.append((UUID(str(item["customer_id"])), str(item["store_id"])))
    return shown
