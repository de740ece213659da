"""`ketamon report` and `ketamon export`: a session's printed summary or
monitoring form as PDF, and its FHIR R4 / CSV / monitoring-form exports, headless.

    ketamon report SESSION --user NAME [--pdf out.pdf] [--letter] [--form]
    ketamon export SESSION --user NAME --fhir [out.json] | --csv [out.csv] | --form-json [out.json]

Who acts: the account named by --user (or KETAMON_USER), signed in with its
password (ketamon/commands/signin.py); there is no default account. Prints and
exports are role-checked and written to the audit trail under that person, before
the file is written; a refusal writes nothing. `-` as the output writes an export
to standard output; without a file name the file goes to the workstation's
documents folder (setting `documents_dir`), named from MRN, session and date.
Files are readable by their owner only (0600). The database must exist (`--demo`: the demo database, made on
first use); a missing one is named, never created.
"""
from __future__ import annotations

import argparse
import sys

from ketamon.commands.signin import SIGN_IN_HELP, add_sign_in_options, signed_in


def register(sub) -> None:
    from ketamon.commands.common import command_parser, database_options

    report = command_parser(
        sub, "report", help="print a session's summary (or its esketamine monitoring form) to PDF",
        description="Print a session's summary, or with --form its esketamine monitoring form, to a PDF "
                    "file. The print is recorded in the audit trail under the account signed in.\n\n"
                    + SIGN_IN_HELP,
        example="ketamon report 12 --user desk --pdf summary.pdf            # asks for desk's password\n"
                "ketamon report 12 --user desk --pdf form.pdf --form --letter\n"
                "echo desk-demo | ketamon --demo report 1 --user desk --password-stdin --pdf out.pdf")
    report.add_argument("session", type=int, metavar="SESSION", help="the session number")
    report.add_argument("--pdf", metavar="FILE", help="the PDF file to write (default: the documents folder, "
                                                      "named from MRN, session and date)")
    paper = report.add_mutually_exclusive_group()
    paper.add_argument("--letter", action="store_true", help="US Letter paper (default A4)")
    paper.add_argument("--a4", action="store_true", help="A4 paper (the default)")
    report.add_argument("--form", action="store_true", help="the esketamine monitoring form instead of the summary")
    add_sign_in_options(report)
    report.set_defaults(func=cmd_report)

    export = command_parser(
        sub, "export", help="export a session as FHIR R4 JSON, CSV, or monitoring-form JSON",
        description="Export a session. The export is recorded in the audit trail under the account signed "
                    "in.\n\n" + SIGN_IN_HELP,
        example="ketamon export 12 --user exports --password-file ~/.ketamon-pw --fhir bundle.json\n"
                "ketamon export 12 --user desk --csv -                   # CSV to standard output\n"
                "echo desk-demo | ketamon --demo export 1 --user desk --password-stdin --csv out.csv")
    export.add_argument("session", type=int, metavar="SESSION", help="the session number")
    what = export.add_mutually_exclusive_group(required=True)
    for flag, what_it_is in (("--fhir", "FHIR R4 Bundle (JSON)"), ("--csv", "vital signs and events (CSV)"),
                             ("--form-json", "the esketamine monitoring form's fields (JSON)")):
        what.add_argument(flag, metavar="FILE", nargs="?", const=IN_DOCUMENTS,
                          help=f"{what_it_is}; without FILE: the documents folder, named from MRN, session and date")
    add_sign_in_options(export)
    export.set_defaults(func=cmd_export)

    for p in (report, export):
        database_options(p)


#: an export flag given without FILE: write into the documents folder
IN_DOCUMENTS = ""


def _in_documents(store, session_id: int, kind: str) -> str:
    """The default file: the workstation's documents folder, named from MRN,
    session and date (never the current directory). KeyError: no such session."""
    from ketamon.core.exporting import suggested_path

    return str(suggested_path(store, session_id, kind))


def _run(args, body) -> int:
    """Open the database (never creating one), sign in, run `body(store, actor)`."""
    from ketamon.commands.common import open_store

    store = open_store(args)
    try:
        with signed_in(store, args) as actor:
            try:
                return body(store, actor)
            except KeyError:
                print(f"There is no session {args.session}.", file=sys.stderr)
                return 1
    finally:
        store.dispose()


def cmd_report(args: argparse.Namespace) -> int:
    def body(store, actor) -> int:
        from ketamon.documents import pdf

        paper = "Letter" if args.letter else "A4"
        path = args.pdf or _in_documents(store, args.session, "form_pdf" if args.form else "summary")
        if args.form:
            pages = pdf.write_form_pdf(store, actor, args.session, path, paper)
            what = "Esketamine monitoring form"
        else:
            pages = pdf.write_summary_pdf(store, actor, args.session, path, paper)
            what = "Session summary"
        print(f"{what} of session {args.session}: {pages} page{'s' * (pages != 1)} ({paper}) → {path}")
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

        fmt, path = next((f, p) for f, p in (("fhir", args.fhir), ("csv", args.csv), ("form", args.form_json))
                         if p is not None)
        if path == IN_DOCUMENTS:
            path = _in_documents(store, args.session, fmt)
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
