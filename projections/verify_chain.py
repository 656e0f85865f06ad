#!/usr/bin/env python3
"""Check an export of servicecore's event log with nothing but the standard library.

An auditor runs this on the files `servicecore audit export-chain` (or the pages of
`GET /audit/chain/export`) wrote, and on witness files of chain anchors kept outside the
dealership's database (the witness file, `audit witness-topic`'s lines, printed day-end
anchors given with --anchor). It imports nothing of servicecore: read it, or re-implement it
from README's "Checking the chain outside the system".

Every event's link is recomputed:
    link = SHA-256(previous link || int8be(notification id) || stream id (16 bytes) ||
                   int8be(stream version) || int4be(len(topic)) || topic (UTF-8) ||
                   int4be(len(state)) || state)
with the link before notification id 1 being 32 zero bytes. The chain must run unbroken
from the link before the export's range to its last event (notification ids may skip
numbers: the links decide), and every anchor must be the link recomputed at its id.

    python3 verify_chain.py EXPORT.jsonl [EXPORT2.jsonl ...] [--witness FILE ...]
                            [--anchor N:HEX ...] [--previous HEX] [--partial] [--json]

Exit code 0: the chain holds; 1: a break (named with its notification id); 2: a file that
cannot be read as an export or a witness file.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

FORMAT = "servicecore-chain-export/1"
GENESIS = bytes(32)


def message(notification_id: int, stream_id: uuid.UUID, version: int, topic: str,
            state: bytes) -> bytes:
    """One stored event as the chain hashes it."""
    name = topic.encode("utf-8")
    return b"".join((notification_id.to_bytes(8, "big", signed=True), stream_id.bytes,
                     version.to_bytes(8, "big", signed=True), len(name).to_bytes(4, "big"),
                     name, len(state).to_bytes(4, "big"), state))


def link(previous: bytes, event_message: bytes) -> bytes:
    return hashlib.sha256(previous + event_message).digest()


class Unreadable(Exception):
    """A file that is not an export or a witness file (exit code 2)."""


@dataclass
class Break:
    notification_id: int | None
    reason: str
    detail: str = ""


@dataclass
class Anchor:
    notification_id: int
    hash: str
    source: str  # "witness FILE line N", "--anchor", "recorded in the export"
    witnessed: bool  # kept outside the database (not only recorded in it)


def parse_anchor(text: object, source: str, witnessed: bool) -> Anchor:
    if not isinstance(text, str):
        raise Unreadable(f"{source}: an anchor looks like 1234:<64 hex digits>, not {text!r}")
    number, _, digest = text.partition(":")
    try:
        if not number.isdigit() or len(digest) != 64:
            raise ValueError
        bytes.fromhex(digest)
    except ValueError:
        raise Unreadable(f"{source}: an anchor looks like 1234:<64 hex digits>, not "
                         f"{text!r}") from None
    return Anchor(int(number), digest.lower(), source, witnessed)


def witness_lines(path: str) -> tuple[list[Anchor], str | None, int]:
    """A witness file's anchors, the first break of its own chain of lines (each line's
    `line` is its number in the file, `previous` the SHA-256 hex of the line before it as
    stored, newline included), and how many lines carry no link."""
    anchors: list[Anchor] = []
    lines: list[tuple[bytes, dict[str, Any]]] = []
    for number, text, parsed in _json_objects(path, "an anchor"):
        anchors.append(parse_anchor(parsed.get("anchor"), f"witness {path} line {number}", True))
        lines.append((text, parsed))
    unlinked = sum(1 for _, parsed in lines if "line" not in parsed)
    return anchors, _line_break(lines), unlinked


def _line_break(lines: list[tuple[bytes, dict[str, Any]]]) -> str | None:
    numbers: dict[int, list[int]] = {}
    for place, (_, parsed) in enumerate(lines, 1):
        if "line" in parsed:
            if type(parsed["line"]) is not int:
                return f"line {place} carries no line number ({parsed['line']!r})"
            numbers.setdefault(parsed["line"], []).append(place)
    for place, (_, parsed) in enumerate(lines, 1):
        if "line" not in parsed:
            continue
        number = parsed["line"]
        if len(numbers[number]) > 1:
            return f"lines {numbers[number][0]} and {numbers[number][1]} both carry number " \
                   f"{number}: a line duplicated"
        if number < place or (number > place and any(place <= n < number for n in numbers)):
            return f"line {place} carries number {number}: lines out of order"
        if number > place:
            return f"line {place} carries number {number}: {number - place} line(s) before " \
                   "it removed"
        before = None if place == 1 else hashlib.sha256(lines[place - 2][0]).hexdigest()
        if parsed.get("previous") != before:
            return (f"line {place - 1} changed after it was written (line {place}'s link does "
                    "not match it)" if place > 1 else "line 1 links to a line before it")
    return None


def export_lines(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """An export file's lines, parsed one at a time (a file of millions of events is never
    held whole)."""
    for number, _, parsed in _json_objects(path, "a line of an export"):
        if not isinstance(parsed.get("kind"), str):
            raise Unreadable(f"{path}, line {number}: not a line of an export (no kind)")
        yield number, parsed


def _json_objects(path: str, what: str) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    """A JSON-lines file's objects one at a time, with their line number and bytes as
    stored; blank lines skipped, anything else that is no JSON object Unreadable."""
    try:
        with open(path, "rb") as stored:
            for number, text in enumerate(stored, 1):
                if not text.strip():
                    continue
                try:
                    parsed = json.loads(text)
                except (ValueError, RecursionError) as exc:
                    raise Unreadable(f"{path}, line {number}: not {what} ({exc})") from None
                if not isinstance(parsed, dict):
                    raise Unreadable(f"{path}, line {number}: not {what} (no object)")
                yield number, text, parsed
    except OSError as exc:
        raise Unreadable(f"{path}: {exc}") from None


def _hex(value: object, where: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise Unreadable(f"{where}: a link is 64 hex digits, not {value!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise Unreadable(f"{where}: a link is 64 hex digits, not {value!r}") from None


def _int(value: object, where: str) -> int:
    if type(value) is not int:
        raise Unreadable(f"{where}: a whole number expected, not {value!r}")
    return value


@dataclass
class Report:
    files: list[str] = field(default_factory=list)
    range_from: int | None = None
    range_to: int | None = None
    previous_hash: str | None = None
    previous_checked: str = "taken from the export"
    events: int = 0
    withheld: int = 0
    first_id: int | None = None
    last_id: int | None = None
    head_hash: str | None = None
    witnessed_checked: int = 0
    recorded_checked: int = 0
    witnessed_to: int | None = None
    outside: list[int] = field(default_factory=list)  # witnessed ids the export does not reach
    witness_files: dict[str, str | None] = field(default_factory=dict)
    unlinked_lines: dict[str, int] = field(default_factory=dict)
    broken: Break | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None and not any(self.witness_files.values())

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "files": self.files, "from": self.range_from,
                "to": self.range_to, "previous_hash": self.previous_hash,
                "previous_checked": self.previous_checked, "events_checked": self.events,
                "withheld": self.withheld, "first_notification_id": self.first_id,
                "last_notification_id": self.last_id, "head_hash": self.head_hash,
                "witnessed_anchors_checked": self.witnessed_checked,
                "recorded_anchors_checked": self.recorded_checked,
                "witnessed_to": self.witnessed_to, "witnessed_outside": self.outside,
                "witness_breaks": {k: v for k, v in self.witness_files.items() if v},
                "first_break": None if self.broken is None else {
                    "notification_id": self.broken.notification_id,
                    "reason": self.broken.reason, "detail": self.broken.detail}}


class Walk:
    """One pass over the export files in order, recomputing every link."""

    def __init__(self, report: Report, anchors: dict[int, list[Anchor]],
                 previous_given: bytes | None) -> None:
        self.report = report
        self.anchors = anchors
        self.previous_given = previous_given
        self.link = GENESIS
        self.met: set[int] = set()

    def run(self, paths: list[str]) -> None:
        for index, path in enumerate(paths):
            self.report.files.append(path)
            if self._file(path, index) or self.report.broken:
                return

    def _stop(self, number: int | None, reason: str, detail: str = "") -> bool:
        self.report.broken = Break(number, reason, detail)
        return True

    def _file(self, path: str, index: int) -> bool:
        lines = export_lines(path)
        first = next(lines, None)
        if first is None or first[1].get("kind") != "export" or \
                first[1].get("format") != FORMAT:
            raise Unreadable(f"{path}: not a chain export ({FORMAT}): its first line is no "
                             "header")
        head = first[1]
        start, end = _int(head.get("from"), path), _int(head.get("to"), path)
        before = _hex(head.get("previous_hash"), f"{path}, header")
        if index == 0:
            if self._start(path, start, head.get("previous_notification_id"), before):
                return True
            self.report.range_from = start
        elif start <= (self.report.range_to or 0) or before != self.link:
            return self._stop(start, "files do not join", f"{path} starts at notification id "
                              f"{start} after the link {before.hex()}, where the file before "
                              f"it ended at {self.report.range_to} with {self.link.hex()}")
        self.report.range_to = end
        counts = {"event": 0, "withheld": 0, "link": 0, "anchor": 0}
        ended: dict[str, Any] | None = None
        last: int | None = None
        for number, line in lines:
            where = f"{path}, line {number}"
            kind = line["kind"]
            if ended is not None:
                return self._stop(last, "export changed", f"{where}: a line after the end line")
            if kind == "end":
                ended = line
                continue
            if kind == "anchor":
                counts["anchor"] += 1
                found = parse_anchor(line.get("anchor"), f"{where} (recorded in the export)",
                                     False)
                self.anchors.setdefault(found.notification_id, []).append(found)
                continue
            if kind not in ("event", "withheld", "link"):
                raise Unreadable(f"{where}: unknown kind {kind!r}")
            counts[kind] += 1
            current = _int(line.get("notification_id"), where)
            if (last is not None and current <= last) or current < start or current > end:
                return self._stop(current, "out of order", f"{where}: notification id "
                                  f"{current} after {last} in the range {start}-{end}")
            last = current
            if self._link(current, kind, line, where):
                return True
        if ended is None:
            return self._stop(last, "export incomplete", f"{path} has no end line: cut short "
                              "after its last line")
        shown = {"event": ended.get("events"), "withheld": ended.get("withheld"),
                 "link": ended.get("links_without_event"), "anchor": ended.get("anchors")}
        if shown != counts or ended.get("last_notification_id") != last:
            return self._stop(last, "export incomplete", f"{path}: its end line counts "
                              f"{shown} to notification id {ended.get('last_notification_id')}"
                              f", the file holds {counts} to {last}")
        return False

    def _start(self, path: str, start: int, before_id: object, before: bytes) -> bool:
        report = self.report
        report.previous_hash = before.hex()
        if before_id is None:
            if before != GENESIS:
                return self._stop(start, "range does not join", f"{path}: no event before "
                                  "the range, yet its previous link is not 32 zero bytes")
            report.previous_checked = "the genesis (no event before the range)"
        if self.previous_given is not None:
            if before != self.previous_given:
                return self._stop(start, "range does not join", f"the export starts after "
                                  f"the link {before.hex()}, not the one given "
                                  f"({self.previous_given.hex()})")
            report.previous_checked = "the link given with --previous"
        if isinstance(before_id, int):
            for anchor in self.anchors.get(before_id, []):
                if anchor.hash != before.hex():
                    return self._stop(before_id, "anchor differs", f"{anchor.source}: "
                                      f"{anchor.hash}; the export's link before its range: "
                                      f"{before.hex()}")
                self.met.add(before_id)
                if anchor.witnessed:
                    report.witnessed_checked += 1
                    report.previous_checked = f"witnessed ({anchor.source})"
                    report.witnessed_to = before_id
        self.link = before
        return False

    def _link(self, number: int, kind: str, line: dict[str, Any], where: str) -> bool:
        report = self.report
        stored = line.get("hash")
        if _hex(line.get("previous_hash"), where) != self.link:
            return self._stop(number, "chain gap", f"{where}: its previous link "
                              f"{line.get('previous_hash')} is not the last link before it "
                              f"({self.link.hex()}): a line removed or moved?")
        if kind == "link":
            return self._stop(number, "link without event", f"{where}: the log holds the "
                              "link of no event")
        if stored is None:
            return self._stop(number, "link missing", f"{where}: an event without its link")
        claimed = _hex(stored, where)
        if kind == "withheld":
            computed = claimed  # another store's event: its link is taken as exported
            report.withheld += 1
        else:
            try:
                state = base64.b64decode(str(line.get("state")), validate=True)
                event = message(number, uuid.UUID(str(line.get("stream_id"))),
                                _int(line.get("stream_version"), where),
                                str(line.get("topic")), state)
            except (ValueError, binascii.Error) as exc:
                raise Unreadable(f"{where}: not an event ({exc})") from None
            computed = link(self.link, event)
            if computed != claimed:
                return self._stop(number, "event changed", f"stored link {claimed.hex()}, "
                                  f"recomputed {computed.hex()}: the event's bytes or the "
                                  "chain before it changed (an event edited, removed, "
                                  "inserted or moved)")
            report.events += 1
        for anchor in self.anchors.get(number, []):
            if anchor.hash != computed.hex():
                return self._stop(number, "anchor differs", f"{anchor.source}: {anchor.hash}"
                                  f"; recomputed {computed.hex()}")
            if anchor.witnessed:
                report.witnessed_checked += 1
                report.witnessed_to = number
            else:
                report.recorded_checked += 1
        self.met.add(number)
        report.first_id = report.first_id or number
        report.last_id, report.head_hash, self.link = number, computed.hex(), computed
        return False

    def unmet(self, partial: bool) -> None:
        """Anchors whose event the export did not hold."""
        report = self.report
        low, high = report.range_from or 0, report.range_to or 0
        last = report.last_id or 0
        for number in sorted(set(self.anchors) - self.met):
            anchor = self.anchors[number][0]
            if number < low:
                report.outside.append(number)  # before the range: not checked
            elif number <= last:
                self._stop(number, "anchor without its event", f"{anchor.source}: the export "
                           "holds no event with its id")
            elif number <= high or not partial:
                self._stop(number, "anchor beyond the export", f"{anchor.source} names "
                           f"notification id {number}; the export's last event is {last or None}"
                           " (the log's end cut off, or the export cut short; --partial if "
                           "it is meant to stop before the anchors)")
            else:
                report.outside.append(number)
            if report.broken:
                return


def verify(paths: list[str], witness: list[str], given: list[str], previous: str | None,
           partial: bool) -> Report:
    report = Report()
    anchors: dict[int, list[Anchor]] = {}
    for path in witness:
        found, broken, unlinked = witness_lines(path)
        report.witness_files[path] = broken
        if unlinked:
            report.unlinked_lines[path] = unlinked
        for anchor in found:
            anchors.setdefault(anchor.notification_id, []).append(anchor)
    for text in given:
        anchor = parse_anchor(text, f"--anchor {text}", True)
        anchors.setdefault(anchor.notification_id, []).append(anchor)
    walk = Walk(report, anchors, None if previous is None else _hex(previous, "--previous"))
    walk.run(paths)
    if report.broken is None:
        walk.unmet(partial)
    return report


def print_report(report: Report, out: Any) -> None:
    def say(text: str) -> None:
        print(text, file=out)

    say(f"export: {', '.join(report.files)}")
    say(f"range: notification ids {report.range_from} to {report.range_to}; link before it "
        f"{report.previous_hash} ({report.previous_checked})")
    say(f"events: {report.events} links recomputed, notification ids {report.first_id} to "
        f"{report.last_id}; last link {report.head_hash}")
    if report.withheld:
        say(f"withheld: {report.withheld} events of stores the export's token does not cover; "
            "their links were taken as exported, not recomputed")
    say(f"anchors: {report.witnessed_checked} witnessed and {report.recorded_checked} "
        "recorded in the export matched")
    if report.outside:
        shown = ", ".join(str(n) for n in report.outside[:10])
        say(f"not checked: {len(report.outside)} witnessed anchor(s) outside the export's "
            f"range (notification ids {shown}{', …' if len(report.outside) > 10 else ''})")
    for path, broken in report.witness_files.items():
        lines = report.unlinked_lines.get(path)
        say(f"witness file {path}: " + (f"BROKEN: {broken}" if broken else
                                       "its chain of lines is whole")
            + (f" ({lines} line(s) carry no link)" if lines else ""))
    if report.ok and (report.witnessed_to or 0) < (report.last_id or 0):
        after = "no witnessed anchor was met" if report.witnessed_to is None else \
            f"the events after notification id {report.witnessed_to}"
        say(f"not witnessed: {after}: those links agree with one another, but nothing kept "
            "outside the database vouches for them")
    if report.broken is not None:
        say(f"BROKEN at notification id {report.broken.notification_id}: "
            f"{report.broken.reason}: {report.broken.detail}")
    elif not report.ok:
        say("BROKEN: a witness file's own chain of lines")
    else:
        say("OK: one unbroken chain")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("exports", nargs="+", help="export files, in notification order")
    parser.add_argument("--witness", action="append", default=[], metavar="FILE",
                        help="a witness file of anchors (JSON lines; repeatable)")
    parser.add_argument("--anchor", action="append", default=[], metavar="N:HEX",
                        help="an anchor kept outside (a printed day-end report; repeatable)")
    parser.add_argument("--previous", default=None, metavar="HEX",
                        help="the link the range must start after (the last link of the "
                             "export before it)")
    parser.add_argument("--partial", action="store_true",
                        help="the export is meant to stop before later witnessed anchors: "
                             "list them, not a break")
    parser.add_argument("--json", action="store_true", help="one JSON line, not the report")
    args = parser.parse_args(argv)
    try:
        report = verify(args.exports, args.witness, args.anchor, args.previous, args.partial)
    except Unreadable as exc:
        print(f"verify_chain: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print_report(report, sys.stdout)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
