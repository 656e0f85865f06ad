"""The `servicecore` command line: serve, token, workers, projections, demo data."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import Any

from servicecore.settings import Settings

log = logging.getLogger("servicecore")


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.auth import mint_token
    from api.main import create_app
    from servicecore.container import build
    from servicecore.demo import load_demo

    container = build(settings)
    if settings.in_process_projections:
        container.start_projections()
    if args.demo and (container.app.recorder.max_notification_id() or 0) == 0:
        count = load_demo(container.work_orders, container.inventory, visits=args.demo_visits,
                          settlements=container.settlements, aftercare=container.aftercare)
        print(f"demo data: {count} visits loaded through the command path")
    base = f"http://{settings.host}:{settings.port}"
    print(f"\nservicecore on {base}  (docs {base}/docs, health {base}/health)", flush=True)
    if args.demo or settings.database_url is None:
        token = mint_token(settings.secret(), "demo-manager", "manager", ["*"])
        print(f"manager token (12 h):\n  export TOKEN={token}\n"
              f'  curl -H "Authorization: Bearer $TOKEN" {base}/work-orders\n', flush=True)
    try:
        uvicorn.run(create_app(container.api_context()), host=settings.host, port=settings.port,
                    log_level="info")
    finally:
        container.close()
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from api.auth import mint_token

    stores = ["*"] if args.stores == "*" else [s.strip() for s in args.stores.split(",") if s.strip()]
    print(mint_token(settings.secret(), args.user, args.role, stores, args.ttl))
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from servicecore.container import build

    if args.kind != "projections":
        print(f"worker {args.kind!r} is not available in this release", file=sys.stderr)
        return 2
    settings = settings.model_copy(update={"in_process_projections": False})
    container = build(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runners = container.make_runners()
    threads = [threading.Thread(target=r.run, args=(stop, container.database_url), daemon=True)
               for r in runners]
    for thread in threads:
        thread.start()
    log.info("projection worker running: %s", ", ".join(r.view.name for r in runners))
    stop.wait()
    for thread in threads:
        thread.join(timeout=10)
    container.close()
    return 0


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from servicecore.container import build
    from workers.projection_runner import rebuild

    container = build(settings)
    try:
        for view in container.views:
            if args.name in (None, view.name):
                figures = rebuild(container.app, container.pool, view,
                                  batch_size=settings.projection_batch_size)
                print(json.dumps({"projection": view.name, **figures}))
    finally:
        container.close()
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from servicecore.container import build

    build(settings.model_copy(update={"create_tables": True})).close()
    print("schema ready")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from servicecore.container import build
    from servicecore.demo import load_demo

    container = build(settings)
    try:
        def progress(done: int, total: int) -> None:
            bar = "#" * (30 * done // total)
            print(f"\r[{bar:<30}] {done}/{total}", end="", flush=True)

        stores = tuple(f"S{n:02d}" for n in range(1, args.stores + 1))
        load_demo(container.work_orders, container.inventory, visits=args.visits,
                  stores=stores, progress=progress, settlements=container.settlements,
                  aftercare=container.aftercare)
        print()
    finally:
        container.close()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="servicecore", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API (embedded PostgreSQL unless DATABASE_URL)")
    serve.add_argument("--demo", action="store_true", help="load demo visits into an empty store")
    serve.add_argument("--demo-visits", type=int, default=36)
    serve.set_defaults(run=_serve)
    token = sub.add_parser("token", help="mint a JWT for the configured secret")
    token.add_argument("--user", required=True)
    token.add_argument("--role", required=True)
    token.add_argument("--stores", required=True, help="comma-separated store ids, or *")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds")
    token.set_defaults(run=_token)
    worker = sub.add_parser("worker", help="run one worker process")
    worker.add_argument("kind", choices=["projections", "analytics", "relay"])
    worker.set_defaults(run=_worker)
    projections = sub.add_parser("projections", help="projection maintenance")
    psub = projections.add_subparsers(dest="action", required=True)
    rebuild = psub.add_parser("rebuild", help="rebuild from event 0 and swap in, while serving")
    rebuild.add_argument("--name", default=None)
    rebuild.set_defaults(run=_rebuild)
    migrate = sub.add_parser("migrate", help="create tables once (before scaled-out processes)")
    migrate.set_defaults(run=_migrate)
    demo = sub.add_parser("demo-data", help="generate visits through the command path")
    demo.add_argument("--visits", type=int, default=36)
    demo.add_argument("--stores", type=int, default=1)
    demo.set_defaults(run=_demo)
    return root


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parser().parse_args(argv)
    result: Any = args.run(args, Settings())
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
