"""`servicecore analytics rebuild | query | export`: the DuckDB analytic tables from the
command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from servicecore.settings import Settings


def _analytics(args: argparse.Namespace, settings: Settings) -> int:
    """rebuild | query | export: the DuckDB analytic tables from the command line."""
    if args.action == "query":
        from analytics.reader import snapshot

        with snapshot(settings.analytics_path) as (conn, info):
            cursor = conn.execute(args.sql)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            print("\t".join(columns))
            for row in cursor.fetchall():
                print("\t".join("" if v is None else str(v) for v in row))
        print(f"-- snapshot at event {info['position']}, published {info['published_at']}",
              file=sys.stderr)
        return 0
    if args.action == "export":
        return _export(args.dir, settings)
    from analytics.loader import AnalyticsLoader
    from analytics.rebuild import rebuild
    from servicecore.container import build
    from servicecore.progress import Progress

    container = build(settings.model_copy(update={"in_process_projections": False}))
    try:
        progress = Progress("analytics")
        try:
            figures = rebuild(container.app, settings.analytics_path, progress=progress,
                              zone=settings.store_timezone)
        finally:
            progress.close()
        loader = AnalyticsLoader(container.app, settings.analytics_path,
                                 zone=settings.store_timezone)
        try:
            loader.publish(force=True)
        finally:
            loader.close()
        print(json.dumps({"analytics": str(settings.analytics_path), **figures}))
    finally:
        container.close()
    return 0


def _export(folder: Path, settings: Settings) -> int:
    """Every table of the snapshot as Parquet in `folder`, all of one snapshot: each written
    beside its name first, and put in place only once every table is written, then
    `export.json` (the snapshot's position, the tables). An export that fails midway (a full
    disk) drops what it began: the folder keeps the previous export whole."""
    from analytics.reader import snapshot
    from analytics.schema import TABLES

    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, Path]] = []
    try:
        with snapshot(settings.analytics_path) as (conn, info):
            for table in TABLES:
                target = folder / f"{table.name}.parquet"
                written.append((folder / f".{table.name}.parquet.tmp", target))
                conn.execute(f"COPY {table.name} TO '{written[-1][0]}' (FORMAT parquet)")
    except BaseException:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, target in written:
        os.replace(tmp, target)
        print(target)
    manifest = folder / ".export.json.tmp"
    manifest.write_text(json.dumps({"position": info["position"],
                                    "published_at": info["published_at"],
                                    "tables": [target.name for _, target in written]}))
    os.replace(manifest, folder / "export.json")
    print(f"-- snapshot at event {info['position']}", file=sys.stderr)
    return 0


def add_commands(sub: Any) -> None:
    """Add the `analytics` group to the command line (argparse subparsers)."""
    analytics = sub.add_parser("analytics", help="DuckDB analytic tables")
    asub = analytics.add_subparsers(dest="action", required=True)
    asub.add_parser("rebuild", help="reload every table from event 0 (stop the analytics "
                                    "worker first: DuckDB allows one writer)").set_defaults(
        run=_analytics)
    query = asub.add_parser("query", help="run SQL on a read-only connection to the snapshot")
    query.add_argument("sql")
    query.set_defaults(run=_analytics)
    export = asub.add_parser("export", help="write every table as Parquet")
    export.add_argument("--dir", type=Path, default=Path("analytics-export"))
    export.set_defaults(run=_analytics)
