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
