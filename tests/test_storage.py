"""The same storage code proven on SQLite and PostgreSQL."""
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from ketamon.core import audit, ops
from ketamon.core.chart import load_chart
from ketamon.core.models import Base
from tests.conftest import add_user


@pytest.fixture
def chart_nurse(any_store):
    return add_user(any_store, "nurse", "nurse")


def _session(store, nurse):
    pid = ops.create_patient(store, nurse, mrn="S-1", family_name="Store", given_name="Test",
                             birth_date=date(1970, 5, 5), sex="female", weight_kg=70).result
    return ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="L1").result


def test_times_go_in_and_come_out_as_the_same_utc_instant(any_store, chart_nurse, clock):
    sid = _session(any_store, chart_nurse)
    measured = datetime(2026, 11, 20, 8, 45, 30, tzinfo=timezone(timedelta(hours=-5)))  # 13:45:30 UTC
    clock.set(datetime(2026, 11, 20, 14, 0, tzinfo=timezone.utc))
    ops.record_vitals(any_store, chart_nurse, sid, systolic=120, diastolic=80, measured_at=measured)
    (v,) = load_chart(any_store, sid).vitals
    assert v.measured_at == datetime(2026, 11, 20, 13, 45, 30, tzinfo=timezone.utc)
    assert v.measured_at.tzinfo is not None and v.late


def test_a_refused_entry_leaves_nothing_behind(any_store, chart_nurse):
    sid = _session(any_store, chart_nurse)
    with pytest.raises(Exception):
        ops.record_vitals(any_store, chart_nurse, sid, spo2=140)
    assert load_chart(any_store, sid).vitals == []
    with any_store.read() as db:
        assert audit.verify(db).ok


def test_schema_matches_the_models(any_store):
    """Migrations and models never drift apart (would break an upgrade)."""
    with any_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_concurrent_writers_keep_one_audit_chain(any_store, chart_nurse):
    """Two workstations charting at once must not fork the hash chain."""
    sid = _session(any_store, chart_nurse)
    errors = []

    def chart(offset):
        try:
            for i in range(10):
                ops.record_vitals(any_store, chart_nurse, sid, heart_rate=60 + offset + i)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=chart, args=(k * 20,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(load_chart(any_store, sid).vitals) == 20
    with any_store.read() as db:
        result = audit.verify(db)
    assert result.ok, result.problem


def test_sqlite_is_durable_by_configuration(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.postgres
def test_postgres_stores_utc(pg_store):
    with pg_store.engine.connect() as conn:
        assert conn.execute(text("select 1")).scalar() == 1
    assert pg_store.dialect == "postgresql"


def test_a_screen_can_read_while_another_workstation_writes(store, nurse, esketamine_session):
    """Reads take no write lock: a refresh is not blocked by an open write elsewhere
    (before, it waited for the busy timeout and failed with "database is locked")."""
    import sqlite3
    import time

    ops.record_vitals(store, nurse, esketamine_session, heart_rate=70)
    other = sqlite3.connect(store.engine.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another workstation in the middle of a write
    try:
        t0 = time.monotonic()
        assert [v.heart_rate for v in load_chart(store, esketamine_session, fresh=True).vitals] == [70]
        assert time.monotonic() - t0 < 5
    finally:
        other.execute("ROLLBACK")
        other.close()


# --- files ketamon must not open: one sentence, non-zero exit, the file untouched -----------------

def _verify_in_a_subprocess(db, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "KETAMON_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "ketamon", "audit", "verify", "--db", str(db)], env=env,
                          capture_output=True, text=True, timeout=120)


def _files_beside(db):
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name))


def _assert_refused(db, tmp_path, reason: str) -> None:
    before = db.read_bytes()
    out = _verify_in_a_subprocess(db, tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.strip() == f"cannot open the database {db}: {reason}"
    assert db.read_bytes() == before
    assert _files_beside(db) == [db.name]  # no -wal / -shm left behind either


def test_an_empty_file_is_not_turned_into_a_new_clinic_database(tmp_path):
    db = tmp_path / "clinic.sqlite3"
    db.touch()
    _assert_refused(db, tmp_path, "it is an empty file, not a ketamon database (remove it to start a new clinic "
                                  "database there)")


def test_a_damaged_file_is_refused(tmp_path):
    db = tmp_path / "clinic.sqlite3"
    db.write_bytes(b"this is a spreadsheet, not a database\n" * 200)
    _assert_refused(db, tmp_path, "it is not a ketamon database, or it is damaged (file is not a database)")


def test_a_database_from_a_newer_ketamon_is_refused(sqlite_template, tmp_path):
    import shutil
    import sqlite3
    from contextlib import closing

    db = tmp_path / "clinic.sqlite3"
    shutil.copy(sqlite_template, db)
    with closing(sqlite3.connect(db)) as other, other:
        other.execute("UPDATE alembic_version SET version_num = 'aaaabbbbcccc'")
    _assert_refused(db, tmp_path, "it was made by a newer version of ketamon (schema aaaabbbbcccc): update "
                                  "ketamon to open it")


def test_a_read_only_file_is_refused(sqlite_template, tmp_path):
    """chmod does not stop root, so as root the file is made immutable instead."""
    import os
    import shutil
    import subprocess

    db = tmp_path / "clinic.sqlite3"
    shutil.copy(sqlite_template, db)
    db.chmod(0o444)
    immutable = False
    if os.geteuid() == 0:
        immutable = subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode == 0
        if not immutable:
            pytest.skip("running as root where chattr is unavailable: no file can be read-only")
    try:
        from ketamon.core.store import Store, UnusableDatabase  # audit verify now reads read-only files

        with pytest.raises(UnusableDatabase, match=r"^the file is read-only, and ketamon must be able to write to "
                                                   r"its database \(copy it somewhere writable or fix its"):
            Store(str(db))
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(db)], check=True)
        db.chmod(0o644)



def test_someone_elses_database_is_not_given_ketamon_tables(tmp_path):
    import sqlite3
    from contextlib import closing

    db = tmp_path / "clinic.sqlite3"
    with closing(sqlite3.connect(db)) as other, other:
        other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    _assert_refused(db, tmp_path, "it is not a ketamon database (it holds other tables and no ketamon schema "
                                  "version)")
