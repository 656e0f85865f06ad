"""A technician with three years of shifts: its snapshot, a cold load and a command.

Each week the manager plans the next week's five shifts and records Monday's attendance
(156 weeks: 785 shifts, 156 attendance records, ~315 events). Two technicians get the same
history: one with the state as it was (every day kept: `kept_from` patched to keep all), one
with the bounded state (domain/technician.py `PAST_DAYS`). The rounds alternate between them:

- snapshot: `Snapshot.take` and its encoding, as a save every SNAPSHOT_EVERY events does;
- cold load: a process without the technician in memory loads its snapshot (and the events
  after it);
- command: a warm process plans a shift (copy from the cache, decide, save), SNAPSHOT_EVERY
  times a round (one snapshot among them).

    python -m bench.technician_state [--server embedded|local|env|URL] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from eventsourcing.domain import Snapshot

import domain.technician
from bench.common import (
    Report,
    Server,
    bench_parser,
    each_call,
    ensure_yardstick,
    main_wrapper,
    run_threads,
    system,
    temporary_database,
)
from domain.application import SNAPSHOT_EVERY, ServiceCore
from domain.common import Caller
from domain.technician import Technician
from domain.technicians import Technicians
from servicecore.container import eventsourcing_env

NAME = "technician_state"
FIRST_MONDAY = date(2023, 1, 2)
WEEKS = 156


def _request(day: date) -> Any:
    from domain.application import Request

    at = datetime.combine(day, time(1, 0), tzinfo=UTC)
    return Request(Caller("bench-mgr", "manager", ("S01",), at, "bench", None))


def _week(monday: date) -> list[dict[str, Any]]:
    return [{"day": (monday + timedelta(days=n)).isoformat(), "start": "08:30",
             "end": "17:30", "break_minutes": 60} for n in range(5)]


@contextlib.contextmanager
def _keeping_every_day(on: bool) -> Iterator[None]:
    """The state as it was before it was bounded: no day is ever forgotten."""
    kept_from = domain.technician.kept_from
    if on:
        domain.technician.kept_from = lambda at: ""
    try:
        yield
    finally:
        domain.technician.kept_from = kept_from


def _employ(people: Technicians, user: str) -> date:
    people.set_profile(_request(FIRST_MONDAY), user, store_id="S01", skills={"maintenance": 2},
                       hourly_cost="80.00")
    people.plan_shifts(_request(FIRST_MONDAY), user, _week(FIRST_MONDAY))
    monday = FIRST_MONDAY
    for _ in range(WEEKS):
        people.record_attendance(_request(monday), user, day=monday.isoformat(),
                                 status="partial", hours="4")
        people.plan_shifts(_request(monday), user, _week(monday + timedelta(days=7)))
        monday += timedelta(days=7)
    return monday


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="ops")
    variants = {"before (every day kept)": True, "after (bounded)": False}
    with temporary_database(server, "tech") as url, system(url) as container:
        app = container.app
        people = Technicians(app)
        users = {label: f"tech-{n}" for n, label in enumerate(variants)}
        today = FIRST_MONDAY
        for label, every in variants.items():
            with _keeping_every_day(every):
                today = _employ(people, users[label])
                tech_id = Technician.create_id(users[label])
                tech = app.repository.get(tech_id)
                if tech.version % SNAPSHOT_EVERY:
                    app.take_snapshot(tech_id)
                encoded = app.mapper.to_stored_event(Snapshot.take(tech)).state
                report.notes[label] = {"events": tech.version, "shifts": len(tech.shifts),
                                       "attendance": len(tech.attendance),
                                       "snapshot_bytes": len(encoded)}
                print(f"{label}: {report.notes[label]}", flush=True)
        cold = ServiceCore(env={**eventsourcing_env(url, container.settings),
                                "AGGREGATE_CACHE_MAXSIZE": ""})
        try:
            for n in range(args.rounds):
                for label, every in variants.items():
                    tech_id = Technician.create_id(users[label])
                    with _keeping_every_day(every):
                        report.add(f"r{n} {label}: command", run_threads(1, each_call(
                            lambda u=users[label]: people.plan_shifts(
                                _request(today), u, _week(today)[:1])),
                            total_ops=SNAPSHOT_EVERY))  # the same events for both
                        if app.repository.get(tech_id).version % SNAPSHOT_EVERY:
                            app.take_snapshot(tech_id)  # the cold load starts from the head
                        report.add(f"r{n} {label}: snapshot", run_threads(1, each_call(
                            lambda i=tech_id: app.mapper.to_stored_event(
                                Snapshot.take(app.repository.get(i)))), duration=args.seconds))
                        report.add(f"r{n} {label}: cold load", run_threads(1, each_call(
                            lambda i=tech_id: cold.repository.get(i)), duration=args.seconds))
        finally:
            cold.close()
    report.save()
    return report


def parser() -> argparse.ArgumentParser:
    p = bench_parser(NAME, __doc__)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=3)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
