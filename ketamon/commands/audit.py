"""`ketamon audit ...` subcommands.

    ketamon [--db URL] audit verify

Exit status 0 and "audit trail intact: N rows" when the hash chain and its head
agree; exit status 1 and the first bad row otherwise (2 when the database cannot
be opened: an empty, damaged, read-only or newer database, named in one sentence).
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
    audit = sub.add_parser("audit", help="check the audit trail")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    verify = actions.add_parser("verify", help="check that no audit row was altered, removed or reordered")
    # also accepted after the subcommand; SUPPRESS keeps a top-level --db
    verify.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help="database URL or SQLite file")
    verify.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from ketamon.cli import resolve_url
    from ketamon.core import audit
    from ketamon.core.store import Store

    url = resolve_url(args)
    try:
        store = Store(url)
    except Exception as exc:  # noqa: BLE001 - any failure to open is reported, not traced
        print(f"cannot open the database {url}: {exc}", file=sys.stderr)
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
