"""The `servicecore` command line: serve, token, workers, projections, demo data."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from servicecore.analytics_commands import add_commands as add_analytics
from servicecore.audit_commands import add_commands as add_audit_chain
from servicecore.audit_exports import add_commands as add_audit_exports
from servicecore.booking_retention import add_commands as add_online_bookings
from servicecore.cli_args import whole
from servicecore.complaint_commands import add_commands as add_complaints
from servicecore.demo_commands import MAX_DEMO_VISITS
from servicecore.demo_commands import add_commands as add_demo_data
from servicecore.history_import import add_commands as add_import_history
from servicecore.invoice_commands import add_commands as add_invoice_numbers
from servicecore.kafka_commands import add_commands as add_kafka
from servicecore.settings import Settings

if TYPE_CHECKING:
    from workers.process import WorkerProcess
    from workers.supervisor import Supervisor

log = logging.getLogger("servicecore")


class _Stopped(Exception):
    """SIGTERM / SIGINT before uvicorn serves (or after): stop as cleanly as when serving."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    """The API until SIGTERM / SIGINT; then stop the loops, close the container, exit 0."""
    from api.auth import mint_token
    from api.main import create_app
    from servicecore import loop_states
    from servicecore.container import build
    from servicecore.demo import load_demo
    from servicecore.server import serve, serve_workers
    from servicecore.tracing import TracingUnavailable, install_tracing
    from workers.process import LoopDeaths

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stopped)
    try:
        container = build(settings)
    except _Stopped:
        return 0
    deaths = LoopDeaths(lambda: container.supervisor.ended() if container.supervisor else [],
                        "serve").start()  # an in-process loop that ended: exit 1
    try:
        if settings.in_process_projections:
            container.start_projections()
            container.start_analytics()
        if args.demo and (container.app.recorder.max_notification_id() or 0) == 0:
            count = load_demo(container.work_orders, container.inventory,
                              visits=args.demo_visits, settlements=container.settlements,
                              aftercare=container.aftercare)
            print(f"demo data: {count} visits loaded through the command path")
        base = f"http://{settings.host}:{settings.port}"
        print(f"\nservicecore on {base}  (docs {base}/docs, health {base}/health)", flush=True)
        if args.demo or settings.database_url is None:
            token = mint_token(settings.secret(), "demo-manager", "manager", ["*"])
            print(f"manager token (12 h):\n  export TOKEN={token}\n"
                  f'  curl -H "Authorization: Bearer $TOKEN" {base}/work-orders\n'
                  f"dashboard: open {base}/analytics/dashboard/login and paste the token (it "
                  f"becomes a session cookie, never part of a URL)\n", flush=True)
        app = create_app(container.api_context())
        try:  # also checks, before any worker process starts, that tracing can be had
            install_tracing(app, settings.tracing)
        except TracingUnavailable as exc:
            log.error("%s", exc)
            return 2
        container.start_backfill()  # in the background: it never holds the start
        if settings.workers > 1:
            # the worker processes build their containers from the environment, on this
            # database (the embedded one included); the JWT secret comes from the same place
            os.environ.setdefault("DATABASE_URL", container.database_url)
            # they answer /health for this process's loops too
            with loop_states.shared(container.loop_states, container.stops,
                                    container.analytics_progress):
                    serve_workers(host=settings.host, port=settings.port, workers=settings.workers,
                              header_timeout=settings.header_timeout_seconds,
                              body_timeout=settings.body_timeout_seconds,
                              shutdown_grace=settings.shutdown_grace_seconds,
                              log_level=settings.log_level)
        else:
            serve(app, host=settings.host, port=settings.port,
                  header_timeout=settings.header_timeout_seconds,
                  body_timeout=settings.body_timeout_seconds,
                  shutdown_grace=settings.shutdown_grace_seconds, log_level=settings.log_level)
    except _Stopped:
        log.info("stopped before serving")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # closing is bounded; let it finish
        deaths.stop()
        container.close()
    if deaths.fired.is_set():
        log.error("servicecore stopped because an in-process loop ended; exit status 1")
        return 1
    log.info("servicecore stopped cleanly")
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from api.auth import mint_token

    kept = settings.data_dir / "jwt-secret"
    if not settings.jwt_secret and not kept.exists():
        # A secret made up here would sign tokens no server accepts (401 "Signature
        # verification failed"): the usual cause is a command run outside the server's folder.
        print(f"no JWT secret: SERVICECORE_JWT_SECRET is not set and {kept.resolve()} does not "
              "exist. Run this where the server runs (the project's folder for `make run`), "
              "or set SERVICECORE_DATA_DIR or SERVICECORE_JWT_SECRET as the server has them; "
              "a server started once creates the file.", file=sys.stderr)
        return 2
    stores = ["*"] if args.stores == "*" else [s.strip() for s in args.stores.split(",") if s.strip()]
    print(mint_token(settings.secret(), args.user, args.role, stores, args.ttl))
    return 0


def _supervisor_of(processes: list[WorkerProcess]) -> Supervisor:
    """The running worker's supervisor (a loop that starts another runs under it)."""
    supervisor = processes[0].supervisor
    assert supervisor is not None
    return supervisor


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from servicecore.container import build
    from workers.health import WorkerHealth
    from workers.log_watch import LogWatch
    from workers.process import (
        WorkerProcess,
        analytics_details,
        analytics_probe,
        analytics_troubles,
        projection_probe,
    )
    from workers.projection_health import stalls, stops
    from workers.supervisor import Idle, Loop

    processes: list[WorkerProcess] = []  # the one below: its supervisor, once it runs
    idles: dict[str, Idle] = {}  # why a loop has nothing to do, for /health (supervisor.py)
    if args.kind in ("relay", "kafka-projection") and not settings.kafka_bootstrap_servers:
        print(f"worker {args.kind} needs KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    settings = settings.model_copy(update={"in_process_projections": False})
    container = build(settings)
    loops: list[tuple[str, Loop]]
    if args.kind == "analytics":
        loader = container.make_analytics_loader()
        loops = [("analytics", container.analytics_loop(loader))]
        health = WorkerHealth("analytics", [analytics_probe(container.app, loader)],
                              details=lambda: analytics_details(loader),
                              troubles=lambda: analytics_troubles(
                                  container.app, loader, settings.ready_max_stall_seconds))
    elif args.kind == "relay":
        relay = container.make_relay()
        loops = [("kafka-relay", relay.run)]
        health = WorkerHealth("relay", [relay.samples], details=relay.details,
                              troubles=relay.trouble.problems)
    elif args.kind == "kafka-projection":
        board = container.make_kafka_projection()
        loops = [("kafka-projection", board.run)]
        health = WorkerHealth("kafka-projection", [board.samples], details=board.details,
                              troubles=lambda: board.trouble.problems()
                              + board.stalls(settings.ready_max_stall_seconds))
    else:
        runners = container.make_runners()
        watch = LogWatch(container.app, settings.db_wait_deadline_seconds)
        for runner in runners:
            watch.subscribe(runner)
        loops = [("projection-log-watch", watch.run)]
        for name, loop, _up, idle in container.projection_loops(
                runners, lambda name, loop, up: _supervisor_of(processes).start(name, loop, up)):
            loops.append((name, loop))
            if idle is not None:
                idles[name] = idle
        loops += container.witness_loops() + container.booking_retention_loops()
        health = WorkerHealth("projections", [projection_probe(container.app, runners)],
                              details=lambda: {"active": [r.view.name for r in runners
                                                          if r.active],
                                               "stopped_at": stops(runners)},
                              troubles=lambda: [str(r.poison) for r in runners if r.poison]
                              + stalls(runners, settings.ready_max_stall_seconds))
    process = WorkerProcess(args.kind, loops, health, container.database_url,
                            settings.worker_metrics_host, settings.worker_metrics_port,
                            idles=idles)
    processes.append(process)
    try:
        return process.run()
    finally:
        container.close()


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Progress on stderr, one JSON line per projection on stdout.

    With `projection_rebuild_parallelism` > 1 and several projections to rebuild, that many
    run at once, each in a process of its own (spawned: its own interpreter, pool and
    connections); their progress is written as full lines, each labelled. The work-order view
    is filled in `projection_rebuild_partitions` hash partitions, one process each
    (servicecore/rebuilds.py).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from servicecore.partition_helpers import helpers_for

    # a partitioned view's helper processes start beside this one's imports and start-up
    in_here = args.name is not None or settings.projection_rebuild_parallelism <= 1
    helpers = helpers_for(settings, args.name) if in_here else None
    from servicecore.container import build
    from servicecore.rebuilds import rebuild_in_process, rebuild_view

    container = build(settings)
    try:
        views = [view for view in container.views if args.name in (None, view.name)]
        workers = min(settings.projection_rebuild_parallelism, len(views))
        if workers <= 1:
            for view in views:
                print(json.dumps(rebuild_view(
                    container, view, live=None,
                    helpers=helpers if view.partitioned_rebuild else None)), flush=True)
            return 0
        # The children connect where this process does (an embedded server stays up with it).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [pool.submit(rebuild_in_process, view.name, container.database_url)
                       for view in views]
            for future in as_completed(futures):
                print(json.dumps(future.result()), flush=True)
        return 0
    finally:
        container.close()
        if helpers is not None:
            helpers.close()


def _seed_board(args: argparse.Namespace, settings: Settings) -> int:
    from servicecore.container import build

    container = build(settings.model_copy(update={"in_process_projections": False}))
    try:
        print(json.dumps(container.seed_kafka_board()))
        return 0
    finally:
        container.close()


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    """As the owner (SERVICECORE_OWNER_DATABASE_URL): the event store, chain and grants; then
    the read-model tables as the application's role. The data backfills (the reservations of
    invoice numbers recorded before numbers were reserved) run once the API serves."""
    from servicecore.container import build, database_urls, migrate

    migrate(database_urls(settings), settings)
    build(settings.model_copy(update={"create_tables": True})).close()
    print("schema ready")
    return 0


def _probe(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when the URL answers 2xx within the timeout, else 1: the containers' health
    checks (docker-compose.yml; the image has no curl)."""
    import urllib.error
    import urllib.request

    url = args.url or f"http://127.0.0.1:{settings.port}/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:  # refused, timed out, no such host
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    if not 200 <= status < 300:
        print(f"{url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="servicecore", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API (embedded PostgreSQL unless DATABASE_URL)")
    serve.add_argument("--demo", action="store_true", help="load demo visits into an empty store")
    serve.add_argument("--demo-visits", type=whole(0, MAX_DEMO_VISITS), default=36)
    serve.set_defaults(run=_serve)
    token = sub.add_parser("token", help="mint a JWT for the configured secret")
    token.add_argument("--user", required=True)
    token.add_argument("--role", required=True)
    token.add_argument("--stores", required=True, help="comma-separated store ids, or *")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds")
    token.set_defaults(run=_token)
    worker = sub.add_parser("worker", help="run one worker process")
    worker.add_argument("kind", choices=["projections", "analytics", "relay",
                                                "kafka-projection"])
    worker.set_defaults(run=_worker)
    projections = sub.add_parser("projections", help="projection maintenance")
    psub = projections.add_subparsers(dest="action", required=True)
    rebuild = psub.add_parser("rebuild", help="rebuild from event 0 and swap in, while serving")
    rebuild.add_argument("--name", default=None)
    rebuild.set_defaults(run=_rebuild)
    psub.add_parser("seed-kafka-board", help="fill the Kafka board from the event store (the "
                    "broker no longer holds early messages)").set_defaults(run=_seed_board)
    add_analytics(sub)
    add_kafka(sub)
    audit = sub.add_parser("audit", help="integrity proof of the event log; auditors' exports")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    add_audit_chain(audit_sub)
    add_audit_exports(audit_sub)
    add_invoice_numbers(sub)
    add_online_bookings(sub)
    add_complaints(sub)
    add_import_history(sub)
    migrate = sub.add_parser("migrate", help="create tables once (before scaled-out processes)")
    migrate.set_defaults(run=_migrate)
    probe = sub.add_parser("probe", help="exit 0 when a health URL answers 2xx (container "
                                         "health checks)")
    probe.add_argument("url", nargs="?", default=None,
                       help="default: this process's API, http://127.0.0.1:$SERVICECORE_PORT"
                            "/health/ready; a worker: http://127.0.0.1:9100/health")
    probe.add_argument("--timeout", type=float, default=3.0, help="seconds")
    probe.set_defaults(run=_probe)
    add_demo_data(sub)
    return root


def _service(args: argparse.Namespace) -> str:
    """What the process is, on each of its log lines: api, worker-relay, projections, …"""
    if args.command == "serve":
        return "api"
    if args.command == "worker":
        return f"worker-{args.kind}"
    return str(args.command)


def unusable_settings(exc: ValidationError) -> str:
    """What is wrong with the environment's settings, one line each, naming the variable
    and never its value (a secret, a password in a URL)."""
    lines = ["servicecore: the configuration cannot be used:"]
    for error in exc.errors(include_input=False, include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = field if field.isupper() else "SERVICECORE_" + field.upper()  # an alias as is
        lines.append(f"  {name}: {error['msg']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from servicecore import logs

    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(unusable_settings(exc), file=sys.stderr)
        return 2
    service = _service(args)
    logs.configure(logs.resolve(settings.log_format, service == "api" or
                                service.startswith("worker-")),
                   service, settings.log_level)
    try:
        result: Any = args.run(args, settings)
    except Exception:  # a failure to start (no database, …): logged like any line, in its format
        log.exception("servicecore %s failed", args.command)
        return 1
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
