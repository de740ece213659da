"""Command line: `ketamon` starts the app; subcommands administer, print and export.

    ketamon [--db URL] [--demo] [--screenshot out.png]
    ketamon users add|list|disable|enable|reset-password ...
    ketamon report SESSION --user NAME --pdf out.pdf
    ketamon export SESSION --user NAME --fhir out.json | --csv out.csv | --form-json out.json
    ketamon audit verify

Commands never surprise: one that reads a database never creates one (only the
app's first start, `--demo` and the first administrator's `users add` do), and
every failure is one sentence on standard error with a non-zero exit status (1: a
refusal; 2: the database cannot be used; 70: a fault in ketamon, whose traceback
goes to the log file only, never to the terminal).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ketamon.commands import audit as audit_cmd
from ketamon.commands import records as records_cmd
from ketamon.commands import users as users_cmd

log = logging.getLogger("ketamon")

EXIT_REFUSED = 1
EXIT_DATABASE = 2
EXIT_FAULT = 70  # EX_SOFTWARE

#: said after "No ketamon database at X." by every command that reads one
CHOOSE_DATABASE = "Use --db FILE or KETAMON_DATABASE_URL, or --demo for the demo database."

EXAMPLES = """\
examples:
  ketamon --demo                                   # the demo clinic (created on first use)
  ketamon --db /srv/ketamon/clinic.sqlite3         # the clinic's database
  ketamon users add lan --role nurse               # asks for the name and the password
  ketamon report 3 --user desk --pdf summary.pdf   # asks for desk's password
  echo desk-demo | ketamon --demo report 1 --user desk --password-stdin --pdf out.pdf
  ketamon audit verify

`ketamon COMMAND --help` shows each command's options and an example.
"""


class CommandFailed(Exception):
    """A command's refusal as one sentence for standard error; `status` is the exit status."""

    def __init__(self, sentence: str, status: int = EXIT_REFUSED):
        super().__init__(sentence)
        self.status = status


def command_parser(sub, name: str, *, help: str, example: str, description: str | None = None,
                   **kwargs) -> argparse.ArgumentParser:
    """A sub-command whose --help ends with a real example (kept true by tests/test_cli.py).
    Description paragraphs without line breaks of their own are wrapped to 78 columns."""
    import textwrap

    text = description or help[:1].upper() + help[1:] + "."
    text = "\n\n".join(para if "\n" in para else textwrap.fill(para, 78) for para in text.split("\n\n"))
    examples = "\n".join("  " + line for line in example.strip("\n").splitlines())
    return sub.add_parser(name, help=help, description=text, epilog=f"example{'s' * (examples.count(chr(10)) > 0)}:\n"
                          f"{examples}\n", formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def database_options(parser: argparse.ArgumentParser) -> None:
    """--db and --demo, also accepted after the sub-command. SUPPRESS: `ketamon --db X
    users list` must not be overwritten by the sub-parser's default."""
    parser.add_argument("--db", metavar="URL", default=argparse.SUPPRESS,
                        help="database URL or SQLite file (same as ketamon --db; env KETAMON_DATABASE_URL)")
    parser.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="the demo database (same as ketamon --demo; made with its demo data on first use)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ketamon", description="Supervised ketamine session monitoring.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", metavar="URL", help="database URL or SQLite file (default: the user data dir; "
                        "env KETAMON_DATABASE_URL). PostgreSQL: postgresql://user@host/db?sslmode=require")
    parser.add_argument("--demo", action="store_true",
                        help="use the demo database (created with its demo data on first use); "
                             "for the app and for every command")
    parser.add_argument("--fresh-demo", action="store_true", help="with --demo: start the demo over")
    parser.add_argument("--screenshot", metavar="PNG", help="render the main window to PNG and exit")
    parser.add_argument("--page", metavar="TITLE", help="with --screenshot: show this page (tab title), "
                        "e.g. 'Alert review' or 'Records'")
    parser.add_argument("--session", type=int, metavar="ID", help="open this session's chart")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    users_cmd.register(sub)
    records_cmd.register(sub)
    audit_cmd.register(sub)
    return parser


def resolve_url(args: argparse.Namespace, *, create: bool = True) -> str:
    from ketamon.core.store import default_url

    if args.db:
        return args.db
    return default_url(demo=bool(getattr(args, "demo", False)), create=create)


def shown_url(url: str) -> str:
    """The database as a person would name it: the file's path, or the URL without its password."""
    from sqlalchemy.engine import make_url

    from ketamon.core.store import normalise_url

    try:
        u = make_url(normalise_url(url))
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given
        return url
    if u.get_backend_name() == "sqlite":
        return u.database or url
    return u.render_as_string(hide_password=True)


def open_store(args: argparse.Namespace, *, create: bool = False):
    """The database a command works on. `--demo`: the demo database, created and
    seeded on first use. Otherwise it must exist unless `create` (only the first
    administrator's `users add` passes it): a missing database is a CommandFailed
    naming the file looked for, and no file or folder is made."""
    from ketamon.core.store import NoDatabase, Store, UnusableDatabase

    url = resolve_url(args, create=create or bool(getattr(args, "demo", False)))
    try:
        if getattr(args, "demo", False):
            from ketamon.core.demo import open_demo

            return open_demo(url, fresh=bool(getattr(args, "fresh_demo", False)))
        return Store(url, create=create)
    except NoDatabase as exc:
        raise CommandFailed(f"No ketamon database at {exc.where}. {CHOOSE_DATABASE}", EXIT_DATABASE) from None
    except UnusableDatabase as exc:
        raise CommandFailed(f"cannot open the database {shown_url(url)}: {exc}", EXIT_DATABASE) from None


def log_file() -> Path:
    """Where a fault's traceback goes (the terminal gets one sentence)."""
    import platformdirs

    from ketamon.core import settings

    folder = settings.get("data_dir") or Path(platformdirs.user_log_dir("ketamon", appauthor=False))
    return Path(folder) / "ketamon-command.log"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_command(args: argparse.Namespace) -> int:
    """Run a sub-command; whatever goes wrong becomes one sentence and an exit status."""
    from sqlalchemy.exc import SQLAlchemyError

    from ketamon.core.errors import KetamonError

    def say(sentence: str) -> None:
        print(sentence, file=sys.stderr)

    try:
        return args.func(args)
    except CommandFailed as exc:
        say(str(exc))
        return exc.status
    except KetamonError as exc:
        say(str(exc))
        return EXIT_REFUSED
    except KeyboardInterrupt:
        say("Interrupted: nothing more was done.")
        return 130
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        say(f"{exc.strerror or exc}{where}.")
        return EXIT_REFUSED
    except SQLAlchemyError as exc:  # values are never in these messages (hide_parameters)
        say(f"The database could not be used: {_first_line(exc)}")
        return EXIT_DATABASE
    except Exception as exc:  # noqa: BLE001 - a fault: a sentence here, the traceback in the log
        path = log_file()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            handler = logging.FileHandler(path, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            faults = logging.getLogger("ketamon.command-fault")
            faults.propagate = False  # the terminal's handler must not print the traceback
            faults.addHandler(handler)
            try:
                faults.error("ketamon %s failed", args.command, exc_info=exc)
            finally:
                faults.removeHandler(handler)
                handler.close()
            where = f"the details are in {path}"
        except OSError:
            where = "the details could not be written to a log file"
        say(f"ketamon {args.command} failed because of a fault in ketamon ({type(exc).__name__}); {where}.")
        return EXIT_FAULT


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
        return run_command(args)
    from ketamon.gui.app import run_app

    return run_app(args)
