"""The application's role may append and read events, never change them or their triggers.

The API and the workers connect as that role (the session database is migrated by its owner,
as `servicecore migrate` does in production); these tests try what it must not be able to do.
"""

from __future__ import annotations

import shutil
import uuid

import psycopg
import pytest

from servicecore import audit_chain
from servicecore.container import Container, build
from servicecore.embedded import embedded_urls, release
from servicecore.roles import APP_ROLE, OWNER_ROLE, may_alter_event_store, user_of
from servicecore.schema import ANCHORS_TABLE, COMMANDS_TABLE, EVENTS_TABLE, HASHES_TABLE
from servicecore.settings import Settings
from tests.conftest import JWT_SECRET, ROOT
from tests.integration.support import open_order

REFUSED = [
    f"UPDATE {EVENTS_TABLE} SET topic = topic",
    f"DELETE FROM {EVENTS_TABLE}",
    f"TRUNCATE {EVENTS_TABLE}",
    f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER USER",
    f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER {EVENTS_TABLE}_no_update_delete",
    f"DROP TRIGGER {EVENTS_TABLE}_chain ON {EVENTS_TABLE}",
    f"INSERT INTO {HASHES_TABLE} VALUES (0, '\\x00')",
    f"UPDATE {HASHES_TABLE} SET hash = hash",
    f"DELETE FROM {COMMANDS_TABLE}",
    f"DELETE FROM {ANCHORS_TABLE}",
    ("CREATE OR REPLACE FUNCTION public.servicecore_chain_events() RETURNS trigger "
     "LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END $$"),
    ("CREATE FUNCTION public.pg_advisory_xact_lock(integer) RETURNS void "
     "LANGUAGE sql AS 'SELECT'"),
]


@pytest.fixture
def as_app(database_url: str) -> psycopg.Connection:
    if user_of(database_url) != APP_ROLE:
        pytest.fail("the session database is not used through the application's role")
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("statement", REFUSED, ids=[s.split(" ON ")[0][:40] for s in REFUSED])
def test_the_application_role_cannot_change_the_event_store(container: Container,
                                                           as_app: psycopg.Connection,
                                                           statement: str) -> None:
    open_order(container.work_orders, "S01")  # something to tamper with
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_app.execute(statement)
    assert not may_alter_event_store(as_app)


def test_what_the_application_role_appends_is_chained_by_the_owners_trigger(
        container: Container, as_app: psycopg.Connection) -> None:
    answer = open_order(container.work_orders, "S01")
    row = as_app.execute(f"SELECT count(*) FROM {HASHES_TABLE} WHERE notification_id = %s",
                         (answer["notification_id"],)).fetchone()
    assert row == (1,)
    assert audit_chain.verify(as_app).ok
    assert audit_chain.anchor(as_app, "test")["notification_id"] >= answer["notification_id"]


def test_the_embedded_default_creates_both_roles() -> None:
    # Inside the checkout: as root the server runs as its own system user, which cannot enter
    # pytest's private temporary folders.
    data_dir = ROOT / "var" / "test" / f"roles-{uuid.uuid4().hex[:8]}"
    try:
        urls = embedded_urls(data_dir)
        assert (user_of(urls.owner), user_of(urls.app)) == (OWNER_ROLE, APP_ROLE)
        with psycopg.connect(urls.owner, autocommit=True) as conn:
            owner = conn.execute("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database "
                                 "WHERE datname = current_database()").fetchone()
        assert owner == (OWNER_ROLE,)
        system = build(Settings(database_url=None, data_dir=data_dir,  # type: ignore[call-arg]
                                jwt_secret=JWT_SECRET))
        try:
            assert user_of(system.database_url) == APP_ROLE
            open_order(system.work_orders, "S01")
            with psycopg.connect(system.database_url, autocommit=True) as conn:
                assert not may_alter_event_store(conn)
                assert audit_chain.verify(conn).ok
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER USER")
        finally:
            system.close()
    finally:
        release(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


# In the role's own schema, first on its search path (public is no longer open to it:
# tests/integration/test_owner_search_path.py).
PLANTED = """CREATE FUNCTION convert_to(text, text) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'planted function called as %', current_user;
END $$"""


def test_a_function_the_application_role_plants_never_runs_in_the_chain(
        container: Container, database_url: str) -> None:
    """Found by the reliability audit: the chain trigger runs with the owner's rights, its
    search path was public (where the application's role may create functions) and the link
    called convert_to(…, 'UTF8') unqualified; a convert_to(text, text) of the application's
    role was preferred for the literal and ran as the owner on the next append, which could
    then replace the immutability trigger and grant itself UPDATE on the events."""
    if user_of(database_url) != APP_ROLE:
        pytest.fail("the session database is not used through the application's role")
    with psycopg.connect(database_url) as conn:  # one transaction, rolled back
        conn.execute(PLANTED)
        conn.execute(f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, "
                     "state) VALUES (%s, 1, 'planted', '\\x00')", (uuid.uuid4(),))
        linked = conn.execute(f"SELECT count(*) FROM {HASHES_TABLE} WHERE notification_id = "
                              f"(SELECT max(notification_id) FROM {EVENTS_TABLE})").fetchone()
        assert linked == (1,)
        # the link as migrate's backfill calls it, with the caller's search path
        link = conn.execute("SELECT servicecore_chain_link('\\x00'::bytea, 1, %s, 1, 't', "
                            "'\\x01'::bytea)", (uuid.uuid4(),)).fetchone()
        assert link is not None and len(link[0]) == 32
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"UPDATE {EVENTS_TABLE} SET topic = topic")
        conn.rollback()
