"""Per-customer data keys in a mutable PostgreSQL table (deleting a row shreds the data)."""

from __future__ import annotations

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

    def create_key(self, customer_id: UUID) -> bytes:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO customer_keys (customer_id, key) VALUES (%s, %s) "
                "ON CONFLICT (customer_id) DO NOTHING",
                (customer_id, AESGCM.generate_key(bit_length=256)),
            )
        key = self.get_key(customer_id)
        assert key is not None
        return key

    def delete_key(self, customer_id: UUID) -> bool:
        with self.pool.connection() as conn:
            cur = conn.execute("DELETE FROM customer_keys WHERE customer_id = %s", (customer_id,))
        return cur.rowcount > 0
