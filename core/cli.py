"""The `lendline` command: migrate, serve, demo, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys

from core.config import ConfigError, current_settings
from core.ledger.cli import add_ledger_commands


async def _migrate() -> None:
    from core.accounts.roles import ensure_builtin_roles
    from core.db import close_db, init_db, migrate
    from core.system.seed import ensure_system_data

    await migrate()
    await init_db()
    try:
        await ensure_builtin_roles()
        await ensure_system_data()
    finally:
        await close_db()


def cmd_migrate(args: argparse.Namespace) -> int:
    asyncio.run(_migrate())
    print(f"Database migrated: {_safe_url(current_settings().database_url)}")
    return 0


def _safe_url(url: str) -> str:
    """The database URL without its password, for printing."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    return f"{scheme}://{creds.split(':')[0]}:***@{host}"


def _serve(host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    if workers > 1:
        uvicorn.run("schema.asgi:app", host=host, port=port, workers=workers, proxy_headers=True)
    else:
        from schema.app import create_app

        uvicorn.run(create_app(), host=host, port=port, proxy_headers=True)


def cmd_serve(args: argparse.Namespace) -> int:
    _serve(args.host, args.port, args.workers)
    return 0


async def _demo(password: str) -> list[str]:
    from core.db import close_db, init_db
    from core.demo import load_demo

    await _migrate()
    await init_db()
    try:
        return await load_demo(password)
    finally:
        await close_db()


def cmd_demo(args: argparse.Namespace) -> int:
    password = args.password or os.environ.get("LENDLINE_DEMO_PASSWORD") or secrets.token_hex(6)
    done = asyncio.run(_demo(password))
    for line in done:
        print(f"  {line}")
    if done:
        print(f"Demo accounts admin, maker1, checker1, viewer1 — password: {password}")
    else:
        print("Demo data already present (nothing changed); accounts keep the password they were created with.")
    print(f"GraphiQL: http://{args.host}:{args.port}/graphql")
    if not args.no_serve:
        _serve(args.host, args.port)
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    from schema.schema import SDL_PATH, export_sdl

    export_sdl()
    print(f"Wrote {SDL_PATH}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    if not current_settings().redis_url:
        print("lendline worker needs REDIS_URL; without it `lendline serve` runs the jobs in-process", file=sys.stderr)
        return 2
    from workers.settings import run

    run()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lendline", description="Lendline loan-operations platform")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the database migrations").set_defaults(func=cmd_migrate)
    for name, func, help_ in (("serve", cmd_serve, "run the API server"),
                              ("demo", cmd_demo, "migrate, load demo data and serve")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.set_defaults(func=func)
        if name == "serve":
            p.add_argument("--workers", type=int, default=1)
        else:
            p.add_argument("--password", help="password for the demo accounts (6–16 letters/digits)")
            p.add_argument("--no-serve", action="store_true", help="load the data and exit")
    sub.add_parser("export-schema", help="write schema/schema.graphql").set_defaults(func=cmd_export_schema)
    sub.add_parser("worker", help="run an arq worker: outbox jobs and scheduled tasks (needs REDIS_URL)"
                   ).set_defaults(func=cmd_worker)
    add_ledger_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
