"""The database: engine set-up, migrations, transactions.

Durability on SQLite: WAL journal with synchronous=FULL, so a commit that has
returned is on disk and survives `kill -9` of the app or a power cut. Write
transactions start with BEGIN IMMEDIATE so two workstations never deadlock on a
read-then-write upgrade. The file is created readable by its owner only.

Several workstations on PostgreSQL: the schema check and upgrade run under a
session-level advisory lock (two workstations starting together on an empty
database: the second waits, then finds the schema ready), and one-time set-up
such as the first administrator takes a transaction-level one (`exclusive`).
Database errors never carry bound values (`hide_parameters`); what may be logged
of one is `ketamon.core.ops.base.safe_error_text`.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from importlib.resources import files
from pathlib import Path

import platformdirs
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from ketamon.core import settings
from ketamon.core.changes import this_workstation
from ketamon.core.clock import Clock, SystemClock
from ketamon.core.errors import KetamonError
from ketamon.core.protocols import ProtocolRegistry, default_registry

#: execution option marking a read-only transaction (SQLite: plain BEGIN)
READ_ONLY = "ketamon_read_only"

MIGRATIONS_DIR = Path(str(files("ketamon") / "migrations"))  # installed with the package


class UnusableDatabase(KetamonError):
    """This ketamon cannot open the database; the message says why, to follow
    "cannot open the database X: ". Raised before anything is written: the file
    stays as it was."""


class NoDatabase(KetamonError):
    """`Store(url, create=False)` found no ketamon database there (no SQLite file, or
    an empty database without ketamon's tables). Nothing was created; `where` names
    the file or URL looked at, so a command can say which one and how to pick another."""

    def __init__(self, where: str):
        super().__init__(f"No ketamon database at {where}.")
        self.where = where


NOT_KETAMON = "it is not a ketamon database (it holds other tables and no ketamon schema version)"


def data_dir(create: bool = True) -> Path:
    """`create=False`: only name it (a command that reads must not leave a folder behind)."""
    path = settings.get("data_dir") or Path(platformdirs.user_data_dir("ketamon", appauthor=False))
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def default_url(demo: bool = False, create: bool = True) -> str:
    env = settings.get("database_url")
    if env and not demo:
        return env
    name = "demo.sqlite3" if demo else "ketamon.sqlite3"
    return f"sqlite:///{data_dir(create) / name}"


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here; a bare path means an SQLite file."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _check_sqlite_file(path: Path) -> None:
    """Refuse, before SQLite touches it, a file ketamon must not open: read-only
    (nothing could be charted), or empty (SQLite would silently make a new, empty
    clinic database over it, and whoever gave that path meant some other file)."""
    if not path.exists():
        return
    if not os.access(path, os.R_OK | os.W_OK):
        raise UnusableDatabase("the file is read-only, and ketamon must be able to write to its database "
                               "(copy it somewhere writable or fix its permissions)")
    if path.stat().st_size == 0:
        raise UnusableDatabase("it is an empty file, not a ketamon database (remove it to start a new clinic "
                               "database there)")
    # Looked at read-only first: the connection pragmas (WAL) would rewrite the header
    # of any SQLite file, ketamon's or not.
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as con:
            tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise UnusableDatabase(f"it is not a ketamon database, or it is damaged ({exc})") from None
    if tables and "alembic_version" not in tables:
        raise UnusableDatabase(NOT_KETAMON)


def _create_private_file(path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    except FileExistsError:  # another workstation created it a moment ago
        return
    os.close(fd)


def _check_readable_sqlite_file(path: Path) -> None:
    """For a read-only open (`ketamon audit verify`): the file must exist and be
    ketamon's; write access is not needed."""
    if not path.exists():
        raise NoDatabase(str(path))  # nothing is made: a command says which file it looked for
    if not os.access(path, os.R_OK):
        raise UnusableDatabase("the file cannot be read (check its permissions)")
    if path.stat().st_size == 0:
        raise UnusableDatabase("it is an empty file, not a ketamon database (remove it to start a new clinic "
                               "database there)")


def make_engine(url: str, *, create: bool = True, read_only: bool = False) -> Engine:
    """`hide_parameters`: SQL logging (KETAMON_LOG=DEBUG) and database error messages
    must never carry the values bound to a statement: they are patient data. Result
    rows are logged at DEBUG, so SQLAlchemy's engine logger stays at WARNING unless
    someone set its level on purpose (INFO shows statements, values still hidden)."""
    sql_log = logging.getLogger("sqlalchemy.engine")
    if sql_log.level == logging.NOTSET:
        sql_log.setLevel(logging.WARNING)
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and read_only:
        path = Path(u.database or "")
        _check_readable_sqlite_file(path)
        # SQLite's read-only mode: nothing (not even the WAL set-up) is written to the file
        engine = create_engine(f"sqlite:///file:{path.resolve().as_posix()}?mode=ro&uri=true",
                               connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_read_only(dbapi_conn, _record):
            dbapi_conn.isolation_level = None
            dbapi_conn.execute("PRAGMA busy_timeout=30000")

        @event.listens_for(engine, "begin")
        def _sqlite_begin_read(conn):
            conn.exec_driver_sql("BEGIN")

        return engine
    if read_only:
        return create_engine(url, pool_pre_ping=True, hide_parameters=True,
                             connect_args={"options": "-c default_transaction_read_only=on"})
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            _check_sqlite_file(Path(u.database))
            if not create and not Path(u.database).exists():
                raise NoDatabase(u.database)  # before SQLite (or a mkdir) makes one
            _create_private_file(Path(u.database))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below rule
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Reads (Store.read) take no write lock, so a screen refresh never waits
            # behind another workstation's write; writes take it up front.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def lock_key(name: str) -> int:
    """A PostgreSQL advisory-lock key for one of ketamon's one-at-a-time steps."""
    return zlib.crc32(f"ketamon:{name}".encode())


def exclusive(db, name: str) -> None:
    """Until this transaction ends, no other workstation passes `exclusive(…, name)`:
    for a check-then-create that has no row to lock yet (the first administrator).
    PostgreSQL: a transaction-level advisory lock; SQLite: nothing to do, a write
    transaction already holds the whole file (BEGIN IMMEDIATE)."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(name)})


def ids_in(db: DbSession, column, ids) -> object:
    """`column IN ids` for a list of ids read before (a page of the Records list:
    hundreds). On PostgreSQL one array parameter (`= ANY(%s)`): as an IN list each
    id is a parameter that SQLAlchemy renders and psycopg parses again per query
    (2,000 of them made a tenth of a Records search); elsewhere the IN list."""
    from sqlalchemy import ARRAY, any_, bindparam

    ids = list(ids)
    if db.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, ids, type_=ARRAY(column.type)))
    return column.in_(ids)


def _revision(conn: Connection) -> str | None:
    from sqlalchemy import inspect

    inspector = inspect(conn)
    if not inspector.has_table("alembic_version"):
        if inspector.get_table_names():
            raise UnusableDatabase(NOT_KETAMON)
        return None
    versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(versions) != 1:
        return ",".join(sorted(versions)) or None
    return versions[0]


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database says it is at; None for a new (empty)
    database. Reads one row; never imports Alembic. Someone else's database (tables
    but no ketamon version) is refused: ketamon must not add its tables to it."""
    with engine.connect() as conn:
        return _revision(conn)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (run on every start).

    A warm start, the database already at `ketamon.migrations.HEAD`, is one query;
    Alembic is imported only for a new database or an upgrade. A database made by
    a newer ketamon (a revision this code does not know) is refused, never touched."""
    from ketamon.migrations import HEAD

    if schema_revision(engine) == HEAD:
        return
    with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            # Another workstation starting at the same moment waits here, and then
            # finds the schema it made (the revision is read again below).
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key("migrate")})
            conn.commit()
        try:
            _upgrade(conn, HEAD)
        finally:
            if postgres:
                try:
                    conn.rollback()
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key("migrate")})
                    conn.commit()
                except DBAPIError:
                    conn.invalidate()  # closing the connection releases the lock


def _upgrade(conn: Connection, head: str) -> None:
    """Read the revision and upgrade in one write transaction, so that a workstation
    that waited for another's upgrade (PostgreSQL: the advisory lock; SQLite: BEGIN
    IMMEDIATE) finds the schema ready and does nothing."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with conn.begin():
        current = _revision(conn)
        if current == head:
            return
        if current is not None:
            try:
                for revision in current.split(","):
                    if ScriptDirectory.from_config(cfg).get_revision(revision) is None:
                        raise CommandError(revision)
            except CommandError:
                raise UnusableDatabase(f"it was made by a newer version of ketamon (schema {current}): update "
                                       "ketamon to open it") from None
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """One database plus the clock and protocols operations run against."""

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        protocols: ProtocolRegistry | None = None,
        run_migrations: bool = True,
        create: bool = True,
        read_only: bool = False,
    ):
        """`create=False` (commands that only read or add to a clinic's database):
        a missing SQLite file, or a database without ketamon's tables, raises
        NoDatabase and nothing is created, neither file nor folder. `read_only`:
        open for reading only (`ketamon audit verify` on a copy or a file without
        write access): no migration, nothing written; a database not at this
        ketamon's schema is refused."""
        self.url = normalise_url(url or default_url(create=create and not read_only))
        self._sidecars: list[Path] = []
        u = make_url(self.url)
        if read_only and u.get_backend_name() == "sqlite" and u.database:
            # SQLite leaves an empty -wal and a -shm beside a WAL file it read read-only: removed on dispose
            self._sidecars = [p for p in (Path(u.database + "-wal"), Path(u.database + "-shm")) if not p.exists()]
        self.engine = make_engine(self.url, create=create, read_only=read_only)
        if read_only:
            self._check_schema_for_reading()
        elif run_migrations:
            try:
                if not create and schema_revision(self.engine) is None:
                    u = make_url(self.url)
                    raise NoDatabase(u.database if u.get_backend_name() == "sqlite" else
                                     u.render_as_string(hide_password=True))
                migrate(self.engine)
            except DBAPIError as exc:
                self.engine.dispose()
                if self.engine.dialect.name != "sqlite":
                    raise
                raise UnusableDatabase(f"it is not a ketamon database, or it is damaged ({exc.orig})") from exc
            except BaseException:
                self.engine.dispose()
                raise
        self.clock: Clock = clock or SystemClock()
        self.protocols = protocols or default_registry()
        #: the workstation this store's operations are announced from (OpChanges.origin);
        #: two windows in one process (a test) may set two
        self.origin = this_workstation()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # every clinical row a transaction writes is listed in the audit trail
        from ketamon.core import audit

        audit.track(self._sessions, lambda: self.clock.now())
        self._read_sessions = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}),
                                           expire_on_commit=False)

    def _check_schema_for_reading(self) -> None:
        from ketamon.migrations import HEAD

        try:
            current = schema_revision(self.engine)
        except DBAPIError as exc:
            self.engine.dispose()
            raise UnusableDatabase(f"it is not a ketamon database, or it is damaged ({exc.orig})") from None
        except BaseException:
            self.engine.dispose()
            raise
        if current != HEAD:
            self.dispose()
            if current is None:
                raise UnusableDatabase("it holds no ketamon database (no tables)")
            if not any((MIGRATIONS_DIR / "versions").glob(f"{current}_*.py")):
                raise UnusableDatabase(f"it was made by a newer version of ketamon (schema {current}): update "
                                       "ketamon to open it")
            raise UnusableDatabase(f"it is at schema {current}, and this ketamon reads schema {HEAD} only when "
                                   "read-only (open it once with this ketamon to upgrade it, then copy it)")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[DbSession]:
        """One unit of work: committed (durably) on success, rolled back on error."""
        db = self._sessions()
        try:
            with db.begin():
                yield db
        finally:
            db.close()

    @contextmanager
    def read(self) -> Iterator[DbSession]:
        """A session for queries; objects stay usable after it closes. Never write
        through it: on SQLite it does not hold the write lock."""
        db = self._read_sessions()
        try:
            yield db
        finally:
            db.close()

    def dispose(self) -> None:
        self.engine.dispose()
        wal = next((p for p in self._sidecars if p.name.endswith("-wal")), None)
        if wal is not None and wal.exists() and wal.stat().st_size == 0:
            for p in self._sidecars:
                p.unlink(missing_ok=True)
