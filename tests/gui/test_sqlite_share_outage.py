"""A clinic's SQLite file on a network share that goes away and comes back: an
entry typed meanwhile is kept ("not saved; retrying"), the database is tried again
until the file answers, and the entry is then saved once — as on PostgreSQL."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from ketamon.core import ops
from ketamon.core.errors import DatabaseUnreachable
from ketamon.core.live import is_unreachable, ping
from ketamon.core.models import VitalSigns
from ketamon.core.store import Store
from ketamon.gui.runner import PENDING, OpRunner


@pytest.fixture
def share(tmp_path, clock, actors, patient_id, esketamine_session, store):
    """The test clinic, copied onto a "share" (a folder) and opened from there."""
    folder = tmp_path / "share"
    folder.mkdir()
    path = folder / "clinic.sqlite3"
    with sqlite3.connect(store.url.removeprefix("sqlite:///")) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    on_share = Store(f"sqlite:///{path}", clock=clock)
    yield on_share, folder
    if not folder.exists():
        (tmp_path / "gone").rename(folder)
    on_share.dispose()


def go_away(store: Store, folder) -> None:
    """The share disappears: its folder is gone, and so are the open connections."""
    folder.rename(folder.parent / "gone")
    store.engine.dispose()


def come_back(store: Store, folder) -> None:
    (folder.parent / "gone").rename(folder)


def sets(store: Store, session_id: int) -> int:
    with store.read() as db:
        return db.scalar(select(func.count()).select_from(VitalSigns).where(VitalSigns.session_id == session_id))


def test_sqlite_errors_that_mean_the_file_is_gone_are_told_from_refusals_and_faults(share, nurse,
                                                                                   esketamine_session):
    store, folder = share
    go_away(store, folder)
    with pytest.raises(OperationalError) as gone:
        ping(store)
    assert gone.value.orig.sqlite_errorname == "SQLITE_CANTOPEN" and is_unreachable(gone.value)
    come_back(store, folder)
    ping(store)
    # a fault of the statement, and a file another writer holds, are not "unreachable"
    for code, text in ((1, "no such table: nothing"), (5, "database is locked")):
        err = sqlite3.OperationalError(text)
        err.sqlite_errorcode = code
        assert not is_unreachable(OperationalError("SELECT 1", {}, err))
    io_error = sqlite3.OperationalError("disk I/O error")
    io_error.sqlite_errorcode = 10 | (4 << 8)  # SQLITE_IOERR_FSYNC: an extended code
    assert is_unreachable(OperationalError("COMMIT", {}, io_error))


def test_an_entry_typed_while_the_share_is_gone_is_kept_then_saved_once(qtbot, share, nurse, esketamine_session):
    store, folder = share
    runner = OpRunner(store, nurse)
    try:
        before = sets(store, esketamine_session)
        go_away(store, folder)
        with qtbot.waitSignal(runner.connection) as said:
            changes = runner.send(ops.record_vitals, esketamine_session, owner=None, when="measured_at",
                                  systolic=131, diastolic=79, heart_rate=70)
        assert changes is None and runner.last_refusal == PENDING
        assert isinstance(runner.last_error, DatabaseUnreachable)
        assert said.args[0] is False and "kept, not saved" in said.args[1]
        assert len(runner.pending) == 1
        come_back(store, folder)
        with qtbot.waitSignal(runner.settled, timeout=5000) as settled:
            runner.set_reachable(True)  # what the retry does once its ping is answered
        assert settled.args[0].changes is not None and not runner.pending
        assert sets(store, esketamine_session) == before + 1
        with store.read() as db:
            newest = db.scalars(select(VitalSigns).order_by(VitalSigns.id.desc())).first()
        assert (newest.systolic, newest.diastolic, newest.heart_rate) == (131, 79, 70)
    finally:
        runner.deleteLater()

