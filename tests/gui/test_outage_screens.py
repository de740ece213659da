"""The clinic database going away while a workstation shows its screens: every page
(shown, or first built then) and every notice meets the outage without an error
reaching Qt's event loop; each keeps what it showed, the banner says the database
cannot be reached, and once it answers every screen shows what happened meanwhile."""
from __future__ import annotations

from datetime import date

import pytest
import shiboken6
from PySide6.QtCore import QObject

from ketamon.core import ops
from ketamon.core.changes import OpChanges
from ketamon.core.live import UNREACHABLE, full_refresh
from ketamon.core.store import Store
from ketamon.gui.runner import screen_read
from tests.conftest import add_user
from tests.gui.test_two_workstations import clinic, station_text, workstation  # noqa: F401 (fixture)
from tests.live_helpers import Relay


@pytest.mark.postgres
@pytest.mark.parametrize("role", ["physician", "admin"])
def test_every_page_meets_an_outage_calmly_and_catches_up_when_the_database_answers(
        qtbot, pg_store, pg_database, clinic, clock, role):
    sid = clinic["session"]
    other = ops.create_session(pg_store, clinic["nurse"], patient_id=ops.create_patient(
        pg_store, clinic["nurse"], mrn="MRN-2", family_name="Okoye", given_name="Ada", birth_date=date(1990, 1, 2),
        sex="female", weight_kg=70.0).result, protocol_id="esketamine-56", lot_number="LOT-2",
        physician_id=clinic["physician"].user_id).result
    actor = clinic["physician"] if role == "physician" else add_user(pg_store, "it", "admin", "Clinic IT")
    relay = Relay()
    store = Store(relay.url(pg_database), clock=clock, run_migrations=False)
    store.origin = "office:test"
    try:
        w = workstation(qtbot, store, actor, sid)
        pages = [i for i in range(w.tabs.count()) if w.tabs.isTabVisible(i)]
        first = pages[: len(pages) // 2]  # built before the outage; the others are first shown during it
        for i in first:
            w.tabs.setCurrentIndex(i)
            qtbot.wait(50)
        relay.cut()
        qtbot.waitUntil(lambda: w.live.banner.isVisible(), timeout=10_000)
        # meanwhile, elsewhere in the clinic: a high blood pressure at the chair (an
        # alert), and a new colleague's account
        ops.record_vitals(pg_store, clinic["nurse"], sid, systolic=186, diastolic=92, heart_rate=77)
        ops.add_user(pg_store, actor if role == "admin" else add_user(pg_store, "it", "admin"),
                     username="kim", display_name="Kim Park RN", role="nurse", password="a-long-pass-2026")
        for i in pages:
            w.tabs.setCurrentIndex(i)
            w.runner.receive(full_refresh(None, origin="chair-1:test"))  # a notice that reached us late
            qtbot.wait(50)
            assert w.live.banner.text() == UNREACHABLE
        assert not w.runner.reachable
        assert w.sessions.texts(), "the today list kept its rows"
        assert w.open_session(other) is None  # chosen during the outage: it says so, nothing half-built stays
        assert "database cannot be reached" in w.status_message.text()
        assert other not in w.charts
        qtbot.waitUntil(lambda: [c for c in w.chart_stack.findChildren(type(w.charts[sid]))
                                 if c is not w.spare_chart.waiting] == [w.charts[sid]], timeout=2000)

        relay.restore()
        qtbot.waitUntil(lambda: not w.live.banner.isVisible(), timeout=20_000)
        if role == "physician":
            w.show_page(w.review_queue)
            qtbot.waitUntil(lambda: w.review_queue.table.rowCount() >= 1, timeout=5000)  # none before
            w.show_page(w.central_station)
            qtbot.waitUntil(lambda: "BP 186/92" in station_text(w, sid), timeout=5000)
        else:
            w.show_page(w.users_page)
            table = w.users_page.table
            qtbot.waitUntil(lambda: "kim" in [table.item(r, 0).text() for r in range(table.rowCount())],
                            timeout=5000)
        w.show_page(w.records_page)  # first shown, or shown again, during the outage: filled now
        qtbot.waitUntil(lambda: any("NGUYEN, Lan" in row for row in w.records_page.texts()), timeout=5000)
        w.open_session(sid)
        qtbot.waitUntil(lambda: w.charts[sid].plot.series("systolic")[1] == [186.0], timeout=5000)
        assert w.open_session(other) is w.current_chart() is w.charts[other]
    finally:
        relay.close()
        store.dispose()


def _gone():
    import psycopg
    from sqlalchemy.exc import OperationalError

    return OperationalError("SELECT …", {}, psycopg.OperationalError("connection refused"))


class Screen(QObject):
    """A screen whose reads fail while `down` (a QObject, as every screen is)."""

    def __init__(self, runner):
        super().__init__()
        self.runner, self.down, self.shown = runner, True, []

    @screen_read
    def on_changed(self, changes):
        if self.down:
            raise _gone()
        self.shown.append(changes)
        return "shown"


def test_a_read_that_meets_an_unreachable_database_is_done_once_when_it_answers_with_every_notice_it_missed(
        qtbot, runner):
    screen, closed = Screen(runner), Screen(runner)
    missed = [OpChanges(sessions={1}).mark(vitals=True), OpChanges(sessions={2}).mark(doses=True)]
    for changes in missed:
        assert screen.on_changed(changes) is None  # kept what it showed: nothing raised
        closed.on_changed(changes)
    assert not runner.reachable
    closed.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(closed), timeout=2000)
    screen.down = False
    runner.set_reachable(True)
    qtbot.waitUntil(lambda: screen.shown != [], timeout=2000)
    qtbot.wait(20)
    assert len(screen.shown) == 1  # once, not once per notice
    assert screen.shown[0].sessions == {1, 2} and screen.shown[0].vitals and screen.shown[0].doses
    assert missed[0].sessions == {1} and not missed[0].doses  # the notices every screen was handed are untouched


def test_a_read_that_fails_for_another_reason_is_not_hidden_as_an_outage(runner):
    class Broken(QObject):
        def __init__(self):
            super().__init__()
            self.runner = runner

        @screen_read
        def reload(self):
            raise ValueError("a fault in ketamon")

    with pytest.raises(ValueError):
        Broken().reload()
    assert runner.reachable
