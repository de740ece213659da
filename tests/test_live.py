"""Live notices between workstations (ketamon.core.live): a change committed by one
process reaches another's listener within a second, as the same typed notice; a
refused change sends nothing; the listener survives the database connection being
cut and then refreshes everything, so nothing changed meanwhile is missed."""
from __future__ import annotations

import json
import queue
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from ketamon.core import live, ops
from ketamon.core.changes import FLAGS, OpChanges
from ketamon.core.errors import ValidationError
from tests.live_helpers import Writer

def heard(notices: queue.Queue, timeout: float = 10) -> OpChanges:
    return notices.get(timeout=timeout)


@pytest.fixture
def chair(any_store):
    """A nurse and an open session on the store's database (SQLite or PostgreSQL)."""
    return open_chair(any_store)


def open_chair(store):
    from datetime import date

    from tests.conftest import add_user

    nurse = add_user(store, "nurse", "nurse", "Sam Carter RN")
    patient = ops.create_patient(store, nurse, mrn="MRN-9", family_name="Nguyen", given_name="Lan",
                                 birth_date=date(1984, 3, 12), sex="female", weight_kg=61.0).result
    session_id = ops.create_session(store, nurse, patient_id=patient, protocol_id="esketamine-56",
                                    lot_number="LOT-1").result
    return nurse, session_id


@pytest.fixture
def listening(any_store):
    """A listener on the store's database; yields the queue it fills."""
    notices: queue.Queue = queue.Queue()
    listener = live.Listener(any_store, notices.put).start()
    assert listener.wait_ready()
    yield notices
    listener.stop()


def test_a_change_in_another_process_reaches_the_listener_within_a_second(any_store, chair, listening):
    nurse, esketamine_session = chair
    writer = Writer(any_store.url, nurse.user_id, "add_note", esketamine_session, "charted at the other chair")
    origin, committed = writer.go()
    notice = heard(listening)
    arrived = time.time()
    writer.finish()
    assert notice.origin == origin != any_store.origin  # the other workstation's, told apart
    assert notice.notes and notice.sessions == {esketamine_session}
    assert arrived - committed < 1.0


def test_a_refused_change_sends_no_notice(any_store, chair, listening):
    nurse, esketamine_session = chair
    with pytest.raises(ValidationError):
        ops.record_vitals(any_store, nurse, esketamine_session, systolic=900)
    ops.add_note(any_store, nurse, esketamine_session, "after the refused one")
    first = heard(listening)
    assert first.flags == {"notes"}  # the refused vital signs never announced themselves
    assert first.origin == any_store.origin


def test_the_notice_is_compact_and_falls_back_to_refresh_everything_when_too_long(store, esketamine_session):
    big = OpChanges(vitals=True, sessions=set(range(1, 3000)))
    notice = live.payload(big, "nurse")
    assert len(notice.encode()) < 8000
    changes = live.parse(notice, store)
    assert changes.flags == set(FLAGS) and esketamine_session in changes.sessions
    small = live.parse(live.payload(OpChanges(alerts=True, sessions={7}, origin="chair-2:11"), "nurse"))
    assert (small.flags, small.sessions, small.origin) == ({"alerts"}, {7}, "chair-2:11")


def test_sqlite_notices_are_pruned_and_a_reader_that_missed_some_refreshes_everything(store, nurse,
                                                                                      esketamine_session,
                                                                                      monkeypatch):
    monkeypatch.setattr(live, "KEEP", 5)
    with store.read() as db:
        start = db.execute(text("SELECT coalesce(max(id), 0) FROM change_log")).scalar()
    for i in range(100 - start % 100):
        ops.add_note(store, nurse, esketamine_session, f"note {i}")
    with store.read() as db:
        ids = db.execute(text("SELECT id FROM change_log ORDER BY id")).scalars().all()
    assert len(ids) <= live.KEEP and ids[-1] % 100 == 0  # pruned as it was written
    notices: list[OpChanges] = []
    import sqlite3

    reader = live.Listener(store, notices.append)
    con = sqlite3.connect(store.engine.url.database)
    assert reader._read_sqlite(con, start) == ids[-1]
    con.close()
    assert len(notices) == 1 and notices[0].flags == set(FLAGS) and esketamine_session in notices[0].sessions


@pytest.mark.postgres
def test_the_listener_reconnects_after_its_connection_is_cut_and_catches_up(pg_store):
    actor, session_id = open_chair(pg_store)
    notices: queue.Queue = queue.Queue()
    statuses: queue.Queue = queue.Queue()
    listener = live.Listener(pg_store, notices.put, lambda ok, _s: statuses.put(ok)).start()
    try:
        assert listener.wait_ready()
        with pg_store.engine.connect() as c:  # every connection to the database, the app's pool too
            names = c.execute(text("SELECT application_name FROM pg_stat_activity WHERE datname = "
                                   "current_database() AND pid <> pg_backend_pid()")).scalars().all()
            cut = c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalars().all()
        assert live.APPLICATION_NAME in names and cut and all(cut)
        assert statuses.get(timeout=10) is False
        ops.add_note(pg_store, actor, session_id, "charted while the listener was away")  # not itemised
        assert statuses.get(timeout=15) is True
        caught_up = heard(notices, 15)
        while caught_up.origin != live.LISTENER_ORIGIN:  # the note's own notice may arrive first
            caught_up = heard(notices, 15)
        assert caught_up.flags == set(FLAGS) and session_id in caught_up.sessions
        ops.add_note(pg_store, actor, session_id, "and after it came back")
        assert heard(notices).notes
    finally:
        listener.stop()


def test_watch_prints_each_notice_as_a_json_line(any_store, chair):
    nurse, esketamine_session = chair
    watch = subprocess.Popen([sys.executable, "-m", "ketamon", "--db", any_store.url, "watch", "--count", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watch.stderr.readline().startswith("watching ")
        ops.add_note(any_store, nurse, esketamine_session, "seen by the integration")
        line = json.loads(watch.stdout.readline())
        assert watch.wait(timeout=30) == 0
    finally:
        watch.kill()
    assert line["flags"] == ["notes"] and line["sessions"] == [esketamine_session]
    assert line["origin"] == any_store.origin and line["at"].endswith("Z")


@pytest.mark.postgres
def test_a_notice_too_long_for_notify_arrives_as_refresh_everything(pg_store):
    actor, session_id = open_chair(pg_store)
    notices: queue.Queue = queue.Queue()
    listener = live.Listener(pg_store, notices.put).start()
    try:
        assert listener.wait_ready()
        with pg_store.transaction() as db:  # an operation touching thousands of sessions
            live.publish(db, OpChanges(alerts=True, sessions=set(range(1, 5000))), at=pg_store.clock.now())
        notice = heard(notices)
        assert notice.flags == set(FLAGS) and session_id in notice.sessions
    finally:
        listener.stop()
