"""`ketamon audit ...` subcommands.

    ketamon [--db URL] audit verify

Exit status 0 and "audit trail intact: N rows; M clinical rows match it" when
the hash chain, its head and every clinical row agree; exit status 1 otherwise,
the first problem on the first line and every other one (up to 50, then a count)
on the lines after, e.g. "vital_signs row 12 was changed outside ketamon after
audit row 40 (2026-11-20 09:40 by nurse)". Exit status 2 when the database cannot
be opened (an empty, damaged or other-schema database, or an unsafe audit key
file), in one sentence.

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
    audit = sub.add_parser("audit", help="check the audit trail")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    verify = actions.add_parser("verify", help="check that no audit row was altered, removed or reordered, and "
                                               "that every clinical row is as the audit trail last wrote it")
    # also accepted after the subcommand; SUPPRESS keeps a top-level --db
    verify.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help="database URL or SQLite file")
    verify.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from ketamon.cli import resolve_url
    from ketamon.core import audit
    from ketamon.core.store import Store

    url = resolve_url(args)
    try:
        key = audit.load_key()
    except audit.AuditKeyError as exc:
        print(f"cannot verify the audit trail: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        store = Store(url, read_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to open is reported, not traced
        print(f"cannot open the database {url}: {exc}", file=sys.stderr)
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
