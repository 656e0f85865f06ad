"""Least privilege: the event store's owner migrates; the application's role only appends.

Two roles share one database:
- the OWNER (`servicecore_owner` where servicecore creates it) owns the event store: the events
  table, its hash chain, the command registry, anchors, the trigger functions. Only
  `servicecore migrate` (or a start that finds the schema missing) connects as it.
- the APPLICATION role (`servicecore_app`) is what the API and the workers connect as: it may
  SELECT and INSERT events but not UPDATE, DELETE or TRUNCATE them, it cannot ALTER the tables
  or disable their triggers (only an owner can), and it cannot write chain links (the chain
  trigger runs with the owner's rights). Read models are its own tables, which it may rebuild.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from servicecore.schema import (
    ANCHORS_TABLE,
    COMMANDS_TABLE,
    EVENTS_TABLE,
    HASHES_TABLE,
    SNAPSHOTS_TABLE,
)

log = logging.getLogger(__name__)

OWNER_ROLE = "servicecore_owner"
APP_ROLE = "servicecore_app"
DATABASE = "servicecore"

# What the application role may do on the owner's tables (nothing else).
APP_GRANTS = (
    (f"GRANT SELECT, INSERT ON {EVENTS_TABLE}, {COMMANDS_TABLE}, {ANCHORS_TABLE}, "
     f"{SNAPSHOTS_TABLE} TO {{role}}"),
    f"GRANT SELECT ON {HASHES_TABLE}, servicecore_schema_version TO {{role}}",
    (f"GRANT USAGE ON SEQUENCE {EVENTS_TABLE}_notification_id_seq, "
     f"{ANCHORS_TABLE}_anchor_id_seq TO {{role}}"),
    "GRANT SELECT, INSERT, DELETE ON customer_keys TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON projection_positions TO {role}",
    "GRANT USAGE, CREATE ON SCHEMA public TO {role}",
)


@dataclass(frozen=True)
class DatabaseUrls:
    owner: str
    app: str


def user_of(url: str) -> str:
    return str(conninfo_to_dict(url).get("user") or "")


def with_user(url: str, user: str, dbname: str | None = None) -> str:
    params = {**conninfo_to_dict(url), "user": user}
    params.pop("password", None)
    if dbname:
        params["dbname"] = dbname
    return make_conninfo(**params)  # type: ignore[arg-type]


def ensure_role(conn: psycopg.Connection, role: str) -> None:
    """CREATE ROLE … LOGIN unless it exists (safe when several sessions race)."""
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
        return
    try:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        pass  # another session created it a moment ago


def may_alter_event_store(conn: psycopg.Connection) -> bool:
    """Could this connection's role change stored events (owner or superuser)?"""
    row = conn.execute(
        f"""SELECT r.rolsuper OR c.relowner = r.oid
            FROM pg_roles r, pg_class c
            WHERE r.rolname = current_user AND c.oid = to_regclass('{EVENTS_TABLE}')"""
    ).fetchone()
    return bool(row and row[0])


def grant_app(conn: psycopg.Connection, role: str) -> None:
    """Run as the owner after the schema is installed."""
    for statement in APP_GRANTS:
        conn.execute(statement.format(role=sql.Identifier(role).as_string(conn)))


def bootstrap(superuser_url: str, dbname: str = DATABASE) -> DatabaseUrls:
    """On a server where we are superuser (the embedded one, a test server): both roles and a
    database owned by the owner role; the owner's and the application's URLs for it."""
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        ensure_role(conn, OWNER_ROLE)
        ensure_role(conn, APP_ROLE)
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (dbname,)).fetchone():
            try:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(dbname), sql.Identifier(OWNER_ROLE)))
            except psycopg.errors.DuplicateDatabase:
                pass
    return DatabaseUrls(owner=with_user(superuser_url, OWNER_ROLE, dbname),
                        app=with_user(superuser_url, APP_ROLE, dbname))
