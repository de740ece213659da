"""What every command shares: its parser (an example in every --help), the
database options, opening the database without ever creating one by surprise,
and a refusal as one sentence with an exit status. Below ketamon.cli in the
import order: commands import this, never ketamon.cli (which also starts the GUI)."""
from __future__ import annotations

import argparse

EXIT_REFUSED = 1
EXIT_DATABASE = 2
EXIT_FAULT = 70  # EX_SOFTWARE

#: said after "No ketamon database at X." by every command that reads one
CHOOSE_DATABASE = "Use --db FILE or KETAMON_DATABASE_URL, or --demo for the demo database."

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


def open_store(args: argparse.Namespace, *, create: bool = False, read_only: bool = False):
    """The database a command works on. `--demo`: the demo database, created and
    seeded on first use. Otherwise it must exist unless `create` (only the first
    administrator's `users add` passes it): a missing database is a CommandFailed
    naming the file looked for, and no file or folder is made. `read_only`
    (`audit verify`): opened for reading only, never migrated."""
    from ketamon.core.store import NoDatabase, Store, UnusableDatabase

    url = resolve_url(args, create=create or bool(getattr(args, "demo", False)))
    try:
        if getattr(args, "demo", False):
            from ketamon.core.demo import open_demo

            demo = open_demo(url, fresh=bool(getattr(args, "fresh_demo", False)))
            if not read_only:
                return demo
            demo.dispose()
        return Store(url, create=create, read_only=read_only)
    except NoDatabase as exc:
        raise CommandFailed(f"No ketamon database at {exc.where}. {CHOOSE_DATABASE}", EXIT_DATABASE) from None
    except UnusableDatabase as exc:
        raise CommandFailed(f"cannot open the database {shown_url(url)}: {exc}", EXIT_DATABASE) from None
