"""Command line: `ketamon` starts the app; subcommands administer and export.

    ketamon [--db URL] [--demo] [--screenshot out.png]
    ketamon users add|list|disable|reset-password ...
    ketamon report SESSION --pdf out.pdf
    ketamon export SESSION --fhir out.json | --csv out.csv
    ketamon audit verify
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from ketamon.commands import audit as audit_cmd
from ketamon.commands import records as records_cmd
from ketamon.commands import users as users_cmd

log = logging.getLogger("ketamon")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ketamon", description="Supervised ketamine session monitoring.")
    parser.add_argument("--db", metavar="URL", help="database URL or SQLite file (default: the user data dir; "
                        "env KETAMON_DATABASE_URL). PostgreSQL: postgresql://user@host/db?sslmode=require")
    parser.add_argument("--demo", action="store_true", help="open the demo database (created on first use)")
    parser.add_argument("--fresh-demo", action="store_true", help="with --demo: start the demo over")
    parser.add_argument("--screenshot", metavar="PNG", help="render the main window to PNG and exit")
    parser.add_argument("--page", metavar="TITLE", help="with --screenshot: show this page (tab title), "
                        "e.g. 'Alert review' or 'Records'")
    parser.add_argument("--session", type=int, metavar="ID", help="open this session's chart")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    users_cmd.register(sub)
    records_cmd.register(sub)
    audit_cmd.register(sub)
    return parser


def resolve_url(args: argparse.Namespace) -> str:
    from ketamon.core.store import default_url

    if args.db:
        return args.db
    return default_url(demo=bool(getattr(args, "demo", False)))


def main(argv: list[str] | None = None) -> int:
    from ketamon.core import settings

    logging.basicConfig(level=settings.get("log"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from ketamon import __version__

        print(f"ketamon {__version__}")
        return 0
    if args.command:
        return args.func(args)
    from ketamon.gui.app import run_app

    return run_app(args)
