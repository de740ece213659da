"""Command line: `ketamon` starts the app; subcommands administer, print and export.

    ketamon [--db URL] [--demo] [--screenshot out.png [--size WxH] [--page TITLE]]
    ketamon users add|list|disable|enable|reset-password ...
    ketamon report SESSION --user NAME --pdf out.pdf
    ketamon export SESSION --user NAME --fhir out.json | --csv out.csv | --form-json out.json
    ketamon audit verify
    ketamon db upgrade|check|backup FILE
    ketamon watch
    ketamon feed simulate --to 127.0.0.1:2575 --chair CHAIR3   # a bedside monitor

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
from ketamon.commands import feed as feed_cmd
from ketamon.commands.common import (  # noqa: F401  (the entry points scripts and tests import from here)
    CHOOSE_DATABASE, EXIT_DATABASE, EXIT_FAULT, EXIT_REFUSED, CommandFailed, command_parser, database_options,
    open_store, resolve_url, shown_url)
from ketamon.commands import records as records_cmd
from ketamon.commands import users as users_cmd
from ketamon.commands import db as db_cmd
from ketamon.commands import watch as watch_cmd

log = logging.getLogger("ketamon")

EXAMPLES = """\
examples:
  ketamon --demo                                   # the demo clinic (created on first use)
  ketamon --db /srv/ketamon/clinic.sqlite3         # the clinic's database
  ketamon users add lan --role nurse               # asks for the name and the password
  ketamon report 3 --user desk --pdf summary.pdf   # asks for desk's password
  echo desk-demo | ketamon --demo report 1 --user desk --password-stdin --pdf out.pdf
  ketamon audit verify
  ketamon feed simulate --to 127.0.0.1:2575 --chair CHAIR3   # a bedside monitor

`ketamon COMMAND --help` shows each command's options and an example.
"""


def window_size(text: str) -> tuple[int, int]:
    """'1366x768' → (1366, 768); anything else is refused in one sentence."""
    width, sep, height = text.lower().replace("×", "x").partition("x")
    try:
        size = (int(width), int(height)) if sep else None
    except ValueError:
        size = None
    if size is None or not (320 <= size[0] <= 10000 and 240 <= size[1] <= 10000):
        raise argparse.ArgumentTypeError(f"{text!r} is not a window size: give width x height in pixels, "
                                         "e.g. 1366x768 (from 320x240 to 10000x10000)")
    return size


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
    parser.add_argument("--size", metavar="WxH", type=window_size,
                        help="with --screenshot: the window's size in pixels (default 1440x900), e.g. 1366x768")
    parser.add_argument("--page", metavar="TITLE", help="with --screenshot: show this page (tab title), "
                        "e.g. 'Alert review' or 'Records'")
    parser.add_argument("--session", type=int, metavar="ID", help="open this session's chart")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    users_cmd.register(sub)
    records_cmd.register(sub)
    audit_cmd.register(sub)
    db_cmd.register(sub)
    watch_cmd.register(sub)
    feed_cmd.register(sub)
    return parser


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
