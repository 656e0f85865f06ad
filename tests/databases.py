"""A database of its own for a test session or module, dropped afterwards.

The event table refuses DELETE and TRUNCATE, so a shared database could never be cleaned.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

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
