"""`servicecore audit verify | anchor | views`: the command line's arguments and what it
prints; the work is servicecore/audit_chain.py's and workers/view_verify.py's (imported when
the command runs, not when the command line starts).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from servicecore.cli_args import LAST_ID, whole
from servicecore.settings import Settings

if TYPE_CHECKING:
    from projections.chain_witness import WitnessFile
    from projections.hash_chain import Anchor


def _anchors(args: argparse.Namespace, settings: Settings
             ) -> tuple[list[Anchor], list[WitnessFile]]:
    """The anchors given (`--anchor`), and the witness files read: the configured one where
    it exists, and every `--witness` (which must exist). A file is read once however often it
    is named (the configured one named again included), so their count is the anchors the
    files hold, not the times they were read."""
    from projections import chain_witness
    from projections.hash_chain import Anchor as Parsed

    given = [Parsed.parse(text) for text in args.anchor]
    paths = [settings.witness_file] if settings.witness_file.exists() else []
    seen = {settings.witness_file.resolve()}
    for path in args.witness:
        if not path.exists():
            raise ValueError(f"no witness file {path}")
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        paths.append(path)
    return given, [chain_witness.read_checked(path) for path in paths]


def _witness_report(files: list[WitnessFile], behind: tuple[int, int] | None,
                    configured: Path) -> dict[str, Any]:
    """What the witness files themselves show, printed on stderr: lines written before links,
    the first break of each file's chain of lines, and anchors the database recorded after
    the files' last (all of them where no file was read: the configured one removed, or
    kept on another host); the JSON line's `witness_breaks` and `anchors_not_witnessed`."""
    for read in files:
        note = read.unlinked_note()
        if note:
            print(note, file=sys.stderr)
    breaks = [f"{read.path}: {read.broken}" for read in files if read.broken]
    for broken in breaks:
        print(f"witness file broken: {broken}", file=sys.stderr)
    if behind is not None and not files:
        print(f"the database holds anchors up to notification id {behind[1]} ({behind[0]}) "
              f"and no witness file was read: the configured one ({configured}) does not "
              "exist (removed, or this host is not the one that writes it: name a copy with "
              "--witness)", file=sys.stderr)
    elif behind is not None:
        print(f"the database holds anchors up to notification id {behind[1]} ({behind[0]}) "
              "the witness files do not have: their last lines lost, or not written there",
              file=sys.stderr)
    return {"witness_breaks": breaks,
            "anchors_not_witnessed": None if behind is None else behind[0]}


def _topic_anchors(topic: str | None, settings: Settings) -> list[dict[str, Any]]:
    """The anchors the relay published on Kafka (`topic`, or "" for `<prefix>audit-anchors`),
    once each by anchor id."""
    from workers.anchor_relay import anchor_topic, read_topic

    if not settings.kafka_bootstrap_servers:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set: no broker to read anchors from")
    return read_topic(settings.kafka_bootstrap_servers,
                      topic or anchor_topic(settings.kafka_topic_prefix))


def _dump_topic(args: argparse.Namespace, settings: Settings) -> int:
    """audit witness-topic: the anchors of the Kafka topic as witness file lines."""
    try:
        anchors = _topic_anchors(args.topic, settings)
    except (OSError, ValueError, LookupError, TimeoutError) as exc:
        print(exc, file=sys.stderr)
        return 2
    for recorded in anchors:
        print(json.dumps(recorded, ensure_ascii=False))
    return 0


def _unwitnessed(witnessed_to: int | None, last: int) -> str:
    """What the verification could not check: the events no anchor kept outside the
    database reaches (`witnessed_to` in the JSON line)."""
    which = ("no anchor kept outside the database (witness file, --anchor, --witness-topic) "
             f"was checked: events 1 to {last} were" if witnessed_to is None else
             f"events after notification id {witnessed_to} (to {last}), past the last anchor "
             "kept outside the database, were")
    return (f"not witnessed: {which} checked against the database alone; events cut off "
            "from or added to the end there, with the chain, the registry and the anchors "
            "table rewritten to match, would not be found")


def _replaced(broken: Any) -> str:
    """Since when an id given out twice (`event replaced`) stands for another event."""
    if broken.reason != "event replaced":
        return ""
    return (f" (recorded by a save at {broken.stored} and again by one at {broken.computed}: "
            "between them the log was cut back, with its links, and its sequence set back, so "
            "later events took the ids of the events cut off)")


def _proven(result: Any) -> str:
    """What held all the same (`to` and `witnessed_to` of the JSON line)."""
    chain = (f"the links recompute up to notification id {result.last_id}" if result.checked
             else "no link recomputes")
    witness = ("no anchor kept outside the database matched" if result.witnessed_to is None
               else "the last anchor kept outside the database matched at notification id "
               f"{result.witnessed_to}")
    return f"{chain}; {witness}"


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """audit verify | anchor: the hash chain over the event log."""
    import psycopg

    from domain.common import DomainError
    from projections import chain_witness
    from projections.chain_registry import break_place
    from projections.chain_restored import restored_behind
    from projections.hash_chain import Anchor as Parsed
    from projections.hash_chain import chain_head, require_in_log
    from projections.key_check import check_keys
    from servicecore.audit_chain import progress_bar, verify, verify_snapshots
    from servicecore.container import database_urls

    with psycopg.connect(database_urls(settings).app, autocommit=True) as conn:
        if args.action == "anchor":
            print(json.dumps(chain_witness.witness(conn, settings.witness_file, args.note)))
            return 0
        try:
            anchors, files = _anchors(args, settings)
            published = ([] if args.witness_topic is None
                          else _topic_anchors(args.witness_topic, settings))
        except (OSError, ValueError, LookupError, TimeoutError) as exc:
            print(exc, file=sys.stderr)
            return 2
        witnessed = [a for read in files for a in read.anchors]
        behind = chain_witness.anchors_after(conn, witnessed)  # a file gone counts them all
        skipped = chain_witness.anchors_skipped(conn, [a["anchor_id"] for a in published])
        anchors += witnessed + [Parsed.from_line(a) for a in published]
        try:
            require_in_log(args.start, chain_head(conn))
        except DomainError as error:
            print(f"servicecore audit verify: --{error.detail}", file=sys.stderr)
            return 2
        progress = None if args.quiet else progress_bar(sys.stderr)
        start = 1 if args.start is None else args.start
        result = verify(conn, start, anchors=anchors, progress=progress)
        snapshots = verify_snapshots(conn)
        keys = check_keys(conn)
        restored = restored_behind(conn, result.broken, anchors, chain_head(conn),
                                   result.witnessed_to)
        place = None if result.broken is None else break_place(
            conn, result.broken.notification_id)
    if progress:
        print(file=sys.stderr)
    topic = {} if args.witness_topic is None else {"witness_topic_anchors": len(published),
                                                   "witness_topic_skipped": len(skipped)}
    if skipped:
        shown = ", ".join(str(n) for n in skipped[:10]) + (", …" if len(skipped) > 10 else "")
        print(f"the topic lacks {len(skipped)} anchor(s) the database recorded between its "
              f"first and its last (anchor ids {shown}): passed over by the relay (its "
              "position kafka-relay:anchors moved on by hand?) or lost by the broker",
              file=sys.stderr)
    report = _witness_report(files, behind, settings.witness_file)
    ok = result.ok and snapshots.ok and keys.ok and not report["witness_breaks"]
    print(json.dumps({**result.as_dict(), "witness_anchors": len(witnessed), **topic,
                      **report, **snapshots.as_dict(), **keys.as_dict(), "restored": restored,
                      "ok": ok}))
    if result.broken is not None:
        print(f"chain broken at notification id {result.broken.notification_id}: "
              f"{result.broken.reason}{_replaced(result.broken)}", file=sys.stderr)
        print(f"{place}; {_proven(result)}", file=sys.stderr)
        if restored:
            print(restored, file=sys.stderr)
    if result.ok and (result.witnessed_to or 0) < result.last_id:
        print(_unwitnessed(result.witnessed_to, result.last_id), file=sys.stderr)
    if snapshots.broken is not None:
        print(f"snapshot of stream {snapshots.broken.stream_id} at version "
              f"{snapshots.broken.version}: {snapshots.broken.reason}", file=sys.stderr)
    if keys.broken is not None:
        print(f"customer {keys.broken.customer_id}: {keys.broken.reason}", file=sys.stderr)
    return 0 if ok else 1


def _past_the_log(name: str, position: int, head: int) -> None:
    print(f"{name}: its position {position} is past the head of the log ({head}): the events "
          "stored up to it would be passed over (a position moved by hand?)", file=sys.stderr)


def _views(args: argparse.Namespace, settings: Settings) -> int:
    """audit views: each read model (or `--view`) rebuilt beside the live one and compared
    with it at its position, then the analytic DuckDB files; one JSON line per view (and one
    for the analytic files), exit 1 when one differs."""
    from analytics.verify import files_to_verify, verify_files
    from servicecore.container import build
    from workers.view_verify import VerificationBusy, verify_view

    container = build(settings)
    try:
        views = [view for view in container.views if args.view in (None, view.name)]
        files = files_to_verify(settings.analytics_path) if args.view in (
            None, "analytics") else []
        if not views and not files:
            names = [v.name for v in container.views] + ["analytics"]
            print(f"no view {args.view} (or no analytic file yet); the views are "
                  f"{', '.join(names)}", file=sys.stderr)
            return 2
        differ = []
        for view in views:
            try:
                check = verify_view(container.app, container.pool, view,
                                    batch_size=settings.projection_rebuild_batch_size,
                                    shown=args.keys)
            except VerificationBusy as busy:
                print(busy, file=sys.stderr)
                return 2
            print(json.dumps(check.as_dict(), default=str), flush=True)
            if check.past_the_log is not None:
                _past_the_log(view.name, check.position, check.past_the_log)
            if not check.ok:
                differ.append(view.name)
        if files:
            analytic = verify_files(container.app, files, zone=settings.store_timezone,
                                    shown=args.keys, scratch_dir=settings.analytics_path.parent)
            print(json.dumps(analytic.as_dict(), default=str), flush=True)
            for file in analytic.files:
                if file.past_the_log is not None:
                    _past_the_log(file.file, file.position, file.past_the_log)
            if not analytic.ok:
                differ.append("analytics")
    finally:
        container.close()
    if differ:
        print(f"read models that differ from the event log: {', '.join(differ)}",
              file=sys.stderr)
    return 1 if differ else 0


def add_commands(audit: Any) -> None:
    """Add `verify`, `anchor` and `views` to the `audit` sub-command group (argparse subparsers)."""
    verify_cmd = audit.add_parser("verify", help="recompute the hash chain and check the "
                                  "snapshots; exit 1 at a break")
    # from 1 (a --from of 0 or below had walked every empty range of ids up to 1 first:
    # -9223372036854775807 for ever)
    verify_cmd.add_argument("--from", dest="start", type=whole(1, LAST_ID), default=None,
                            help="first notification id to check (the link before it is "
                                 "trusted; default 1); past the log's head: exit 2")
    verify_cmd.add_argument("--anchor", action="append", default=[],
                            help="an anchor kept outside, <notification id>:<hex> (repeatable)")
    verify_cmd.add_argument("--witness", action="append", default=[], type=Path,
                            help="a witness file (JSON lines of anchors) kept outside the "
                                 "database, besides SERVICECORE_WITNESS_PATH (repeatable)")
    verify_cmd.add_argument("--witness-topic", nargs="?", const="", default=None,
                            metavar="TOPIC", help="also the anchors the Kafka relay published "
                            "(default topic <SERVICECORE_KAFKA_TOPIC_PREFIX>audit-anchors, "
                            "on KAFKA_BOOTSTRAP_SERVERS)")
    verify_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    verify_cmd.set_defaults(run=_run)
    anchor_cmd = audit.add_parser("anchor", help="record the chain head, append it to the "
                                  "witness file and print it")
    anchor_cmd.add_argument("--note", default="", help="e.g. day-end S01 2026-12-03")
    anchor_cmd.set_defaults(run=_run)
    dump_cmd = audit.add_parser("witness-topic", help="print the chain anchors published on "
                                "Kafka as witness file lines (once each, by anchor id)")
    dump_cmd.add_argument("--topic", default="", help="default <SERVICECORE_KAFKA_TOPIC_PREFIX>"
                          "audit-anchors")
    dump_cmd.set_defaults(run=_dump_topic)
    views_cmd = audit.add_parser("views", help="rebuild each read model beside the live one "
                                 "up to its position and compare them row by row; exit 1 "
                                 "when one differs")
    views_cmd.add_argument("--view", default=None, help="only this read model (e.g. stock; "
                           "analytics: the DuckDB files)")
    views_cmd.add_argument("--keys", type=whole(0, 1000), default=5,
                           help="keys listed per table and kind of difference (default 5)")
    views_cmd.set_defaults(run=_views)
