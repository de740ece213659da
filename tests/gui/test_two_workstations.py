"""Two workstations on one PostgreSQL database (and on one SQLite file), live: what a nurse enters at one
appears in the other's chart and central station (from a window in this process
and from another process); a conflict says who did it first and when, and keeps
what was typed; the database going away and coming back loses nothing."""
from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt

from ketamon.core import ops
from ketamon.core.live import UNREACHABLE
from ketamon.core.store import Store
from ketamon.gui.app import build_window
from ketamon.gui.runner import PENDING
from tests.conftest import add_user
from tests.live_helpers import Relay, Writer
from tests.record_helpers import TEST_PASSWORD

@pytest.fixture
def clinic(pg_store):
    """Two nurses and a physician, and one session with its physician."""
    from datetime import date

    people = {"nurse": add_user(pg_store, "nurse", "nurse", "Sam Carter RN"),
              "nurse2": add_user(pg_store, "ada", "nurse", "Ada Lovelace RN"),
              "physician": add_user(pg_store, "doctor", "physician", "Dr Priya Shah"),
              "physician2": add_user(pg_store, "okafor", "physician", "Dr Ada Okafor")}
    patient = ops.create_patient(pg_store, people["nurse"], mrn="MRN-1", family_name="Nguyen", given_name="Lan",
                                 birth_date=date(1984, 3, 12), sex="female", weight_kg=61.0).result
    people["session"] = ops.create_session(pg_store, people["nurse"], patient_id=patient,
                                           protocol_id="esketamine-56", lot_number="LOT-1",
                                           physician_id=people["physician"].user_id).result
    return people


@pytest.fixture
def second_store(pg_database, clock):
    """The other workstation's own store (its own connections and origin)."""
    s = Store(pg_database, clock=clock, run_migrations=False)
    s.origin = "chair-2:test"
    yield s
    s.dispose()


def workstation(qtbot, store, actor, session_id):
    window = build_window(store, actor, session_id, idle_lock=False)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    qtbot.waitExposed(window)
    assert window.live.listener.wait_ready()
    return window


def type_vitals(qtbot, chart, **values) -> None:
    for name, value in values.items():
        field = chart.vitals_row.fields[name]
        field.setFocus()
        qtbot.keyClicks(field, str(value))


def press_enter(qtbot, chart) -> None:
    qtbot.keyClick(chart.vitals_row.fields["systolic"], Qt.Key.Key_Return)


def station_text(window, session_id) -> str:
    view = next((v for v in window.central_station.visible_tiles() if v.tile.session_id == session_id), None)
    return "" if view is None else view.vitals.text()


@pytest.mark.postgres
def test_an_entry_at_one_workstation_appears_in_the_others_chart_and_central_station(
        qtbot, pg_store, second_store, clinic):
    sid = clinic["session"]
    a = workstation(qtbot, pg_store, clinic["nurse"], sid)
    b = workstation(qtbot, second_store, clinic["nurse2"], sid)
    b.show_page(b.central_station)
    qtbot.waitUntil(lambda: "No vital signs yet" in station_text(b, sid), timeout=10_000)

    chart_a, chart_b = a.current_chart(), b.charts[sid]
    type_vitals(qtbot, chart_a, systolic=132, diastolic=84, heart_rate=76)
    press_enter(qtbot, chart_a)
    saved = time.monotonic()
    assert chart_a.plot.series("systolic")[1] == [132.0]
    qtbot.waitUntil(lambda: "BP 132/84" in station_text(b, sid), timeout=5000)
    assert time.monotonic() - saved < 1.0, "the other workstation's central station shows it within a second"
    b.open_session(sid)  # the chart page (a hidden page catches up when shown)
    qtbot.waitUntil(lambda: chart_b.plot.series("systolic")[1] == [132.0], timeout=5000)

    # and from another process, while B shows the chart
    writer = Writer(pg_store.url, clinic["nurse"].user_id, "record_vitals", sid, systolic=141, diastolic=88)
    _origin, committed = writer.go()
    qtbot.waitUntil(lambda: 141.0 in chart_b.plot.series("systolic")[1], timeout=5000)
    assert time.time() - committed < 1.0, "another process's entry is in this chart within a second"
    writer.finish()
    qtbot.waitUntil(lambda: 141.0 in chart_a.plot.series("systolic")[1], timeout=5000)
    b.show_page(b.central_station)
    qtbot.waitUntil(lambda: "BP 141/88" in station_text(b, sid), timeout=5000)


@pytest.mark.postgres
def test_a_change_refused_because_another_workstation_was_first_says_who_and_when_and_keeps_the_values(
        qtbot, pg_store, second_store, clinic, clock):
    from record_helpers import to_discharged

    from ketamon.core.record import local_hm

    sid = clinic["session"]
    b = workstation(qtbot, second_store, clinic["nurse2"], sid)
    chart_b = b.charts[sid]
    type_vitals(qtbot, chart_b, systolic=118, diastolic=76)
    # meanwhile, in the physician's office: discharged and signed
    to_discharged(pg_store, clinic["nurse"], sid, clock)
    clock.advance(minutes=10)
    ops.sign_session(pg_store, clinic["physician"], sid, TEST_PASSWORD)
    signed_at = local_hm(clock.now())
    chart_b.vitals_row.save()  # Enter, before this window has heard of it
    refusal = chart_b.vitals_row.message.text()
    assert f"Signed by Dr Priya Shah at {signed_at}" in refusal
    assert chart_b.vitals_row.fields["systolic"].text() == "118"  # what was typed is kept
    assert 118.0 not in chart_b.plot.series("systolic")[1]  # and nothing is shown as saved
    qtbot.waitUntil(lambda: chart_b.chart.session.state == "signed", timeout=5000)  # the screen caught up
    assert chart_b.vitals_row.fields["systolic"].text() == "118"


@pytest.mark.postgres
def test_the_review_queue_updates_live_and_a_second_review_says_who_reviewed_first_and_when(
        qtbot, pg_store, second_store, clinic):
    from ketamon.core.record import local_hm

    sid = clinic["session"]
    a = workstation(qtbot, pg_store, clinic["nurse"], sid)
    office = workstation(qtbot, second_store, clinic["physician"], sid)
    office.show_page(office.review_queue)
    queue = office.review_queue
    assert queue.table.rowCount() == 0
    chart_a = a.current_chart()
    type_vitals(qtbot, chart_a, systolic=186, diastolic=92)
    press_enter(qtbot, chart_a)
    saved = time.monotonic()
    qtbot.waitUntil(lambda: queue.table.rowCount() >= 1, timeout=5000)  # raised at the chair, listed here
    assert time.monotonic() - saved < 1.0, "the physician's queue lists it within a second"
    queue.table.selectRow(0)
    queue.comment.setFocus()
    qtbot.keyClicks(queue.comment, "Repeat BP in 5 min")
    alert_id = queue.selected_ids()[0]
    ops.review_alert(pg_store, clinic["physician2"], alert_id, "seen from the other office")
    reviewed_at = local_hm(pg_store.clock.now())
    queue.review()  # the Review button, before this window heard of the other review
    assert f"already reviewed by Dr Ada Okafor at {reviewed_at}" in queue.message.text()
    assert queue.comment.toPlainText() == "Repeat BP in 5 min"  # kept, to act again if needed
    # the queue catches up: the alert is reviewed (out of the unreviewed list, or shown reviewed)
    qtbot.waitUntil(lambda: all(r.id != alert_id or r.reviewed_at is not None for r in queue.rows), timeout=5000)


@pytest.mark.postgres
def test_the_database_going_away_and_coming_back_loses_nothing(qtbot, pg_store, pg_database, clinic, clock):
    relay = Relay()
    store = Store(relay.url(pg_database), clock=clock, run_migrations=False)
    store.origin = "chair-3:test"
    try:
        sid = clinic["session"]
        w = workstation(qtbot, store, clinic["nurse2"], sid)
        chart = w.charts[sid]
        relay.cut()
        qtbot.waitUntil(lambda: w.live.banner.isVisible(), timeout=10_000)
        assert w.live.banner.text() == UNREACHABLE
        type_vitals(qtbot, chart, systolic=128, diastolic=82)
        press_enter(qtbot, chart)
        assert chart.vitals_row.message.text() == PENDING  # kept, to be sent when the database answers
        assert chart.vitals_row.fields["systolic"].text() == "128"  # kept
        assert chart.plot.series("systolic")[1] == []  # never shown as saved
        # another workstation charts while this one is cut off
        ops.record_vitals(pg_store, clinic["nurse"], sid, systolic=150, diastolic=90)

        relay.restore()
        qtbot.waitUntil(lambda: not w.live.banner.isVisible(), timeout=20_000)
        # caught up, and the kept set sent by itself (tests/gui/test_resend.py)
        qtbot.waitUntil(lambda: sorted(chart.plot.series("systolic")[1]) == [128.0, 150.0], timeout=5000)
        press_enter(qtbot, chart)  # the nurse presses Enter again on the cleared row: nothing more
        assert sorted(chart.plot.series("systolic")[1]) == [128.0, 150.0]
        assert w.runner.reachable
    finally:
        relay.close()
        store.dispose()


@pytest.mark.postgres
def test_a_refused_operation_makes_the_workstation_try_the_database_again_until_it_answers(
        qtbot, pg_database, clinic, clock):
    from ketamon.gui.live_bridge import LiveBridge
    from ketamon.gui.runner import OpRunner

    relay = Relay()
    store = Store(relay.url(pg_database), clock=clock, run_migrations=False)
    runner = OpRunner(store, clinic["nurse"])
    bridge = LiveBridge(runner)  # its listener not started: only the retry after the refusal is at work
    try:
        relay.cut()
        assert runner.run(ops.add_note, clinic["session"], "typed during the outage") is None
        assert runner.last_refusal == UNREACHABLE and not runner.reachable
        assert bridge.banner.text() == UNREACHABLE and not bridge.banner.isHidden()
        relay.restore()
        qtbot.waitUntil(lambda: runner.reachable, timeout=15_000)
        assert bridge.banner.isHidden()
        assert runner.run(ops.add_note, clinic["session"], "typed during the outage") is not None
    finally:
        bridge.stop()
        bridge.banner.deleteLater()  # not in a status bar here
        bridge.deleteLater()
        runner.deleteLater()
        relay.close()
        store.dispose()


def test_two_workstations_on_one_sqlite_file_see_each_others_entries(qtbot, store, sqlite_url, clock, nurse,
                                                                     esketamine_session):
    """The embedded default: other processes (here, another store) on one computer's file."""
    other = Store(sqlite_url, clock=clock, run_migrations=False)
    other.origin = "chair-2:test"
    try:
        a = workstation(qtbot, store, nurse, esketamine_session)
        b = workstation(qtbot, other, nurse, esketamine_session)
        chart_a, chart_b = a.charts[esketamine_session], b.charts[esketamine_session]
        type_vitals(qtbot, chart_a, systolic=126, diastolic=78)
        press_enter(qtbot, chart_a)
        qtbot.waitUntil(lambda: chart_b.plot.series("systolic")[1] == [126.0], timeout=5000)
        b.show_page(b.central_station)
        qtbot.waitUntil(lambda: "BP 126/78" in station_text(b, esketamine_session), timeout=5000)
    finally:
        other.dispose()
