"""Database objects outside eventsourcing's own tables: immutability, keys, read-model positions."""

from __future__ import annotations

import psycopg

EVENTS_TABLE = "servicecore_events"

IMMUTABLE_EVENTS = f"""
CREATE OR REPLACE FUNCTION servicecore_refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stored events are immutable: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE OR REPLACE TRIGGER {EVENTS_TABLE}_no_update_delete
    BEFORE UPDATE OR DELETE ON {EVENTS_TABLE}
    FOR EACH ROW EXECUTE FUNCTION servicecore_refuse_event_change();
CREATE OR REPLACE TRIGGER {EVENTS_TABLE}_no_truncate
    BEFORE TRUNCATE ON {EVENTS_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION servicecore_refuse_event_change();
"""

SUPPORT_TABLES = """
CREATE TABLE IF NOT EXISTS customer_keys (
    customer_id uuid PRIMARY KEY,
    key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS projection_positions (
    name text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""


def install(conn: psycopg.Connection) -> None:
    """Idempotent: run after eventsourcing has created its tables."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('servicecore-schema'))")
        conn.execute(IMMUTABLE_EVENTS)
        conn.execute(SUPPORT_TABLES)
