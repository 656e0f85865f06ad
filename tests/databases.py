"""A database of its own for a test session or module, dropped afterwards.

The event table refuses DELETE and TRUNCATE, so a shared database could never be cleaned.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from servicecore.roles import APP_ROLE, ensure_role, with_user


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """Create `<prefix>_<random>` on the server, yield its URL, drop it (even if in use)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    params = conninfo_to_dict(server_url)
    params["dbname"] = name
    try:
        yield make_conninfo(**params)  # type: ignore[arg-type]
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def app_role_url(owner_url: str) -> str:
    """The application's role on the owner's database (made where missing), as the API and the
    workers connect in production; the owner's URL where the server will not let the role in
    without a password (one role for everything)."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        ensure_role(conn, APP_ROLE)
    app_url = with_user(owner_url, APP_ROLE)
    try:
        psycopg.connect(app_url, connect_timeout=5).close()
    except psycopg.OperationalError:
        return owner_url
    return app_url


def backup(server_url: str, url: str) -> str:
    """A copy of the database `url` names as it stands now (`CREATE DATABASE … TEMPLATE`: its
    tables, sequences and grants, as a dump restored later would have them); its name, to
    `restore` from. Every connection to the database is ended first (a template may have
    none), so the systems on it must be closed or reconnect."""
    name = f"{conninfo_to_dict(url)['dbname']}_backup_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        _end_connections(conn, str(conninfo_to_dict(url)["dbname"]))
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{conninfo_to_dict(url)["dbname"]}"'
                     )  # type: ignore[arg-type]
    return name


def restore(server_url: str, url: str, copy: str) -> None:
    """The database `url` names put back as `copy` (made by `backup`) holds it: dropped and
    made again from the copy under its own name, as after a restore from last night's dump;
    the copy is kept for another restore and dropped with `drop`."""
    live = str(conninfo_to_dict(url)["dbname"])
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{live}" WITH (FORCE)')  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{live}" TEMPLATE "{copy}"')  # type: ignore[arg-type]


def drop(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def _end_connections(conn: psycopg.Connection[Any], name: str) -> None:
    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
