"""The owner's statements never resolve a name through a schema the application's role may
write (the pattern of CVE-2018-1058).

PostgreSQL considers every function and operator of a name on the search path, whatever the
schema: an overload whose signature matches better (here `pg_advisory_xact_lock(integer)`
for pg_catalog's `(bigint)`, called with `hashtext(…)`'s integer) wins over pg_catalog's and
runs with the caller's rights. `migrate` runs as the owner, so an overload the application's
role could plant would run as the owner. Each test has a database of its own, owned by the
owner role as `servicecore`'s bootstrap makes it (the session database belongs to the
superuser, which may do anything anyway).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from servicecore.container import build, migrate
from servicecore.roles import APP_ROLE, DatabaseUrls, bootstrap
from servicecore.schema import EVENTS_TABLE
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.support import open_order

# Two overloads the owner's `migrate` would prefer to pg_catalog's: `pg_advisory_xact_lock`
# for an integer (install's first statement locks on `hashtext(…)`), and `=` for an oid and a
# regtype (psycopg's query for the composite type eventsourcing registers compares
# `t.oid = to_regtype(…)`, on every row of pg_type). Each notes who ran it and, when that is
# not the application's role, grants that role UPDATE and DELETE on the events: a stand-in
# for whatever an attacker would do with the owner's rights.
PLANTED = f"""
CREATE TABLE public.planted_calls (called_by text NOT NULL, planted text NOT NULL);
GRANT INSERT ON public.planted_calls TO PUBLIC;
CREATE FUNCTION public.planted(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.planted_calls VALUES (current_user, what);
    IF current_user <> '{APP_ROLE}' THEN
        EXECUTE 'GRANT UPDATE, DELETE ON public.{EVENTS_TABLE} TO {APP_ROLE}';
    END IF;
END $$;
CREATE FUNCTION public.pg_advisory_xact_lock(integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.planted('pg_advisory_xact_lock');
    PERFORM pg_catalog.pg_advisory_xact_lock($1::bigint);
END $$;
CREATE FUNCTION public.planted_equal(oid, regtype) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.planted('=');
    RETURN $1 OPERATOR(pg_catalog.=) $2::oid;
END $$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regtype, FUNCTION = public.planted_equal);
"""


@pytest.fixture
def store(server_url: str) -> Iterator[DatabaseUrls]:
    """A database owned by the owner role, the event store migrated by it."""
    name = f"sc_path_{uuid.uuid4().hex[:10]}"
    urls = bootstrap(server_url, name)
    try:
        yield urls
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def as_superuser(server_url: str, urls: DatabaseUrls) -> psycopg.Connection:
    dbname = str(conninfo_to_dict(urls.owner)["dbname"])
    params = {**conninfo_to_dict(server_url), "dbname": dbname}
    return psycopg.connect(**params, autocommit=True)  # type: ignore[arg-type]


def schema_of(conn: psycopg.Connection, name: str) -> str | None:
    """The schema of the relation `name` finds on the connection's search path."""
    row = conn.execute("SELECT relnamespace::regnamespace::text FROM pg_class "
                       "WHERE oid = to_regclass(%s)", (name,)).fetchone()
    return str(row[0]) if row else None


def test_an_overload_planted_in_public_never_runs_as_the_owner(
        store: DatabaseUrls, server_url: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    migrate(store, settings_for(store.app, tmp_path))
    # The layout up to schema 5: the application's role could create objects in public.
    with as_superuser(server_url, store) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {APP_ROLE}")  # type: ignore[arg-type]
    with psycopg.connect(store.app, autocommit=True) as conn:
        conn.execute(PLANTED)  # type: ignore[arg-type]
    # `servicecore migrate` again, as an upgrade runs it: as the owner.
    migrate(store, settings_for(store.app, tmp_path))
    with psycopg.connect(store.app, autocommit=True) as conn:
        calls = conn.execute("SELECT DISTINCT called_by, planted FROM public.planted_calls "
                             "WHERE called_by <> %s", (APP_ROLE,)).fetchall()
        assert calls == []
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"UPDATE {EVENTS_TABLE} SET topic = topic")  # type: ignore[arg-type]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE FUNCTION public.planted_again() RETURNS void "
                         "LANGUAGE sql AS 'SELECT'")
    # what it left there is named for the operator to drop
    left = [r.getMessage() for r in caplog.records if "review and drop them" in r.getMessage()]
    assert left and "public.pg_advisory_xact_lock(integer)" in left[-1]
    assert "operator public.=(oid,regtype)" in left[-1]


def test_the_application_role_may_create_in_no_schema_on_the_owners_path(
        store: DatabaseUrls, tmp_path: Path) -> None:
    migrate(store, settings_for(store.app, tmp_path))
    with psycopg.connect(store.owner, autocommit=True) as conn:
        row = conn.execute("SELECT current_schemas(true)").fetchone()
    assert row is not None
    owners_path = row[0]
    with psycopg.connect(store.app, autocommit=True) as conn:
        for schema in owners_path:
            allowed = conn.execute("SELECT has_schema_privilege(%s, %s, 'CREATE')",
                                   (APP_ROLE, schema)).fetchone()
            assert allowed == (False,), schema
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE FUNCTION public.pg_advisory_xact_lock(integer) RETURNS void "
                         "LANGUAGE sql AS 'SELECT'")
        # its own tables go into its own schema, and it still reads the owner's
        conn.execute("CREATE TABLE its_own (x int)")
        where = [schema_of(conn, "its_own"), schema_of(conn, EVENTS_TABLE)]
    assert where == [APP_ROLE, "public"]


def test_a_start_moves_the_read_models_the_application_made_in_public(
        store: DatabaseUrls, server_url: str, tmp_path: Path) -> None:
    """An event store from before schema 6: the read models were the application's tables in
    public, their positions caught up. A start must neither make empty tables in the new
    schema, which the positions would call current, nor leave the old ones behind."""
    settings = settings_for(store.app, tmp_path, owner_database_url=store.owner)
    system = build(settings)
    try:
        answer = open_order(system.work_orders, "S01")
        for runner in system.make_runners():
            runner.catch_up()
    finally:
        system.close()
    # Back to the old layout, as the superuser: the application's tables in public, its
    # schema gone, the store at schema 5.
    with as_superuser(server_url, store) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'", (APP_ROLE,))]
        assert "wo_view" in tables
        for table in tables:
            conn.execute(f"ALTER TABLE {APP_ROLE}.{table} SET SCHEMA public")  # type: ignore[arg-type]
        conn.execute(f"DROP SCHEMA {APP_ROLE}")  # type: ignore[arg-type]
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {APP_ROLE}")  # type: ignore[arg-type]
        conn.execute("DELETE FROM servicecore_schema_version WHERE version > 5")
    # The new version starts: it migrates (as the owner) and creates its read models.
    system = build(settings)
    try:
        with psycopg.connect(store.app, autocommit=True) as conn:
            assert schema_of(conn, "wo_view") == APP_ROLE
            left = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = %s",
                (APP_ROLE,)).fetchone()
            assert left == (0,)
        # the work order opened before the upgrade is still on the board
        from projections.work_orders import list_work_orders

        with system.pool.connection() as conn:
            listed = list_work_orders(conn, ["S01"])
        assert [str(item["id"]) for item in listed["items"]] == [answer["id"]]
    finally:
        system.close()


def test_one_role_for_everything_keeps_its_tables_in_public(server_url: str,
                                                            tmp_path: Path) -> None:
    """`DATABASE_URL` alone (here the server's superuser): no second role, no schema of its
    own; the read models stay in public and a start moves nothing."""
    with scratch_database(server_url, "sc_one") as url:
        for _ in range(2):  # the first start migrates, the second finds the schema current
            system = build(settings_for(url, tmp_path))
            try:
                open_order(system.work_orders, "S01")
            finally:
                system.close()
        with psycopg.connect(url, autocommit=True) as conn:
            assert schema_of(conn, "wo_view") == "public"
            schemas = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s",
                                   (APP_ROLE,)).fetchone()
            assert schemas == (0,)
