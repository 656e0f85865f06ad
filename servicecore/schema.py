"""Database objects outside eventsourcing's own tables: immutability, the hash chain, the
command registry, keys and read-model positions.

Appends to the event log are serialized by a transaction-level advisory lock taken before any
notification id is drawn (a BEFORE STATEMENT trigger), so ids commit in the order they were
drawn: a tailing reader never passes an id that commits later. The same trigger pair links every
inserted event into the hash chain (`servicecore_event_hashes`) in the inserting transaction,
whoever inserts it.
"""

from __future__ import annotations

import psycopg

EVENTS_TABLE = "servicecore_events"
SNAPSHOTS_TABLE = "servicecore_snapshots"  # eventsourcing's snapshot store: a cache of states
HASHES_TABLE = "servicecore_event_hashes"
COMMANDS_TABLE = "servicecore_commands"
ANCHORS_TABLE = "servicecore_anchors"
CHANNEL = "servicecore_events"
# The advisory lock key that serializes appends (also taken by the recorder's ambiguity check).
APPEND_LOCK = "hashtext('servicecore-append')"

# A save found not stored is voided: a registry row without notification ids takes its command
# id, so a statement of it still on its way (held by a stuck middlebox) fails on the key and
# stores nothing. Readers of the registry skip such rows (no first id: notification_ids[1] is
# null). Run under the append lock by the recorder's commit check and `GET /commands/{id}`.
VOID_COMMANDS = (f"INSERT INTO {COMMANDS_TABLE} (command_id, notification_ids) "
                 "SELECT unnest(%s::uuid[]), '{}' ON CONFLICT (command_id) DO NOTHING")

IMMUTABLE = """
CREATE OR REPLACE FUNCTION public.servicecore_refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stored events are immutable: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""

_REFUSE = """
CREATE OR REPLACE TRIGGER {table}_no_update_delete
    BEFORE UPDATE OR DELETE ON public.{table}
    FOR EACH ROW EXECUTE FUNCTION public.servicecore_refuse_event_change();
CREATE OR REPLACE TRIGGER {table}_no_truncate
    BEFORE TRUNCATE ON public.{table}
    FOR EACH STATEMENT EXECUTE FUNCTION public.servicecore_refuse_event_change();
"""

CHAIN_TABLES = f"""
CREATE TABLE IF NOT EXISTS public.{HASHES_TABLE} (
    notification_id bigint PRIMARY KEY,
    hash bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS public.{COMMANDS_TABLE} (
    command_id uuid PRIMARY KEY,
    notification_ids bigint[] NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS public.{ANCHORS_TABLE} (
    anchor_id bigserial PRIMARY KEY,
    notification_id bigint NOT NULL,
    hash bytea NOT NULL,
    anchored_at timestamptz NOT NULL DEFAULT now(),
    anchored_by text NOT NULL DEFAULT current_user,
    note text NOT NULL DEFAULT ''
);
-- the registry's saves by their first id: a range of the log finds the saves that recorded it
CREATE INDEX IF NOT EXISTS {COMMANDS_TABLE}_first_id
    ON public.{COMMANDS_TABLE} ((notification_ids[1]));
"""


# An event is linked after the chain's head, so its id must come after the head's (schema 10):
# the sequence of notification ids set back (`setval`, by the owner) would otherwise have the
# application store its next saves into gaps of the ids, each linked from the head and so a
# break (`event changed`) at an event nobody changed. Raised as a unique violation, so the
# save is a version conflict and is tried again, with ids drawn past the ones refused.
_AFTER_HEAD = """        IF event.notification_id <= head THEN
            RAISE EXCEPTION USING ERRCODE = 'unique_violation',
                MESSAGE = pg_catalog.format('notification id %s is not after the head of the '
                    'chain (%s): the sequence of notification ids was set back?',
                    event.notification_id, head);
        END IF;"""


def _chain_loop(events: str) -> str:
    """The body of a PL/pgSQL block that links `events` (a query, in notification order) to
    the chain: from its head (32 zero bytes before the first event), each event's hash over
    the one before it, stored. The chain trigger and the backfill both run it."""
    return f"""DECLARE
    head bigint;
    previous bytea;
    event record;
BEGIN
    SELECT h.notification_id, h.hash INTO head, previous FROM public.{HASHES_TABLE} h
        ORDER BY h.notification_id DESC LIMIT 1;
    previous := coalesce(previous, '\\x{"00" * 32}'::bytea);
    FOR event IN {events} LOOP
{_AFTER_HEAD}
        previous := public.servicecore_chain_link(previous, event.notification_id,
                                                  event.originator_id, event.originator_version,
                                                  event.topic, event.state);
        INSERT INTO public.{HASHES_TABLE} (notification_id, hash)
            VALUES (event.notification_id, previous);
    END LOOP;"""


# An event must follow its stream's previous version (or be the stream's first): a process
# that kept its cached aggregates while the database was restored from a backup under it
# would otherwise append after versions the log no longer holds, leaving a stream with a hole
# no replay can pass. Raised as a unique violation, so the save is a version conflict: the
# command is tried again on the stored state (domain/application.py drops the cached one).
_CONTIGUOUS = f"""    FOR event IN SELECT a.originator_id, a.originator_version FROM appended a
            WHERE NOT EXISTS (SELECT 1 FROM public.{EVENTS_TABLE} e
                              WHERE e.originator_id = a.originator_id
                                AND e.originator_version = a.originator_version - 1)
              AND EXISTS (SELECT 1 FROM public.{EVENTS_TABLE} e
                          WHERE e.originator_id = a.originator_id
                            AND e.originator_version < a.originator_version) LOOP
        RAISE EXCEPTION USING ERRCODE = 'unique_violation',
            MESSAGE = format('stream %s: version %s does not follow the stream''s last version '
                             '(the database restored from a backup behind the writer?)',
                             event.originator_id, event.originator_version);
    END LOOP;"""


# The link function: must equal domain.integrity.link byte for byte. STABLE, as convert_to is:
# a function declared IMMUTABLE around a STABLE call is never inlined, and then every call
# plans its body again (half of the chain trigger's time on a one-event save).
# Every function, operator and type in it is named in pg_catalog: the owner runs it (from the
# SECURITY DEFINER chain trigger, and in `migrate`'s backfill), and the application's role
# could create functions in public up to schema 5 (and may in its own schema, first on its
# search path), so an unqualified name could resolve to one of its own (e.g. a
# convert_to(text, text) is preferred over pg_catalog's convert_to(text, name) for the literal
# 'UTF8') and run with the owner's rights. A SET search_path here would stop the inlining.
CHAIN_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION public.servicecore_chain_link(previous bytea, notification_id bigint,
        stream_id uuid, version bigint, topic text, state bytea) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT pg_catalog.sha256(
        previous
        OPERATOR(pg_catalog.||) pg_catalog.int8send(notification_id)
        OPERATOR(pg_catalog.||) pg_catalog.uuid_send(stream_id)
        OPERATOR(pg_catalog.||) pg_catalog.int8send(version)
        OPERATOR(pg_catalog.||) pg_catalog.int4send(pg_catalog.octet_length(pg_catalog.convert_to(
            coalesce(topic, ''::pg_catalog.text), 'UTF8'::pg_catalog.name)))
        OPERATOR(pg_catalog.||) pg_catalog.convert_to(coalesce(topic, ''::pg_catalog.text),
                                                      'UTF8'::pg_catalog.name)
        OPERATOR(pg_catalog.||) pg_catalog.int4send(pg_catalog.octet_length(
            coalesce(state, ''::pg_catalog.bytea)))
        OPERATOR(pg_catalog.||) coalesce(state, ''::pg_catalog.bytea))
$$;

CREATE OR REPLACE FUNCTION public.servicecore_lock_appends() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.{APPEND_LOCK});
    RETURN NULL;
END $$;

-- Runs as the owner: only pg_catalog is on its search path, and its own objects are named
-- with their schema.
CREATE OR REPLACE FUNCTION public.servicecore_chain_events() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
{_chain_loop("SELECT * FROM appended ORDER BY notification_id")}
{_CONTIGUOUS}
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END $$;
"""

CHAIN_TRIGGERS = f"""
CREATE OR REPLACE TRIGGER {EVENTS_TABLE}_append_lock
    BEFORE INSERT ON public.{EVENTS_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION public.servicecore_lock_appends();
CREATE OR REPLACE TRIGGER {EVENTS_TABLE}_chain
    AFTER INSERT ON public.{EVENTS_TABLE} REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT EXECUTE FUNCTION public.servicecore_chain_events();
"""

# Events stored before the chain existed are linked once, in notification order.
_UNLINKED_EVENTS = f"""SELECT e.* FROM public.{EVENTS_TABLE} e
                 WHERE e.notification_id >
                       (SELECT coalesce(max(notification_id), 0) FROM public.{HASHES_TABLE})
                 ORDER BY e.notification_id"""
CHAIN_BACKFILL = f"""
DO $$
{_chain_loop(_UNLINKED_EVENTS)}
END $$;
"""

SUPPORT_TABLES = """
CREATE TABLE IF NOT EXISTS public.servicecore_schema_version (
    version integer PRIMARY KEY,
    installed_at timestamptz NOT NULL DEFAULT now(),
    installed_by text NOT NULL DEFAULT current_user
);
CREATE TABLE IF NOT EXISTS public.customer_keys (
    customer_id uuid PRIMARY KEY,
    key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS public.projection_positions (
    name text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS public.kafka_event_ids (
    form integer PRIMARY KEY,
    since bigint NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now()
);
"""
# Kafka event ids of form 2 (stream, version and the stored event's time: a new event given a
# lost one's stream version after a restore gets an id of its own) from the first notification
# id after the log's head at the upgrade, stored once; the events before keep the id of form 1
# (stream and version) they were published under (domain/integration_events.py, `event_id`).
# Taken under the append lock: no event commits across the cut.
EVENT_ID_CUT = f"""INSERT INTO public.kafka_event_ids (form, since)
SELECT 2, coalesce(max(notification_id), 0) + 1 FROM public.{EVENTS_TABLE}
ON CONFLICT (form) DO NOTHING"""

INSERT_ONLY_TABLES = (EVENTS_TABLE, HASHES_TABLE, COMMANDS_TABLE, ANCHORS_TABLE,
                      SNAPSHOTS_TABLE)
# Raised whenever install() changes what it creates: a start finding an older version migrates.
SCHEMA_VERSION = 10  # 2: hash chain, command registry, anchors; 3: snapshots;
#                     4: the chain link inlinable (STABLE); 5: the chain's functions name
#                     pg_catalog's, the trigger's search path leaves out public; 6: the
#                     application's role creates in a schema of its own, no longer in public;
#                     7: the command registry indexed by each save's first id;
#                     8: an event must follow its stream's previous version;
#                     9: the cut-over of Kafka event ids (kafka_event_ids);
#                     10: an event's id must come after the chain's head
# What the owner's sessions resolve names through: pg_catalog alone (pg_temp is never searched
# for functions or operators). Every object of the owner's is named with its schema, public.
OWNER_SEARCH_PATH = "pg_catalog, pg_temp"


def is_current(conn: psycopg.Connection) -> bool:
    """Is this database's event store installed at SCHEMA_VERSION (any role may ask)?"""
    row = conn.execute("SELECT to_regclass('servicecore_schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return False
    found = conn.execute("SELECT max(version) FROM servicecore_schema_version").fetchone()
    return bool(found and found[0] is not None and found[0] >= SCHEMA_VERSION)


def install(conn: psycopg.Connection, app_role: str | None = None) -> None:
    """Idempotent, as the owner, after eventsourcing has created its tables; grants the
    application role (servicecore/roles.py) what it may do and gives it a schema of its own.

    Runs with the search path OWNER_SEARCH_PATH: an overload of a pg_catalog function or
    operator in public that matched a call better (an application's role of an older layout
    could create one there) would otherwise be chosen, and run with the owner's rights."""
    from servicecore.roles import grant_app

    with conn.transaction():
        conn.execute(f"SET LOCAL search_path = {OWNER_SEARCH_PATH}")
        conn.execute("SELECT pg_catalog.pg_advisory_xact_lock("
                     "pg_catalog.hashtext('servicecore-schema'))")
        conn.execute(f"SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.{APPEND_LOCK})")
        conn.execute(IMMUTABLE)
        conn.execute(CHAIN_TABLES)
        for table in INSERT_ONLY_TABLES:
            conn.execute(_REFUSE.format(table=table))
        conn.execute(CHAIN_FUNCTIONS)
        conn.execute(CHAIN_TRIGGERS)
        conn.execute(CHAIN_BACKFILL)
        conn.execute(SUPPORT_TABLES)
        conn.execute(EVENT_ID_CUT)
        if app_role:
            grant_app(conn, app_role)
        conn.execute("INSERT INTO public.servicecore_schema_version (version) VALUES (%s) "
                     "ON CONFLICT DO NOTHING", (SCHEMA_VERSION,))
