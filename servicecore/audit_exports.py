"""`servicecore audit warranty-claim | repair-records | export-chain`: the auditors' exports on
the command line.

The operator running these has the database's rights, so every store is in scope.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from servicecore.cli_args import LAST_ID, whole
from servicecore.settings import Settings


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def _write_lines(lines: Iterable[str], out: Path | None) -> None:
    """Each piece as it comes: an export of a day's records never holds the day's text. A
    file is written beside its name and renamed when complete, so a failure halfway leaves
    no half file under it."""
    if out is None:
        sys.stdout.writelines(lines)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    try:
        with partial.open("w", encoding="utf-8", newline="") as file:
            file.writelines(lines)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def _warranty_claim(args: argparse.Namespace, settings: Settings) -> int:
    from api.as_of import as_of_moment
    from domain.common import DomainError
    from projections.claim_digest import claim_as_of
    from projections.evidence import one_snapshot
    from projections.warranty_claim import find_work_order
    from projections.warranty_claim_html import render
    from servicecore.container import build

    container = build(settings.model_copy(update={"in_process_projections": False}))
    try:
        # a day or a moment, read as `?as_of=` reads it (a day: its end in the stores' zone)
        moment = as_of_moment(args.as_of, settings.store_timezone)
        with container.pool.connection() as conn, one_snapshot(conn):
            work_order_id = find_work_order(conn, args.work_order, ["*"])
            claim = claim_as_of(container.app, conn, work_order_id, ["*"], moment,
                                terms=container.warranty_terms,
                                zone=ZoneInfo(settings.store_timezone))
    except DomainError as error:
        print(f"servicecore audit warranty-claim: {error.detail}", file=sys.stderr)
        return 1
    finally:
        container.close()
    _write(render(claim, ZoneInfo(settings.store_timezone)) if args.format == "html" else
           _claim_json(claim), args.out)
    if args.out:
        print(f"claim for {claim['work_order']['number']} ({len(claim['evidence'])} events) "
              f"written to {args.out}", file=sys.stderr)
    return 0


def _claim_json(claim: dict[str, Any]) -> str:
    """The claim as `GET /work-orders/{id}/warranty-claim` answers it: every timestamp in UTC
    with `Z` (`api.timestamps`), so that the file and the API's answer are the same document."""
    from api.timestamps import utc_timestamps

    settled = utc_timestamps(json.dumps(claim, ensure_ascii=False).encode())
    return json.dumps(json.loads(settled), ensure_ascii=False, indent=2) + "\n"


def _repair_records(args: argparse.Namespace, settings: Settings) -> int:
    from domain.common import DomainError
    from projections.csv_cells import led_by_bom
    from projections.evidence import one_snapshot
    from projections.repair_records import csv_lines, iter_repair_records, jsonl_lines
    from servicecore.container import build

    if args.bom and args.format != "csv":
        print("servicecore audit repair-records: --bom is for --format csv (a JSON lines "
              "file has no byte order mark)", file=sys.stderr)
        return 2
    container = build(settings.model_copy(update={"in_process_projections": False}))
    written = 0

    def counted(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        nonlocal written
        for record in records:
            written += 1
            yield record

    try:
        # The file is written a batch of visits at a time (a group's day holds thousands),
        # all of them read in one snapshot: one point of the log, as the API's pages are.
        with container.pool.connection() as conn, one_snapshot(conn):
            records = counted(iter_repair_records(
                container.app, conn, args.date, ZoneInfo(settings.store_timezone),
                container.shop_names, ["*"], args.store))
            _write_lines(led_by_bom(csv_lines(records), args.bom) if args.format == "csv"
                         else jsonl_lines(records), args.out)
    except DomainError as error:
        print(f"servicecore audit repair-records: {error.detail}", file=sys.stderr)
        return 1
    finally:
        container.close()
    print(f"{written} repair records of {args.date.isoformat()} "
          f"({args.store or 'all stores'})" + (f" written to {args.out}" if args.out else ""),
          file=sys.stderr)
    return 0


def _export_chain(args: argparse.Namespace, settings: Settings) -> int:
    """audit export-chain: a range of the event log raw with its links and anchors, JSON lines
    written as they are read (projections/chain_export.py), for projections/verify_chain.py."""
    import psycopg

    from projections.chain_export import Tally, export_lines, stored_rows
    from projections.evidence import one_snapshot
    from projections.hash_chain import chain_head
    from servicecore.container import database_urls

    tally = Tally()
    with psycopg.connect(database_urls(settings).app, autocommit=True) as conn, \
            one_snapshot(conn):
        head = chain_head(conn)
        start, end = args.start, head if args.end is None else min(args.end, max(head, 1))
        if start > max(head, 1) or end < start:
            print(f"servicecore audit export-chain: from {start} to {end} holds no event of "
                  f"the log (its head is notification id {head})", file=sys.stderr)
            return 2
        _write_lines(export_lines(conn, stored_rows(conn, start, end), start, end, head,
                                  tally=tally), args.out)
    print(f"{tally.events} events from notification id {start} to {end}, "
          f"{tally.anchors} anchors recorded in that range"
          + (f", {tally.links_without_event} links without their event"
             if tally.links_without_event else "")
          + (f" written to {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def _day(text: str) -> date:
    """A report's day, in the range the API takes (9999-12-31 overflowed the next day)."""
    from domain.days import FIRST_DAY, LAST_DAY, plain_day

    day = plain_day(text)
    if day is None:  # date.fromisoformat() read 20260501 and 2026-W18-5 too
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"{day} is not within {FIRST_DAY} to {LAST_DAY}")
    return day


def add_commands(audit: Any) -> None:
    """Add the export commands to the `audit` sub-command group (argparse subparsers)."""
    claim = audit.add_parser("warranty-claim", help="the OEM warranty-claim package of a work "
                             "order, from the events (JSON or printable HTML)")
    claim.add_argument("work_order", help="work-order id or number (WO-S01-2026-000123)")
    claim.add_argument("--format", choices=["json", "html"], default="json")
    claim.add_argument("--as-of", default=None, help="the package as it stood then: a day "
                       "(YYYY-MM-DD, its end in the stores' time zone) or a moment with its "
                       "zone, as GET /work-orders/{id}/warranty-claim?as_of= takes it")
    claim.add_argument("--out", type=Path, default=None, help="file (default: standard output)")
    claim.set_defaults(run=_warranty_claim)
    records = audit.add_parser("repair-records", help="electronic repair records (汽车维修电子"
                               "健康档案) of the visits settled on a day")
    records.add_argument("--date", type=_day, required=True, help="YYYY-MM-DD, store time zone")
    records.add_argument("--store", default=None, help="one store id (default: all stores)")
    records.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    records.add_argument("--bom", action="store_true", help="with --format csv: start the "
                         "file with the UTF-8 byte order mark, so that Excel on a Chinese "
                         "Windows opens it as UTF-8 (as the API's bom=true)")
    records.add_argument("--out", type=Path, default=None, help="file (default: standard output)")
    records.set_defaults(run=_repair_records)
    chain = audit.add_parser("export-chain", help="a range of the event log as stored, each "
                             "event with its chain link, and the anchors in it (JSON lines) "
                             "for a verifier outside the system (projections/verify_chain.py)")
    chain.add_argument("--from", dest="start", type=whole(1, LAST_ID), default=1,
                       help="first notification id (default 1)")
    chain.add_argument("--to", dest="end", type=whole(1, LAST_ID), default=None,
                       help="last notification id (default: the head of the log)")
    chain.add_argument("--out", type=Path, default=None, help="file (default: standard output)")
    chain.set_defaults(run=_export_chain)
