"""What the desk's reception commands read from the read models: the vehicle file's plate,
brand, model and year of a car, proposed to a visit opened by its VIN alone (the command fills
only what the desk and a registration left empty: `domain.work_orders.on_file`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.work_orders import VehicleFile, vehicle_id
from projections.customer_queries import vehicle_seen


def vehicle_file(ctx: Any, stores: Sequence[str]) -> VehicleFile:
    """The look-up by VIN in the vehicle files of `stores` (the caller's)."""

    def seen(vin: str) -> dict[str, Any] | None:
        with ctx.pool.connection() as conn:
            return vehicle_seen(conn, vehicle_id(vin), stores)

    return seen
