"""`ketamon db ...`: the clinic IT's chores on the database itself.

    ketamon [--db URL] db upgrade        bring the schema to this ketamon's newest
    ketamon [--db URL] db check          connection, schema version, pending migrations, TLS
    ketamon [--db URL] db backup FILE    SQLite: an online copy; PostgreSQL: how to pg_dump

`check` exits 0 when the database can be used as it is (reachable, schema up to
date); 1 when it cannot (the lines say why). It changes nothing. `upgrade` is what
every workstation does on start; a clinic server runs it once, as the role that
owns the schema, so the workstations' role needs no right to change the schema
(README, "Running a clinic server").
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import time
from pathlib import Path

README_SECTION = 'the README, "Running a clinic server"'


def register(sub) -> None:
    from ketamon.commands.common import command_parser, database_options

    db = command_parser(sub, "db", help="upgrade, check or back up the clinic database",
                        example="ketamon --db postgresql://ketamon_owner@db.clinic/ketamon db upgrade\n"
                                "ketamon db check\nketamon db backup /mnt/backup/clinic-copy.sqlite3")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = command_parser(actions, "upgrade", help="bring the database's schema to this ketamon's newest",
                             example="ketamon --db postgresql://ketamon_owner@db.clinic/ketamon db upgrade")
    database_options(upgrade)
    upgrade.set_defaults(func=run_upgrade)
    check = command_parser(actions, "check", help="check the connection, the schema version and TLS",
                           example="ketamon --db 'postgresql://ketamon_app@db.clinic/ketamon?sslmode=verify-full' "
                                   "db check")
    database_options(check)
    check.set_defaults(func=run_check)
    backup = command_parser(actions, "backup", help="copy the SQLite database while it is in use (PostgreSQL: "
                            "prints the pg_dump command)", example="ketamon db backup /mnt/backup/clinic.sqlite3")
    database_options(backup)
    backup.add_argument("file", metavar="FILE", help="the copy to write (must not exist yet)")
    backup.set_defaults(func=run_backup)


def _engine(args: argparse.Namespace, *, create: bool):
    """The database's engine, never migrated here; a missing one is named."""
    from ketamon.commands.common import CHOOSE_DATABASE, EXIT_DATABASE, CommandFailed, resolve_url, shown_url
    from ketamon.core.store import NoDatabase, UnusableDatabase, make_engine

    url = resolve_url(args, create=create)
    try:
        return make_engine(url, create=create), shown_url(url)
    except NoDatabase as exc:
        raise CommandFailed(f"No ketamon database at {exc.where}. {CHOOSE_DATABASE}", EXIT_DATABASE) from None
    except UnusableDatabase as exc:
        raise CommandFailed(f"cannot open the database {shown_url(url)}: {exc}", EXIT_DATABASE) from None


def run_upgrade(args: argparse.Namespace) -> int:
    from ketamon.commands.common import EXIT_DATABASE, CommandFailed
    from ketamon.core.store import UnusableDatabase, migrate, schema_revision
    from ketamon.migrations import HEAD

    engine, where = _engine(args, create=True)
    try:
        before = schema_revision(engine)
        migrate(engine)
    except UnusableDatabase as exc:
        raise CommandFailed(f"cannot upgrade the database {where}: {exc}", EXIT_DATABASE) from None
    finally:
        engine.dispose()
    if before == HEAD:
        print(f"{where}: schema already at {HEAD}; nothing to do.")
    else:
        print(f"{where}: schema upgraded from {before or 'empty'} to {HEAD}.")
    return 0


def pending_revisions(current: str | None) -> list[str] | None:
    """The migrations between `current` and HEAD, oldest first; None when `current`
    is unknown to this ketamon (a newer ketamon made the database)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from ketamon.core.store import MIGRATIONS_DIR
    from ketamon.migrations import HEAD

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(cfg)
    if current is not None and current not in {r.revision for r in script.walk_revisions()}:
        return None
    return [r.revision for r in reversed(list(script.iterate_revisions(HEAD, current or "base")))]


def run_check(args: argparse.Namespace) -> int:
    from ketamon.commands.common import EXIT_REFUSED
    from ketamon.core.store import schema_revision
    from ketamon.migrations import HEAD

    engine, where = _engine(args, create=False)
    print(f"database: {where}")
    try:
        started = time.monotonic()
        with engine.connect() as conn:
            server, tls = _server(conn)
        print(f"connection: ok ({server}, {(time.monotonic() - started) * 1000:.0f} ms)")
        print(f"TLS: {tls}")
        current = schema_revision(engine)
    finally:
        engine.dispose()
    pending = pending_revisions(current)
    if pending is None:
        print(f"schema: {current}, made by a newer ketamon than this one (newest known: {HEAD}): update ketamon")
        return EXIT_REFUSED
    if pending:
        print(f"schema: {current or 'empty'}; {len(pending)} migration(s) to run ({', '.join(pending)}): "
              "run `ketamon db upgrade`")
        return EXIT_REFUSED
    print(f"schema: {current}, up to date")
    return 0


def _server(conn) -> tuple[str, str]:
    """(server and version, whether TLS protects the connection, in words)."""
    from sqlalchemy import text

    if conn.dialect.name == "sqlite":
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        return (f"SQLite {sqlite3.sqlite_version}, journal {mode}",
                "not applicable (a local file; protect it with the disk's encryption and its permissions)")
    version = conn.execute(text("SHOW server_version")).scalar()
    row = conn.execute(text("SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).first()
    if row is not None and row.ssl:
        tls = f"in use ({row.version}, {row.cipher})"
    else:
        tls = ("NOT in use: patient data crosses the network unencrypted; set up TLS on the server and use "
               f"sslmode=verify-full in the URL ({README_SECTION})")
    return f"PostgreSQL {version}", tls


def run_backup(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from ketamon.commands.common import EXIT_REFUSED, CommandFailed, resolve_url
    from ketamon.core.store import normalise_url

    url = make_url(normalise_url(resolve_url(args, create=False)))
    if url.get_backend_name() != "sqlite":
        print(pg_dump_command(url, args.file))
        print(f"A PostgreSQL server is backed up with pg_dump (and restored with pg_restore): see {README_SECTION}.")
        return EXIT_REFUSED
    source = Path(url.database or "")
    if not source.exists():
        from ketamon.commands.common import CHOOSE_DATABASE, EXIT_DATABASE

        raise CommandFailed(f"No ketamon database at {source}. {CHOOSE_DATABASE}", EXIT_DATABASE)
    pages = backup_sqlite(source, Path(args.file))
    print(f"{source} copied to {args.file} ({pages} pages; integrity ok).")
    return 0


def backup_sqlite(source: Path, target: Path) -> int:
    """SQLite's online backup: a consistent copy while workstations keep charting
    (each step waits for no writer longer than one page batch). The copy is made
    readable by its owner only, checked with integrity_check, and never overwrites
    a file. Returns the copy's page count."""
    from ketamon.commands.common import CommandFailed

    fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)  # FileExistsError: said by run_command
    os.close(fd)
    try:
        with sqlite3.connect(source, timeout=30) as src, \
                sqlite3.connect(target) as dst:
            src.backup(dst, pages=1024)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            pages = dst.execute("PRAGMA page_count").fetchone()[0]
        src.close()
        dst.close()
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if check != "ok":
        target.unlink(missing_ok=True)
        raise CommandFailed(f"the copy failed its integrity check ({check}); nothing was kept")
    return pages


def pg_dump_command(url, file: str) -> str:
    """The pg_dump line for this server (libpq URL, no password: pg_dump reads ~/.pgpass)."""
    import shlex

    plain = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return f"pg_dump --format=custom --file {shlex.quote(file)} {shlex.quote(plain)}"
