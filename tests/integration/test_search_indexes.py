"""The searches use an index for each of their arms: parts (number prefix, barcode, name),
vehicles (VIN prefix, plate, past plates)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from domain.application import Request
from domain.common import Caller
from projections.customer_queries import find_vehicles, vehicle_search
from projections.stock_queries import part_search, search_parts
from servicecore.container import Container
from tests.integration.audit_support import new_vin
from tests.integration.kafka_support import wait_until


def _clerk() -> Request:
    return Request(Caller("clerk-ix", "parts_clerk", ("IX1",), datetime.now(UTC), str(uuid4())))


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _plan_nodes(child))]


def _explain(container: Container, q: str) -> list[dict[str, Any]]:
    clause, params = part_search(q)
    with container.pool.connection() as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")  # a small table: ask for the index
        row = conn.execute(f"EXPLAIN (FORMAT JSON) SELECT part_number FROM parts WHERE {clause}",
                           params).fetchone()
    assert row is not None
    document = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return _plan_nodes(document[0]["Plan"])


def _trigram_installed(container: Container) -> bool:
    with container.pool.connection() as conn:
        return conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"
                            ).fetchone() is not None


def test_the_part_search_finds_by_number_barcode_and_name_through_indexes(
        container: Container) -> None:
    # A part is registered and reaches the part master read model.
    number = f"IX{uuid4().hex[:8].upper()}"
    barcode = f"69{uuid4().int % 10**11:011d}"
    container.inventory.register_part(_clerk(), part_number=number, details={
        "name": f"Ceramic brake pad {number}", "unit": "set", "category": "brake",
        "barcode": barcode}, list_price="560.00")

    def projected() -> bool:
        with container.pool.connection() as conn:
            return search_parts(conn, number)["total"] == 1

    wait_until(projected, 30, "the part to reach the part master")

    # Each kind of query finds it ...
    with container.pool.connection() as conn:
        for q in (number[:7], barcode, f"pad {number.lower()}"):
            assert [p["part_number"] for p in search_parts(conn, q)["items"]] == [number], q

    # ... and the plan reads indexes, never the whole table, where pg_trgm is installed
    # (without it the name arm can only scan: the other arms' indexes still exist).
    for q in (number[:7], barcode, "brake pad"):
        nodes = _explain(container, q)
        used = {n.get("Index Name") for n in nodes} - {None}
        if not _trigram_installed(container):
            assert {"parts_number_prefix_idx", "parts_barcode_idx"} <= used or any(
                n["Node Type"] == "Seq Scan" for n in nodes), nodes
            pytest.skip("pg_trgm is not installed: the name arm scans")
        assert not any(n["Node Type"] == "Seq Scan" for n in nodes), nodes
        assert {"parts_number_prefix_idx", "parts_barcode_idx", "parts_name_trgm_idx"} <= used, \
            (q, used)


def test_the_vehicle_search_reads_an_index_for_vin_prefix_plate_and_past_plates(
        container: Container) -> None:
    # A VIN prefix, a plate (with its province character or without), and anything else
    # typed at the desk: each arm has its index.
    for q in ("LSVAU218", "沪A12345", "WVW", "A12345"):
        clause, params = vehicle_search(q)
        with container.pool.connection() as conn, conn.transaction():
            conn.execute("SET LOCAL enable_seqscan = off")
            row = conn.execute(
                f"EXPLAIN (FORMAT JSON) SELECT v.id FROM vehicles v WHERE {clause}",
                params).fetchone()
            assert row is not None
            found = find_vehicles(conn, ["*"], q=q)  # the query itself runs
        assert isinstance(found["items"], list)
        document = row[0] if not isinstance(row[0], str) else json.loads(row[0])
        nodes = _plan_nodes(document[0]["Plan"])
        used = {n.get("Index Name") for n in nodes} - {None}
        assert not any(n["Node Type"] == "Seq Scan" for n in nodes), nodes
        assert {"vehicles_vin_prefix_idx", "vehicles_plate_idx", "vehicles_plates_idx"} <= used, \
            (q, used)
        assert ("vehicles_plate_rest_idx" in used) == (q == "A12345"), (q, used)


def test_wildcards_typed_into_a_search_are_matched_as_written(container: Container) -> None:
    # A vehicle in the records, and two parts whose names differ only where a clerk's `_` or
    # `%` would be a LIKE wildcard.
    vin = new_vin()
    container.vehicles.register(Request(Caller("adv-ix", "advisor", ("IX1",), datetime.now(UTC),
                                               str(uuid4()))), store_id="IX1", vin=vin)
    token = uuid4().hex[:8].upper()
    numbers = {}
    for name in (f"O_RING kit 50% {token}", f"OXRING kit 500 {token}"):
        number = f"IX{uuid4().hex[:8].upper()}"
        numbers[name] = number
        container.inventory.register_part(_clerk(), part_number=number, details={
            "name": name, "unit": "pc", "category": "engine"}, list_price="12.00")

    def projected() -> bool:
        with container.pool.connection() as conn:
            return (search_parts(conn, token)["total"] == 2
                    and find_vehicles(conn, ["*"], q=vin)["total"] == 1)

    wait_until(projected, 30, "the parts and the vehicle to reach their read models")
    literal = numbers[f"O_RING kit 50% {token}"]
    with container.pool.connection() as conn:
        for q in (f"o_ring kit 50% {token.lower()}", f"50% {token}", f"O_RING kit 50% {token}"):
            assert [p["part_number"] for p in search_parts(conn, q)["items"]] == [literal], q
        # a part number prefix with a wildcard in it finds no other part
        assert search_parts(conn, literal[:4] + "_" + literal[5:])["total"] == 0
        # a vehicle search for "%" or "_" lists no vehicle (it is no VIN prefix)
        assert find_vehicles(conn, ["*"], q="%")["total"] == 0
        assert find_vehicles(conn, ["*"], q="_")["total"] == 0
