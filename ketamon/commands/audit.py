"""`ketamon audit ...` subcommands.

    ketamon [--db URL] audit verify

Exit status 0 and "audit trail intact: N rows" when the hash chain and its head
agree; exit status 1 and the first bad row otherwise (2 when the database cannot
be opened: missing, empty, damaged, read-only or newer, named in one sentence;
a missing database is never created).
Reads only: verifying changes nothing. The trail is streamed in id order, so a
clinic's millions of rows are checked in a few megabytes of memory.
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
    verify = command_parser(actions, "verify", help="check that no audit row was altered, removed or reordered",
                            description="Check that no audit row was altered, removed or reordered. Exit "
                                        "status 0: intact; 1: the first bad row is named; 2: the database "
                                        "cannot be opened.",
                            example="ketamon audit verify --db /srv/ketamon/clinic.sqlite3\n"
                                    "ketamon --demo audit verify          # the demo database")
    database_options(verify)
    verify.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from ketamon.commands.common import CommandFailed, open_store
    from ketamon.core import audit

    try:
        store = open_store(args)
    except CommandFailed as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    try:
        with store.read() as db:
            result = audit.verify(db)
    finally:
        store.dispose()
    if result.ok:
        print(f"audit trail intact: {result.rows} rows")
        return EXIT_INTACT
    where = f"row {result.bad_id}" if result.bad_id is not None else "the audit head"
    print(f"audit trail BROKEN at {where}: {result.problem}", file=sys.stderr)
    return EXIT_BROKEN
