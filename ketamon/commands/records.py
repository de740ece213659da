"""`ketamon report` and `ketamon export`: a session's printed summary or
monitoring form as PDF, and its FHIR R4 / CSV / monitoring-form exports, headless.

    ketamon report SESSION --pdf out.pdf [--letter] [--form] [--as USER]
    ketamon export SESSION --fhir out.json | --csv out.csv | --form-json out.json [--as USER]

Who acts: `--as USERNAME`, else the environment variable KETAMON_USER, else the
first active front-desk (staff) account, else the first active nurse. Prints and
exports are role-checked and written to the audit trail under that user, before
the file is written; a refusal writes nothing. `-` as the output writes an export
to standard output.
"""
from __future__ import annotations

import argparse
import sys

from ketamon.core.permissions import Actor


def register(sub) -> None:
    db_help = "database URL or SQLite file (same as ketamon --db)"
    as_help = "act as this user (default: $KETAMON_USER, else the first active front-desk or nurse account)"

    report = sub.add_parser("report", help="print a session's summary (or its esketamine monitoring form) to PDF",
                            description="Print a session's summary, or with --form its esketamine monitoring "
                                        "form, to a PDF file. The print is recorded in the audit trail.")
    report.add_argument("session", type=int, metavar="SESSION", help="the session number")
    report.add_argument("--pdf", required=True, metavar="FILE", help="the PDF file to write")
    paper = report.add_mutually_exclusive_group()
    paper.add_argument("--letter", action="store_true", help="US Letter paper (default A4)")
    paper.add_argument("--a4", action="store_true", help="A4 paper (the default)")
    report.add_argument("--form", action="store_true", help="the esketamine monitoring form instead of the summary")
    report.add_argument("--as", dest="as_user", metavar="USER", help=as_help)
    report.set_defaults(func=cmd_report)

    export = sub.add_parser("export", help="export a session as FHIR R4 JSON, CSV, or monitoring-form JSON",
                            description="Export a session. The export is recorded in the audit trail.")
    export.add_argument("session", type=int, metavar="SESSION", help="the session number")
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--fhir", metavar="FILE", help="FHIR R4 Bundle (JSON)")
    what.add_argument("--csv", metavar="FILE", help="vital signs and events (CSV)")
    what.add_argument("--form-json", metavar="FILE", help="the esketamine monitoring form's fields (JSON)")
    export.add_argument("--as", dest="as_user", metavar="USER", help=as_help)
    export.set_defaults(func=cmd_export)

    for p in (report, export):
        # SUPPRESS: `ketamon --db X report 1 ...` must not be overwritten by the sub-parser's default
        p.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help=db_help)


class NoActor(Exception):
    pass


def acting_user(store, username: str | None = None) -> Actor:
    """The user a command-line print or export runs as (see the module doc)."""
    from sqlalchemy import select

    from ketamon.core import settings
    from ketamon.core.models import User

    username = (username or settings.get("user") or "").strip() or None
    with store.read() as db:
        if username is not None:
            u = db.scalar(select(User).where(User.username == username))
            if u is None:
                raise NoActor(f"There is no user {username!r}.")
            if not u.active:
                raise NoActor(f"The account {username!r} is disabled.")
        else:
            u = None
            for role in ("staff", "nurse"):
                u = db.scalar(select(User).where(User.role == role, User.active.is_(True)).order_by(User.id))
                if u is not None:
                    break
            if u is None:
                raise NoActor("No active front-desk or nurse account to act as: name one with --as USER.")
    return Actor(u.id, u.username, u.display_name, u.role)


def _open(args):
    from ketamon.cli import resolve_url
    from ketamon.core.store import Store

    return Store(resolve_url(args))


def _run(args, body) -> int:
    from ketamon.core.errors import KetamonError

    store = _open(args)
    try:
        actor = acting_user(store, args.as_user)
        return body(store, actor)
    except (KetamonError, NoActor, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except KeyError:
        print(f"There is no session {args.session}.", file=sys.stderr)
        return 1
    finally:
        store.dispose()


def cmd_report(args: argparse.Namespace) -> int:
    def body(store, actor) -> int:
        from ketamon.documents import pdf

        paper = "Letter" if args.letter else "A4"
        if args.form:
            pages = pdf.write_form_pdf(store, actor, args.session, args.pdf, paper)
            what = "Esketamine monitoring form"
        else:
            pages = pdf.write_summary_pdf(store, actor, args.session, args.pdf, paper)
            what = "Session summary"
        print(f"{what} of session {args.session}: {pages} page{'s' * (pages != 1)} ({paper}) → {args.pdf}")
        return 0

    return _run(args, body)


def _write(store, session_id: int, fmt: str, path: str) -> None:
    """Write the export as it is made: atomically to a file, or to stdout for '-'."""
    from ketamon.core.exporting import export_to, write_export

    if path == "-":
        export_to(store, session_id, fmt, sys.stdout)
    else:
        write_export(store, session_id, fmt, path)


def cmd_export(args: argparse.Namespace) -> int:
    def body(store, actor) -> int:
        from ketamon.core import ops

        fmt, path = ("fhir", args.fhir) if args.fhir else ("csv", args.csv) if args.csv else ("form", args.form_json)
        if fmt == "form":
            from ketamon.core.rems import form_required

            if not form_required(store, args.session):
                print(f"Session {args.session} does not need an esketamine monitoring form.", file=sys.stderr)
                return 1
        # audited (and role-checked) first: a refusal writes nothing
        ops.record_export(store, actor, args.session, fmt, destination=path if path != "-" else "standard output")
        _write(store, args.session, fmt, path)
        if path != "-":
            print(f"Session {args.session} exported as {ops.exports.EXPORTS[fmt]} → {path}")
        return 0

    return _run(args, body)
