"""`ketamon audit ...` subcommands.

    ketamon [--db URL] audit verify

Exit status 0 and "audit trail intact: N rows; M clinical rows match it" when
the hash chain, its head and every clinical row agree; exit status 1 otherwise,
the first problem on the first line and every other one (up to 50, then a count)
on the lines after, e.g. "vital_signs row 12 was changed outside ketamon after
audit row 40 (2026-11-20 09:40 by nurse)". Exit status 2 when the database cannot
be opened (missing, empty, damaged or of another schema, or an unsafe audit
key file), in one sentence; a missing database is never created.

Opens the database read-only (SQLite `mode=ro`, PostgreSQL read-only
transactions) and never migrates it: a copy with mode 0444, or one on read-only
media, can be verified, and verifying changes nothing. Everything is streamed,
so a clinic's millions of rows are checked in a few megabytes of memory.
"""
from __future__ import annotations

import argparse
import sys

EXIT_INTACT = 0
EXIT_BROKEN = 1
EXIT_ERROR = 2


def register(sub) -> None:
    from ketamon.commands.common import command_parser, database_options

    audit = command_parser(sub, "audit", help="check the audit trail",
                           example="ketamon --db /srv/ketamon/clinic.sqlite3 audit verify")
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = command_parser(actions, "verify",
                            help="check the audit trail and that every clinical row is as it last wrote it",
                            description="Check that no audit row was altered, removed or reordered, and that "
                                        "every clinical row is as the audit trail last wrote it. Exit status "
                                        "0: intact; 1: each problem is named; 2: the database cannot be opened.",
                            example="ketamon audit verify --db /srv/ketamon/clinic.sqlite3\n"
                                    "ketamon audit verify --db copy.sqlite3   # a read-only copy will do\n"
                                    "ketamon --demo audit verify          # the demo database")
    database_options(verify)
    verify.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from ketamon.commands.common import CommandFailed, open_store
    from ketamon.core import audit

    try:
        key = audit.load_key()
    except audit.AuditKeyError as exc:
        print(f"cannot verify the audit trail: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        store = open_store(args, read_only=True)
    except CommandFailed as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    try:
        with store.read() as db:
            result = audit.verify(db, key=key)
    finally:
        store.dispose()
    if result.ok:
        sealed = "; sealed with the clinic key" if result.keyed else ""
        print(f"audit trail intact: {result.rows} rows; {result.record_rows} clinical rows match it{sealed}")
        return EXIT_INTACT
    where = f"row {result.bad_id}" if result.bad_id is not None else "the audit head"
    print(f"audit trail BROKEN at {where}: {result.problem}", file=sys.stderr)
    for line in result.findings[1:]:
        print(f"  {line}", file=sys.stderr)
    if result.more:
        print(f"  and {result.more} more problems", file=sys.stderr)
    return EXIT_BROKEN
