"""Least privilege: the event store's owner migrates; the application's role only appends.

Two roles share one database:
- the OWNER (`servicecore_owner` where servicecore creates it) owns the event store: the events
  table, its hash chain, the command registry, anchors, the trigger functions. Only
  `servicecore migrate` (or a start that finds the schema missing) connects as it.
- the APPLICATION role (`servicecore_app`) is what the API and the workers connect as: it may
  SELECT and INSERT events but not UPDATE, DELETE or TRUNCATE them, it cannot ALTER the tables
  or disable their triggers (only an owner can), and it cannot write chain links (the chain
  trigger runs with the owner's rights). Read models are its own tables, which it may rebuild,
  in a schema of its own named after it: it may create nothing in public, which is on the
  owner's search path (README, Least privilege).
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

# What the application role may do on the owner's tables (nothing else), run as the owner with
# the search path pinned (servicecore/schema.py OWNER_SEARCH_PATH), hence the schema names.
APP_GRANTS = (
    (f"GRANT SELECT, INSERT ON public.{EVENTS_TABLE}, public.{COMMANDS_TABLE}, "
     f"public.{ANCHORS_TABLE}, public.{SNAPSHOTS_TABLE} TO {{role}}"),
    (f"GRANT SELECT ON public.{HASHES_TABLE}, public.servicecore_schema_version, "
     "public.kafka_event_ids TO {role}"),
    (f"GRANT USAGE ON SEQUENCE public.{EVENTS_TABLE}_notification_id_seq, "
     f"public.{ANCHORS_TABLE}_anchor_id_seq TO {{role}}"),
    "GRANT SELECT, INSERT, DELETE ON public.customer_keys TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON public.projection_positions TO {role}",
    # Its read models go into a schema named after it: first on its default search path
    # ("$user", public), on no one else's. It may create nothing in public, which is on the
    # owner's path (and every role's): a function or operator it put there could be chosen
    # over pg_catalog's in the owner's statements (CVE-2018-1058).
    "GRANT USAGE ON SCHEMA public TO {role}",
    "CREATE SCHEMA IF NOT EXISTS {role}",
    "GRANT USAGE, CREATE ON SCHEMA {role} TO {role}",
    "REVOKE CREATE ON SCHEMA public FROM {role}",
    "REVOKE CREATE ON SCHEMA public FROM PUBLIC",  # a warning where the owner may not
)

# The application's own relations in public (an older layout made its read models there),
# except what moves with its table (a serial's sequence).
_OWN_IN_PUBLIC = """
SELECT c.relname, c.relkind FROM pg_catalog.pg_class c
WHERE c.relnamespace = 'public'::pg_catalog.regnamespace
  AND c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
ORDER BY c.relname
"""
_KINDS = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW",
          "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}

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
    row = conn.execute("SELECT pg_catalog.has_schema_privilege(%s, 'public', 'CREATE')",
                       (role,)).fetchone()
    if row and row[0]:
        log.warning("%s may still create objects in public (granted to PUBLIC or to a role it "
                    "is a member of), which the owner's statements would see: as a superuser, "
                    "REVOKE CREATE ON SCHEMA public FROM PUBLIC (README, Least privilege)", role)
    left = [str(r[0]) for r in conn.execute(_LEFT_IN_PUBLIC, {"role": role})]
    if left:
        log.warning("public holds functions or operators of %s, which it may no longer create "
                    "there; a session of the owner's with public on its search path could run "
                    "them with the owner's rights: review and drop them (%s)",
                    role, ", ".join(left))


# Functions and operators the application's role made in public while it could (up to schema
# 6): the owner's own sessions no longer see public, but a person's (psql as the owner) would.
_LEFT_IN_PUBLIC = """
SELECT p.oid::pg_catalog.regprocedure::text FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'public'::pg_catalog.regnamespace
  AND p.proowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = %(role)s)
UNION ALL
SELECT 'operator ' OPERATOR(pg_catalog.||) o.oid::pg_catalog.regoperator::text
FROM pg_catalog.pg_operator o
WHERE o.oprnamespace = 'public'::pg_catalog.regnamespace
  AND o.oprowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = %(role)s)
ORDER BY 1
"""


def move_own_tables(conn: psycopg.Connection) -> list[str]:
    """As the application's role at start: its relations still in public (read models an older
    layout made there) move, rows, indexes and all, into its own schema, where its default
    search path now creates and finds them. Left in public, a start would create empty copies
    in its schema that hide them, while the projections' positions say they are current.
    Nothing moves where the role owns the event store (one role for everything) or has no
    schema of its own. Returns the names moved."""
    if may_alter_event_store(conn):
        return []
    row = conn.execute("SELECT pg_catalog.has_schema_privilege(current_user, n.oid, 'CREATE') "
                       "FROM pg_catalog.pg_namespace n "
                       "WHERE n.nspname = current_user").fetchone()
    if not row or not row[0]:
        return []
    moved = []
    with conn.transaction():  # one at a time: several processes may start together
        conn.execute("SELECT pg_catalog.pg_advisory_xact_lock("
                     "pg_catalog.hashtext('servicecore-own-tables'))")
        own = sql.Identifier(_current_user(conn))
        for name, kind in conn.execute(_OWN_IN_PUBLIC).fetchall():
            conn.execute(sql.SQL("ALTER {} {} SET SCHEMA {}").format(
                sql.SQL(_KINDS[kind]), sql.Identifier("public", name), own))
            moved.append(name)
    if moved:
        log.info("moved %d relations of %s from public into its own schema: %s",
                 len(moved), own.as_string(conn), ", ".join(moved))
    return moved


def _current_user(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT current_user").fetchone()
    return str(row[0]) if row else ""


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
