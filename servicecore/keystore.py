"""Per-customer data keys in a mutable PostgreSQL table (deleting a row shreds the data)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg_pool import ConnectionPool


class PostgresKeyStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def get_key(self, customer_id: UUID) -> bytes | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT key FROM customer_keys WHERE customer_id = %s", (customer_id,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def get_keys(self, customer_ids: Iterable[UUID]) -> dict[UUID, bytes]:
        ids = list(customer_ids)
        if not ids:
            return {}
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT customer_id, key FROM customer_keys WHERE customer_id = ANY(%s)", (ids,)
            ).fetchall()
        return {row[0]: bytes(row[1]) for row in rows}

    def create_key(self, customer_id: UUID) -> bytes:
        """Get or create in one statement (a concurrent creator's key wins, never two keys)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                """WITH made AS (
                       INSERT INTO customer_keys (customer_id, key) VALUES (%(c)s, %(k)s)
                       ON CONFLICT (customer_id) DO NOTHING RETURNING key)
                   SELECT key FROM made
                   UNION ALL SELECT key FROM customer_keys WHERE customer_id = %(c)s
                   LIMIT 1""",
                {"c": customer_id, "k": AESGCM.generate_key(bit_length=256)},
            ).fetchone()
        if row is None:  # a concurrent creator's row is not yet visible: read it once more
            key = self.get_key(customer_id)
            assert key is not None
            return key
        return bytes(row[0])

    def add_keys(self, keys: dict[UUID, bytes]) -> None:
        """Store new customers' keys made elsewhere (a staged history), in one statement; a
        customer who already has a key is an error, never a second key."""
        if not keys:
            return
        with self.pool.connection() as conn:
            conn.execute("INSERT INTO customer_keys (customer_id, key) "
                         "SELECT * FROM unnest(%s::uuid[], %s::bytea[])",
                         (list(keys), list(keys.values())))

    def delete_key(self, customer_id: UUID) -> bool:
        with self.pool.connection() as conn:
            cur = conn.execute("DELETE FROM customer_keys WHERE customer_id = %s", (customer_id,))
        return cur.rowcount > 0
